package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client/clienttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"),
		// readline (interactive mode, TestInteractiveTransfer) leaves its I/O
		// loop and resize watcher behind after Close when stdin is not a terminal.
		goleak.IgnoreTopFunction("github.com/chzyer/readline.(*Operation).ioloop"),
		goleak.IgnoreTopFunction("github.com/chzyer/readline.DefaultOnWidthChanged.func1.1"))
}

// result of one run.
type result struct {
	code           int
	stdout, stderr string
}

func runMrcic(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secretCmd prompts with PRIV_TEXT and prints the answer reversed.
func secretCmd(inst *clienttest.Instance) {
	for {
		if _, ok := inst.Recv(); !ok {
			return
		}
		_ = inst.PrivText("secret: ")
		f, ok := inst.Recv()
		if !ok {
			return
		}
		if f.Type == wire.TypeText {
			r := []rune(wire.DecodeText(f.Payload))
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			_ = inst.Text(string(r) + "\n")
		}
		_ = inst.Idle()
	}
}

func fakeHost(t *testing.T, cfg clienttest.Config) *clienttest.Host {
	cfg.Commands = append(cfg.Commands,
		clienttest.Command{Name: "auth", Handler: clienttest.Auth(map[string]*clienttest.Account{
			"root":  {Password: "Root#pw1", Rank: 1},
			"fresh": {Password: "Temp#pw1", NewPasswordRequired: true},
		})},
		clienttest.Command{Name: "echo", Handler: clienttest.Echo},
		clienttest.Command{Name: "fail", Handler: clienttest.Fail},
		clienttest.Command{Name: "secret", Handler: secretCmd},
		clienttest.Command{Name: "bye", Handler: func(inst *clienttest.Instance) {
			if _, ok := inst.Recv(); ok {
				_ = inst.Text("closing\n")
				inst.Session.Close()
			}
		}},
	)
	return clienttest.NewHost(t, cfg)
}

func TestScriptingMode(t *testing.T) {
	h := fakeHost(t, clienttest.Config{})
	pw := writeFile(t, "pw", "Root#pw1\nignored second line\n")
	r := runMrcic(t, "", "--addr", h.Addr, "--user", "root", "--password-file", pw,
		"-c", "echo hello,  world ", "-c", `ECHO -x "a b"`, "-c", "echo")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != `hello,  world -x "a b"` {
		t.Errorf("stdout %q", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestScriptingErrors(t *testing.T) {
	h := fakeHost(t, clienttest.Config{})
	r := runMrcic(t, "", "--addr", h.Addr, "-c", "fail oops", "-c", "echo after")
	if r.code != 1 || !strings.Contains(r.stderr, "err: failed: oops\n") || r.stdout != "after" {
		t.Errorf("ERR: %+v", r)
	}
	r = runMrcic(t, "", "--addr", h.Addr, "-c", "nosuch x", "-c", "echo after")
	if r.code != 1 || !strings.Contains(r.stderr, "nosuch: unknown command") || r.stdout != "after" {
		t.Errorf("unknown command: %+v", r)
	}
}

func TestScriptingPrompt(t *testing.T) {
	h := fakeHost(t, clienttest.Config{})
	r := runMrcic(t, "abc\n", "--addr", h.Addr, "-c", "secret", "-c", "secret")
	if r.code != 1 || r.stdout != "cba\n" || !strings.Contains(r.stderr, "no input left") {
		t.Errorf("%+v", r)
	}
}

func TestScriptingPasswordFromStdin(t *testing.T) {
	h := fakeHost(t, clienttest.Config{})
	r := runMrcic(t, "Root#pw1\nxyz\n", "--addr", h.Addr, "-u", "root", "-c", "secret")
	if r.code != 0 || r.stdout != "zyx\n" {
		t.Errorf("%+v", r)
	}
}

func TestScriptingLoginFailures(t *testing.T) {
	h := fakeHost(t, clienttest.Config{})
	pw := writeFile(t, "pw", "wrong")
	r := runMrcic(t, "", "--addr", h.Addr, "--user", "root", "--password-file", pw, "-c", "echo x")
	if r.code != 2 || !strings.Contains(r.stderr, "access denied") || r.stdout != "" {
		t.Errorf("wrong password: %+v", r)
	}
	pw = writeFile(t, "pw", "Temp#pw1")
	r = runMrcic(t, "", "--addr", h.Addr, "--user", "fresh", "--password-file", pw, "-c", "echo x")
	if r.code != 2 || !strings.Contains(r.stderr, "new password") {
		t.Errorf("forced change: %+v", r)
	}
	npw := writeFile(t, "npw", "Fresh#pw2\n")
	r = runMrcic(t, "", "--addr", h.Addr, "--user", "fresh", "--password-file", pw, "--new-password-file", npw, "-c", "echo x")
	if r.code != 0 || r.stdout != "x" {
		t.Errorf("forced change with --new-password-file: %+v", r)
	}
}

func TestScriptingConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runMrcic(t, "", "--addr", addr, "-c", "echo x")
	if r.code != 2 || !strings.Contains(r.stderr, "connecting") {
		t.Errorf("refused: %+v", r)
	}
	h := fakeHost(t, clienttest.Config{})
	r = runMrcic(t, "", "--addr", h.Addr, "-c", "bye", "-c", "echo never")
	if r.code != 2 || r.stdout != "closing\n" || !strings.Contains(r.stderr, "connection lost") {
		t.Errorf("lost: %+v", r)
	}
	r = runMrcic(t, "", "--addr", h.Addr, "--bogus")
	if r.code != 2 || !strings.Contains(r.stderr, "unknown flag") {
		t.Errorf("bad flag: %+v", r)
	}
}

func TestScriptingTLS(t *testing.T) {
	h := fakeHost(t, clienttest.Config{Reply: wire.ReplyTLS})
	// Trust on first use prints the fingerprint.
	r := runMrcic(t, "", "--addr", h.Addr, "-c", "echo tofu")
	if r.code != 0 || r.stdout != "tofu" || !strings.Contains(r.stderr, "SHA-256 fingerprint") {
		t.Fatalf("TOFU: %+v", r)
	}
	fp := r.stderr[strings.Index(r.stderr, "fingerprint ")+len("fingerprint "):]
	fp = fp[:strings.IndexByte(fp, ' ')]
	// Pinning the printed fingerprint, or the PEM, works and prints nothing.
	for _, pin := range []string{fp + "\n", string(h.CertPEM)} {
		r = runMrcic(t, "", "--addr", h.Addr, "--cert-pin", writeFile(t, "pin", pin), "-c", "echo pinned")
		if r.code != 0 || r.stdout != "pinned" || r.stderr != "" {
			t.Errorf("pinned: %+v", r)
		}
	}
	r = runMrcic(t, "", "--addr", h.Addr, "--ca", writeFile(t, "ca", string(h.CertPEM)), "--common-name", "localhost", "-c", "echo ca")
	if r.code != 0 || r.stdout != "ca" {
		t.Errorf("--ca: %+v", r)
	}
	_, otherPEM, _ := clienttest.SelfSigned("localhost")
	r = runMrcic(t, "", "--addr", h.Addr, "--cert-pin", writeFile(t, "pin", string(otherPEM)), "-c", "echo x")
	if r.code != 2 || !strings.Contains(r.stderr, "does not match") {
		t.Errorf("wrong pin: %+v", r)
	}
}

func TestSplitCommandLine(t *testing.T) {
	for _, tc := range []struct{ in, name, args string }{
		{"my_info", "my_info", ""},
		{"  ls_users  -page 2 ", "ls_users", "-page 2 "},
		{"cmd\targ", "cmd", "arg"},
		{"", "", ""},
	} {
		if n, a := splitCommandLine(tc.in); n != tc.name || a != tc.args {
			t.Errorf("splitCommandLine(%q) = %q, %q", tc.in, n, a)
		}
	}
}

func TestFormatAsync(t *testing.T) {
	mi := wire.MyInfo{Peer: wire.PeerInfo{UserName: "root", DisplayName: "Root"}, Rank: 1}
	mi.Peer.UserID[0] = 1
	for _, tc := range []struct {
		f      wire.Frame
		want   string
		stderr bool
	}{
		{wire.Frame{Type: wire.TypeText, Cmd: 1, Payload: wire.EncodeText("\nReady!\n\n")}, "", false},
		{wire.Frame{Type: wire.TypeNewCmd, Cmd: 35}, "", false},
		{wire.Frame{Type: wire.TypeText, Cmd: 2, Payload: wire.EncodeText("hello")}, "hello\n", false},
		{wire.Frame{Type: wire.TypeErr, Cmd: 2, Payload: wire.EncodeText("err: x\n")}, "err: x\n", true},
		{wire.Frame{Type: wire.TypeMyInfo, Cmd: 2, Payload: mi.Marshal()}, "* logged in as root (Root), rank 1\n", false},
		{wire.Frame{Type: wire.TypePeerInfo, Cmd: 17, Payload: make([]byte, 306)}, "[ASYNC_LIMITED_CAST] PEER_INFO 306 bytes\n", false},
	} {
		if got, toErr := formatAsync(tc.f); got != tc.want || toErr != tc.stderr {
			t.Errorf("formatAsync(%d %s) = %q, %v", tc.f.Cmd, tc.f.Type, got, toErr)
		}
	}
}
