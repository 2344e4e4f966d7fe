package importer_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
)

// TestSettingsMapping: each setting that differs is reported with what
// happened to it; out-of-range values keep ours; unused columns and a
// stale clear-text password are not carried over.
func TestSettingsMapping(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		mutate(t, src, `UPDATE host_settings SET ip_address = '0.0.0.0', port = 0, max_sub_channels = 300,
			allow_public_registrations = 1, auto_lock_threshold = 5, archiver_executable = '/usr/bin/tar',
			verify_email_subject = 'Please verify'`)
		rep := run(t, st, importer.Options{Source: src})
		s, err := st.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.ListenAddress != "0.0.0.0" || s.ListenPort != store.DefaultListenPort || s.MaxSubChannels != store.DefaultMaxSubChannels ||
			!s.AllowPublicRegistrations || s.AutoLockThreshold != 5 || s.VerifyEmailSubject != "Please verify" {
			t.Errorf("settings %+v", s)
		}
		want := map[string]string{
			"ip_address":                 "applied",
			"port":                       "kept ours (not a TCP port)",
			"max_sub_channels":           "kept ours (not in 1-256)",
			"allow_public_registrations": "applied",
			"auto_lock_threshold":        "applied",
			"verify_email_subject":       "applied",
			"archiver_executable":        "not carried over",
			"default_password":           "not carried over",
		}
		got := map[string]string{}
		for _, d := range rep.Settings {
			got[d.Setting] = d.Action
		}
		for name, action := range want {
			if !strings.HasPrefix(got[name], action) {
				t.Errorf("%s: action %q, want %q", name, got[name], action)
			}
		}
		if len(got) != len(want) {
			t.Errorf("reported settings %v, want exactly %v", got, want)
		}
	})
}

// TestDefaultPasswordKeptWhileRootUsesIt: an original whose root never
// changed its generated password hands it over, so `mrci about` shows it
// and root must still change it at the first login.
func TestDefaultPasswordKeptWhileRootUsesIt(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		db, err := sql.Open("sqlite", "file:"+src)
		if err != nil {
			t.Fatal(err)
		}
		var pw string
		var salt []byte
		err = db.QueryRow(`SELECT CAST(h.default_password AS TEXT), u.salt FROM host_settings h, users u WHERE u.user_name = 'root'`).Scan(&pw, &salt)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		mutate(t, src, fmt.Sprintf(`UPDATE users SET hash = %s, new_password_req = 1 WHERE user_name = 'root'`, blob(password.LegacyHash(pw, salt))))
		rep := run(t, st, importer.Options{Source: src})
		s, err := st.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.DefaultPassword != pw {
			t.Errorf("default password %q, want the original's %q", s.DefaultPassword, pw)
		}
		root, _ := st.UserByName(ctx, "root")
		if !root.NewPasswordReq {
			t.Error("root's forced password change was lost")
		}
		if !strings.Contains(strings.Join(rep.Notes, "\n"), "root still has the original's generated password") {
			t.Errorf("notes %q", rep.Notes)
		}
	})
}
