package main

import (
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
)

// TestScriptingAgainstRealHost runs the example command line
// against a real host: TLS with a pinned certificate, login as root, two
// commands, and a failing one.
func TestScriptingAgainstRealHost(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	pw := writeFile(t, "pw", hosttest.RootPassword+"\n")
	pin := writeFile(t, "cert.pem", string(h.Cert.CertPEM))
	r := runMrcic(t, "", "--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw,
		"-c", "my_info", "-c", "host_info")
	if r.code != 0 || !strings.Contains(r.stdout, "User Name:      root") ||
		!strings.Contains(r.stdout, "Application:    MRCI v2.0.2 64Bit") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runMrcic(t, "", "--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw,
		"-c", "set_user_rank -user nobody -rank 3")
	if r.code != 1 || !strings.Contains(r.stderr, "err: no such user") {
		t.Fatalf("exit %d, stderr %q; want 1 and the host's ERR", r.code, r.stderr)
	}
	bad := writeFile(t, "bad", "Wrong-Pass-123\n")
	if r = runMrcic(t, "", "--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", bad, "-c", "my_info"); r.code != 2 {
		t.Fatalf("wrong password: exit %d, want 2", r.code)
	}
}
