package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
)

func emailSettings(t *testing.T, dir string) store.EmailSettings {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, err := st.EmailSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestServeSMTPFlagsRejected: bad values stop `mrci serve` before it
// listens, with a clear error, and store nothing.
func TestServeSMTPFlagsRejected(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-tls", "ssl"}, "--smtp-tls"},
		{[]string{"--smtp-addr", "mail.example.com"}, "--smtp-addr"},
		{[]string{"--smtp-addr", "mail.example.com:25", "--smtp-tls", "none"}, "only allowed for a loopback"},
		{[]string{"--smtp-from", "not an address"}, "--smtp-from"},
		{[]string{"--smtp-user", "a\r\nb"}, "--smtp-user"},
		{[]string{"--smtp-password-file", filepath.Join(dir, "missing")}, "--smtp-password-file"},
	} {
		args := append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, tc.args...)
		code, _, stderr := runCLI(t, args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
	}
	if es := emailSettings(t, dir); es != store.DefaultEmailSettings() {
		t.Fatalf("settings changed by refused flags: %+v", es)
	}
}

// TestSMTPFlagsStored: given flags are stored, others keep their values,
// and the password never shows in the settings' String.
func TestSMTPFlagsStored(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp.pw")
	if err := os.WriteFile(pwFile, []byte("Sm7p-secret'$\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &smtpFlags{addr: "127.0.0.1:2525", tls: "none", user: "mrci", passwordFile: pwFile, from: "MRCI <mrci@example.com>"}
	all := map[string]bool{"smtp-addr": true, "smtp-tls": true, "smtp-user": true, "smtp-password-file": true, "smtp-from": true}
	opts := &options{dataDir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.apply(ctx, opts, all); err != nil {
		t.Fatal(err)
	}
	es := emailSettings(t, dir)
	if es.SMTPHost != "127.0.0.1" || es.SMTPPort != 2525 || es.SMTPTLS != "none" || es.SMTPUser != "mrci" ||
		es.SMTPPassword != "Sm7p-secret'$" || es.SMTPFrom != "MRCI <mrci@example.com>" {
		t.Fatalf("stored %+v", es)
	}
	if s := es.String(); strings.Contains(s, "Sm7p") || !strings.Contains(s, "smtp_password:         (set)") {
		t.Fatalf("String shows:\n%s", s)
	}
	// Only --smtp-tls given: the rest stays.
	f2 := &smtpFlags{tls: "starttls"}
	if err := f2.apply(ctx, opts, map[string]bool{"smtp-tls": true}); err != nil {
		t.Fatal(err)
	}
	if es2 := emailSettings(t, dir); es2.SMTPTLS != "starttls" || es2.SMTPHost != "127.0.0.1" || es2.SMTPPassword != es.SMTPPassword {
		t.Fatalf("after --smtp-tls: %+v", es2)
	}
}
