package importer_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/internal/tlscert"
)

// blob is an SQL blob literal.
func blob(b []byte) string { return fmt.Sprintf("X'%x'", b) }

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// insertUser adds an account to a source copy with the original's hashing
// and returns its id.
func insertUser(t *testing.T, src, name, email, pw string) []byte {
	t.Helper()
	id := randomBytes(t, 32)
	salt := randomBytes(t, 128)
	emailSQL := "NULL"
	if email != "" {
		emailSQL = "'" + email + "'"
	}
	mutate(t, src, fmt.Sprintf(`INSERT INTO users (user_name, user_id, email_address, hash, salt, new_password_req,
		new_name_req, locked, email_verified, display_name, host_rank) VALUES ('%s', %s, %s, %s, %s, 0, 0, 0, 0, NULL, 2)`,
		name, blob(id), emailSQL, blob(password.LegacyHash(pw, salt)), blob(salt)))
	return id
}

// TestSkipPaths imports a hand-made variant of the fixture with a row for
// every rule mrci enforces: each bad row is reported with its reason, the
// good rows are imported, nothing crashes.
func TestSkipPaths(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		const pw = "Other#Pass2019"
		insertUser(t, src, "Émile", "émile@example.org", pw)
		insertUser(t, src, "éMILE", "emile2@example.org", pw) // differs only in case (NOCASE folds ASCII only)
		insertUser(t, src, "badmail", "not-an-email", pw)
		insertUser(t, src, "dupmail", "ÉMILE@example.org", pw) // NOCASE folds ASCII only
		spaced := insertUser(t, src, "has space", "space@example.org", pw)
		mutate(t, src, `INSERT INTO users (user_name, user_id, email_address, host_rank) VALUES ('nohash', `+blob(randomBytes(t, 32))+`, 'nohash@example.org', 2)`)
		dave := "(SELECT user_id FROM users WHERE user_name = 'dave')"
		good, err := tlscert.Generate("good.example.org", nil, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		other, err := tlscert.Generate("other.example.org", nil, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		certDER, _ := pem.Decode(good.CertPEM)
		keyBlock, _ := pem.Decode(good.KeyPEM)
		keyDER := keyBlock.Bytes // SEC 1 (EC) DER, as the original may store it
		if _, err := x509.ParseECPrivateKey(keyDER); err != nil {
			t.Fatal(err)
		}
		modFile := filepath.Join(t.TempDir(), "mod")
		if err := os.WriteFile(modFile, []byte("#!/bin/sh\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		mutate(t, src,
			`INSERT INTO channels (channel_id, channel_name) VALUES (5, 'ab')`,                                      // name too short
			`INSERT INTO channels (channel_id, channel_name) VALUES (6, 'café_ch')`,                                 // fine
			`INSERT INTO channels (channel_id, channel_name) VALUES (7, 'CAFÉ_CH')`,                                 // differs only in case
			`INSERT INTO sub_channels VALUES (1, 'toohigh', 300, 4, 0)`,                                             // id beyond 255
			`INSERT INTO sub_channels VALUES (5, 'lost_sub', 1, 4, 0)`,                                              // channel not imported
			`INSERT INTO sub_channels VALUES (6, 'ok_sub', 255, 5, 1)`,                                              // fine
			`INSERT INTO channel_members VALUES (99, `+dave+`, 0, 4)`,                                               // orphaned channel
			`INSERT INTO channel_members VALUES (6, `+blob(randomBytes(t, 32))+`, 0, 4)`,                            // orphaned user
			`INSERT INTO channel_members VALUES (6, `+blob(spaced)+`, 0, 4)`,                                        // user skipped
			`INSERT INTO channel_members VALUES (6, `+dave+`, 0, 1)`,                                                // dave owns café_ch
			`INSERT INTO ssl_certs VALUES ('good.example.org', `+blob(good.CertPEM)+`, `+blob(good.KeyPEM)+`)`,      // PEM
			`INSERT INTO ssl_certs VALUES ('der.example.org', `+blob(certDER.Bytes)+`, `+blob(keyDER)+`)`,           // DER
			`INSERT INTO ssl_certs VALUES ('bad.example.org', X'00010203', X'0405')`,                                // garbage
			`INSERT INTO ssl_certs VALUES ('mismatch.example.org', `+blob(good.CertPEM)+`, `+blob(other.KeyPEM)+`)`, // wrong key
			`INSERT INTO modules VALUES ('/nonexistent/mrci-module')`,
			`INSERT INTO modules VALUES ('`+modFile+`')`,
			`INSERT INTO ban_list (ip_address) VALUES ('not-an-ip')`,
			`INSERT INTO ban_list (ip_address) VALUES ('2001:DB8::1')`,
			`INSERT INTO command_ranks VALUES ('rm_acct', 0, ':internal_mod')`,
			`INSERT INTO command_ranks VALUES ('LS_CHS', 4, ':internal_mod')`, // same command again
		)
		rep := run(t, st, importer.Options{Source: src})
		wantCounts(t, rep, map[string]counts{
			"users":           {9, 6, 0, 3},
			"channels":        {4, 2, 0, 2},
			"sub_channels":    {4, 2, 0, 2},
			"channel_members": {5, 2, 0, 3},
			"ssl_certs":       {4, 2, 0, 2},
			"modules":         {2, 2, 0, 0},
			"ban_list":        {3, 2, 0, 1},
			"command_ranks":   {3, 1, 0, 2},
		})
		for _, c := range []struct{ table, row, want string }{
			{"users", "éMILE", `differs only in case or look-alike characters from "Émile"`},
			{"users", "has space", "name rules"},
			{"users", "nohash", "password hash missing"},
			{"users", "dupmail", ""}, // imported, see the warning below
			{"channels", "ab", "channel name rejected"},
			{"channels", "CAFÉ_CH", `differs at most in case from channel "café_ch"`},
			{"sub_channels", "toohigh", "beyond 255"},
			{"sub_channels", "lost_sub", "channel 5 was not imported"},
			{"channel_members", "channel 99", "orphaned: channel 99 does not exist"},
			{"ssl_certs", "bad.example.org", "invalid certificate"},
			{"ssl_certs", "mismatch.example.org", "invalid certificate"},
			{"ban_list", "not-an-ip", "not an IP address"},
			{"command_ranks", "rm_acct", "rank 0 is invalid"},
			{"command_ranks", "LS_CHS", "duplicate"},
		} {
			if got := skipReason(rep, c.table, c.row); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("%s %s: skip reason %q, want %q", c.table, c.row, got, c.want)
			}
		}
		tr := rep.Table("channel_members")
		var reasons []string
		for _, s := range tr.Skips {
			reasons = append(reasons, s.Reason)
		}
		joined := strings.Join(reasons, "|")
		if !strings.Contains(joined, "orphaned: the user does not exist in the original") || !strings.Contains(joined, "the user was not imported") {
			t.Errorf("member skips %q", joined)
		}
		if w := warning(rep, "users", "badmail"); !strings.Contains(w, "does not validate") {
			t.Errorf("badmail warning %q", w)
		}
		if w := warning(rep, "users", "dupmail"); !strings.Contains(w, "differs only in case") {
			t.Errorf("dupmail warning %q", w)
		}
		if w := warning(rep, "modules", "/nonexistent/mrci-module"); !strings.Contains(w, "not found on this machine") {
			t.Errorf("missing module warning %q", w)
		}
		if w := warning(rep, "modules", modFile); w != "" {
			t.Errorf("present module warned: %q", w)
		}
		if w := warning(rep, "channels", "café_ch"); w != "" {
			t.Errorf("owned channel warned: %q", w)
		}

		// What was imported is usable.
		bm, err := st.UserByName(ctx, "badmail")
		if err != nil || bm.Email != "" {
			t.Fatalf("badmail = %+v, %v", bm, err)
		}
		if ok, _ := password.Verify(pw, bm.PasswordHash); !ok {
			t.Error("badmail's password does not verify")
		}
		for _, cn := range []string{"good.example.org", "der.example.org"} {
			c, err := st.Cert(ctx, cn)
			if err != nil {
				t.Fatalf("%s: %v", cn, err)
			}
			if _, err := tlscert.Parse(c.CertPEM, c.KeyPEM); err != nil {
				t.Errorf("%s stored unusable: %v", cn, err)
			}
		}
		if _, err := st.Cert(ctx, "bad.example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bad cert stored: %v", err)
		}
		sub, err := st.SubChannelByID(ctx, 6, 255)
		if err != nil || sub.LowestLevel != 5 || !sub.ActiveUpdates {
			t.Errorf("ok_sub = %+v, %v", sub, err)
		}
		bans, _ := st.Bans(ctx)
		if !reflect.DeepEqual(bans, []string{"192.0.2.7", "2001:db8::1"}) {
			t.Errorf("bans %v (want canonical forms)", bans)
		}
		mods, _ := st.Modules(ctx)
		if !reflect.DeepEqual(mods, []string{"/nonexistent/mrci-module", modFile}) {
			t.Errorf("modules %v", mods)
		}

		// Running it again changes nothing and reports the same skips.
		snap := takeSnapshot(t, st)
		rep2 := run(t, st, importer.Options{Source: src})
		if after := takeSnapshot(t, st); rep2.Changed || !reflect.DeepEqual(after, snap) {
			var b strings.Builder
			_ = rep2.WriteText(&b)
			t.Fatalf("second import of the variant changed the store (changed %v):\n%s\n%+v\n%+v", rep2.Changed, b.String(), snap, after)
		}
		if got := tableCounts(t, rep2, "users"); got != (counts{9, 0, 6, 3}) {
			t.Errorf("second run users %v", got)
		}
	})
}

// TestWrongSchemaRefused: files that are not the original's database are
// refused with a clear error, and the target is not touched.
func TestWrongSchemaRefused(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		text := filepath.Join(dir, "notes.txt")
		if err := os.WriteFile(text, []byte("this is not a database at all, just some text"), 0o600); err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(dir, "other.db")
		mutate(t, other, `CREATE TABLE foo (x)`)
		noRank := copyFixture(t)
		mutate(t, noRank, `ALTER TABLE users DROP COLUMN host_rank`)
		noLogs := copyFixture(t)
		mutate(t, noLogs, `DROP TABLE auth_log`)
		ours := filepath.Join(dir, "mrci.db")
		s, err := sqlite.Open(t.Context(), ours)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()

		snap := takeSnapshot(t, st)
		for _, c := range []struct {
			path     string
			withLogs bool
			want     string
		}{
			{text, false, "not an SQLite database"},
			{other, false, "missing table ban_list"},
			{noRank, false, "missing users.host_rank"},
			{noLogs, true, "missing table auth_log"},
			{ours, false, "it is an mrci database"},
		} {
			_, err := importer.Run(t.Context(), st, importer.Options{Source: c.path, WithLogs: c.withLogs})
			if !errors.Is(err, importer.ErrNotOriginal) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %v, want ErrNotOriginal with %q", filepath.Base(c.path), err, c.want)
			}
		}
		if _, err := importer.Run(t.Context(), st, importer.Options{Source: filepath.Join(dir, "missing.db")}); err == nil {
			t.Error("a missing file was accepted")
		}
		if !reflect.DeepEqual(takeSnapshot(t, st), snap) {
			t.Fatal("a refused import changed the store")
		}
		// Without --with-logs the log tables are not needed.
		if _, err := importer.Run(t.Context(), st, importer.Options{Source: noLogs, DryRun: true}); err != nil {
			t.Errorf("dry run without the auth log: %v", err)
		}
	})
}

// TestRefusesForeignAccountsUnlessMerge: a host that already has accounts
// of its own is not imported into without --merge; with it, conflicting
// names and e-mail addresses are reported and never overwritten.
func TestRefusesForeignAccountsUnlessMerge(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		mk := func(b byte, name, email string) store.User {
			u := store.User{Name: name, Email: email, PasswordHash: "$argon2id$x", Rank: 2}
			u.ID[0], u.ID[31] = b, b
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			return u
		}
		alice := mk(1, "alice", "alice@example.org")
		mk(2, "DAVE", "dave2@example.org")                                     // name conflict
		mk(3, "erin2", "ERIN@example.org")                                     // e-mail conflict
		if _, err := st.CreateChannel(ctx, "other_ch", alice.ID); err != nil { // takes channel id 1
			t.Fatal(err)
		}
		if err := st.AddCommandRank(ctx, store.CommandRank{Module: store.InternalModule, Command: "ls_chs", Rank: 5}); err != nil {
			t.Fatal(err)
		}
		ourRoot, _ := st.Settings(ctx)

		snap := takeSnapshot(t, st)
		_, err := importer.Run(ctx, st, importer.Options{Source: src})
		if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "alice") || !strings.Contains(err.Error(), "--merge") {
			t.Fatalf("import into a used host: %v", err)
		}
		if !reflect.DeepEqual(takeSnapshot(t, st), snap) {
			t.Fatal("the refused import changed the store")
		}

		rep := run(t, st, importer.Options{Source: src, Merge: true})
		wantCounts(t, rep, map[string]counts{
			"users": {3, 0, 0, 3}, "channels": {1, 0, 0, 1}, "sub_channels": {1, 0, 0, 1},
			"channel_members": {1, 0, 0, 1}, "command_ranks": {1, 0, 0, 1}, "ban_list": {1, 1, 0, 0},
		})
		for _, c := range []struct{ table, row, want string }{
			{"users", "root", "already has its own root account"},
			{"users", "dave", `name conflicts with the existing account "DAVE"`},
			{"users", "erin", `conflicts with the existing account "erin2"`},
			{"channels", "sample_ch", `channel id 1 is used here by "other_ch"`},
			{"sub_channels", "news", "channel 1 was not imported"},
			{"channel_members", "channel 1", "channel 1 was not imported"},
			{"command_ranks", "ls_chs", "ranked 5 here, 3 in the original (ours kept)"},
		} {
			if got := skipReason(rep, c.table, c.row); !strings.Contains(got, c.want) {
				t.Errorf("%s %s: skip reason %q, want %q", c.table, c.row, got, c.want)
			}
		}
		// Ours is kept: root, settings, the conflicting accounts.
		s, _ := st.Settings(ctx)
		if s.RootUserID != ourRoot.RootUserID || s.ListenPort != ourRoot.ListenPort {
			t.Errorf("merge changed root or settings: %+v", s)
		}
		if d := settingDiff(rep, "port"); d == nil || !strings.HasPrefix(d.Action, "kept ours") {
			t.Errorf("port diff %+v", d)
		}
		if u, err := st.UserByName(ctx, "dave"); err != nil || u.Email != "dave2@example.org" {
			t.Errorf("DAVE overwritten: %+v %v", u, err)
		}
		// Merging again changes nothing.
		snap = takeSnapshot(t, st)
		if rep := run(t, st, importer.Options{Source: src, Merge: true}); rep.Changed {
			t.Error("second merge changed something")
		}
		if !reflect.DeepEqual(takeSnapshot(t, st), snap) {
			t.Fatal("second merge changed the store")
		}
	})
}

// TestMergeIntoUsedHostKeepsRootAddsOthers: with --merge, accounts without
// conflicts are added next to the existing ones.
func TestMergeAddsAccountsWithoutConflicts(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		u := store.User{Name: "alice", Email: "alice@example.org", PasswordHash: "$argon2id$x", Rank: 2}
		u.ID[0] = 9
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		rep := run(t, st, importer.Options{Source: copyFixture(t), Merge: true})
		wantCounts(t, rep, map[string]counts{"users": {3, 2, 0, 1}, "channels": {1, 1, 0, 0}, "channel_members": {1, 1, 0, 0}})
		for _, name := range []string{"alice", "dave", "erin"} {
			if _, err := st.UserByName(ctx, name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
