package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client/clienttest"
)

// TestKnownHosts: first use records the certificate, a match is silent, a
// changed certificate is refused loudly (exit 3, no login) until
// --accept-new-cert records the new one; plaintext hosts record nothing and
// claim no trust.
func TestKnownHosts(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
	h := fakeHost(t, clienttest.Config{Reply: wire.ReplyTLS})
	other := fakeHost(t, clienttest.Config{Reply: wire.ReplyTLS})

	r := runMrcic(t, "", "--addr", h.Addr, "--known-hosts", kh, "-c", "echo first")
	if r.code != 0 || r.stdout != "first" || !strings.Contains(r.stderr, "new host "+h.Addr) ||
		!strings.Contains(r.stderr, "trusted on first use and recorded in "+kh) {
		t.Fatalf("first use: %+v", r)
	}
	st, err := os.Stat(kh)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("known hosts file: %v %v", st, err)
	}
	b, _ := os.ReadFile(kh)
	line := string(b)
	if !strings.HasPrefix(line, h.Addr+" sha256:") || strings.Count(line, "\n") != 1 {
		t.Fatalf("known hosts %q", line)
	}

	r = runMrcic(t, "", "--addr", h.Addr, "--known-hosts", kh, "-c", "echo again")
	if r.code != 0 || r.stdout != "again" || r.stderr != "" {
		t.Fatalf("match: %+v", r)
	}

	// The other host's address with the first host's certificate recorded:
	// the certificate it presents has "changed".
	fp := strings.TrimSpace(strings.TrimPrefix(line, h.Addr+" sha256:"))
	if err := os.WriteFile(kh, []byte(line+other.Addr+" sha256:"+fp+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMrcic(t, "", "--addr", other.Addr, "--known-hosts", kh, "-u", "root", "--password-file", writeFile(t, "pw", "Root#pw1"), "-c", "echo never")
	if r.code != 3 || r.stdout != "" || !strings.Contains(r.stderr, "WARNING: THE HOST CERTIFICATE HAS CHANGED!") ||
		!strings.Contains(r.stderr, "recorded: sha256:"+fp) || !strings.Contains(r.stderr, "(line 2)") ||
		!strings.Contains(r.stderr, "--accept-new-cert") {
		t.Fatalf("mismatch: %+v", r)
	}
	r = runMrcic(t, "", "--addr", other.Addr, "--known-hosts", kh, "--accept-new-cert", "-c", "echo accepted")
	if r.code != 0 || r.stdout != "accepted" || !strings.Contains(r.stderr, "accepted (--accept-new-cert) and recorded") {
		t.Fatalf("accept: %+v", r)
	}
	r = runMrcic(t, "", "--addr", other.Addr, "--known-hosts", kh, "-c", "echo ok")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("after accepting: %+v", r)
	}
	b, _ = os.ReadFile(kh)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || lines[0] != strings.TrimSpace(line) {
		t.Fatalf("known hosts after accepting %q", b)
	}

	plain := fakeHost(t, clienttest.Config{})
	r = runMrcic(t, "", "--addr", plain.Addr, "--known-hosts", kh, "-c", "echo plain")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("plaintext: %+v", r)
	}
	if b2, _ := os.ReadFile(kh); string(b2) != string(b) {
		t.Fatalf("plaintext host changed known hosts: %q", b2)
	}
}
