package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/mail/mailtest"
	"github.com/mrci/mrci/internal/store"
)

// TestRecoverFlow runs `mrcic --user bob recover --request` against a real
// host and SMTP server: the temporary password is read from the mail that
// arrives and typed on stdin with the new password (twice), then bob logs
// in with the new password.
func TestRecoverFlow(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true})
	h := hosttest.StartWith(t, hosttest.Options{
		Setup: func(st store.Store) {
			es := store.DefaultEmailSettings()
			es.SMTPHost, es.SMTPPort, es.SMTPFrom = srv.Host, uint16(srv.Port), "host@example.com"
			if err := st.SaveEmailSettings(context.Background(), es); err != nil {
				t.Fatal(err)
			}
		},
		Email: host.EmailConfig{RootCAs: srv.CA},
	})
	h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	pin := writeFile(t, "cert.pem", string(h.Cert.CertPEM))
	in, w := io.Pipe()
	go func() {
		m := srv.Next(t)
		_, rest, _ := strings.Cut(m.Body, "as follows:\n\n")
		temp, _, _ := strings.Cut(rest, "\n")
		_, _ = io.WriteString(w, "Wrong-Temp-1!\n"+temp+"\nNew-Bob-Pass-2\nTypo-Pass-2!\nNew-Bob-Pass-2\nNew-Bob-Pass-2\n")
		_ = w.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"--addr", h.Addr, "--cert-pin", pin, "--user", "bob", "recover", "--request"}, in, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "a temporary password was sent") ||
		!strings.Contains(out.String(), "Password of bob changed") || !strings.Contains(errb.String(), "err: access denied") ||
		!strings.Contains(errb.String(), "do not match") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	h.Login(t, "bob", "New-Bob-Pass-2")
	// Without input the recovery is cancelled: exit 1.
	r := runMrcic(t, "", "--addr", h.Addr, "--cert-pin", pin, "--user", "bob", "recover")
	if r.code != 1 {
		t.Fatalf("no input: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = runMrcic(t, "", "--addr", h.Addr, "recover"); r.code != 2 || !strings.Contains(r.stderr, "--user") {
		t.Fatalf("no user: exit %d, stderr %q", r.code, r.stderr)
	}
}
