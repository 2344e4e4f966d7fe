package importer_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
)

// counts is one table's (read, imported, present, skipped).
type counts [4]int

func tableCounts(t *testing.T, rep *importer.Report, table string) counts {
	t.Helper()
	tr := rep.Table(table)
	if tr == nil {
		t.Fatalf("report has no table %s", table)
	}
	if tr.Read != tr.Imported+tr.Present+tr.Skipped {
		t.Errorf("%s: read %d != imported %d + present %d + skipped %d", table, tr.Read, tr.Imported, tr.Present, tr.Skipped)
	}
	return counts{tr.Read, tr.Imported, tr.Present, tr.Skipped}
}

func wantCounts(t *testing.T, rep *importer.Report, want map[string]counts) {
	t.Helper()
	for table, w := range want {
		if got := tableCounts(t, rep, table); got != w {
			t.Errorf("%s: (read, imported, present, skipped) = %v, want %v", table, got, w)
		}
	}
}

// skipReason returns the reason of the skip whose row contains row.
func skipReason(rep *importer.Report, table, row string) string {
	if tr := rep.Table(table); tr != nil {
		for _, s := range tr.Skips {
			if strings.Contains(s.Row, row) {
				return s.Reason
			}
		}
	}
	return ""
}

func warning(rep *importer.Report, table, row string) string {
	if tr := rep.Table(table); tr != nil {
		for _, s := range tr.Warnings {
			if strings.Contains(s.Row, row) {
				return s.Reason
			}
		}
	}
	return ""
}

func run(t *testing.T, st store.Store, o importer.Options) *importer.Report {
	t.Helper()
	rep, err := importer.Run(t.Context(), st, o)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

// TestImportFixture imports the real original's database into a freshly
// started host's store (SQLite and PostgreSQL) and checks every imported
// row, that the source file is unchanged, and that a second import changes
// nothing.
func TestImportFixture(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		before := digest(t, src)
		fresh, err := st.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}

		rep := run(t, st, importer.Options{Source: src})
		if !rep.Changed || !rep.Written {
			t.Fatalf("changed %v written %v", rep.Changed, rep.Written)
		}
		wantCounts(t, rep, map[string]counts{
			"users": {3, 3, 0, 0}, "channels": {1, 1, 0, 0}, "sub_channels": {1, 1, 0, 0},
			"channel_members": {1, 1, 0, 0}, "command_ranks": {1, 1, 0, 0}, "ban_list": {1, 1, 0, 0},
			"ssl_certs": {0, 0, 0, 0}, "modules": {0, 0, 0, 0},
			"auth_log": {2, 0, 0, 2}, "ip_history": {4, 0, 0, 4}, "host_debug_messages": {3, 0, 0, 3},
		})
		if r := skipReason(rep, "auth_log", "rows"); !strings.Contains(r, "--with-logs") {
			t.Errorf("auth_log skip reason %q", r)
		}
		if w := warning(rep, "channels", "sample_ch"); !strings.Contains(w, "no owner") {
			t.Errorf("ownerless channel warning %q", w)
		}
		if digest(t, src) != before {
			t.Fatal("the import changed the source file")
		}

		// The fresh root is gone; the original's root is ours.
		if _, err := st.UserByID(ctx, fresh.RootUserID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("fresh root still present: %v", err)
		}
		root, err := st.UserByName(ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		s, err := st.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.RootUserID != root.ID || root.Rank != 1 || root.Email != "" || root.NewPasswordReq {
			t.Errorf("root %+v, settings root %s", root, s.RootUserID)
		}
		if s.ListenAddress != "127.0.0.1" || s.ListenPort != 36521 || s.DefaultPassword != "" || s.MaxSubChannels != 50 || !s.ActiveUpdates {
			t.Errorf("settings %+v", s)
		}
		if d := settingDiff(rep, "port"); d == nil || d.Original != "36521" || d.Current != "35516" || d.Action != "applied" {
			t.Errorf("port diff %+v", d)
		}

		for _, c := range []struct {
			name, pw, email, display string
			rank                     uint32
		}{
			{"root", rootPassword, "", "", 1},
			{"dave", davePassword, "dave@example.org", "Dave_D", 2},
			{"erin", erinPassword, "erin@example.org", "", 3},
		} {
			u, err := st.UserByName(ctx, c.name)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if u.Email != c.email || u.DisplayName != c.display || u.Rank != c.rank || u.Locked || u.NewNameReq || u.EmailVerified {
				t.Errorf("%s imported as %+v", c.name, u)
			}
			if !strings.HasPrefix(u.PasswordHash, "$keccak512$") {
				t.Errorf("%s hash %q, want the original's", c.name, u.PasswordHash)
			}
			if ok, err := password.Verify(c.pw, u.PasswordHash); !ok || err != nil {
				t.Errorf("%s: original password does not verify: %v %v", c.name, ok, err)
			}
			if u.Created.IsZero() || u.Created.Year() < 2020 {
				t.Errorf("%s created %v, want the original's time", c.name, u.Created)
			}
		}
		dave, _ := st.UserByName(ctx, "dave")
		ch, err := st.ChannelByID(ctx, 1)
		if err != nil || ch.Name != "sample_ch" {
			t.Fatalf("channel 1 = %+v, %v", ch, err)
		}
		sub, err := st.SubChannelByID(ctx, 1, 0)
		if err != nil || sub != (store.SubChannel{ChannelID: 1, ID: 0, Name: "news", LowestLevel: 3}) {
			t.Fatalf("sub-channel = %+v, %v", sub, err)
		}
		m, err := st.Member(ctx, 1, dave.ID)
		if err != nil || !m.Pending || m.Level != 4 {
			t.Fatalf("dave's invitation = %+v, %v", m, err)
		}
		ranks, _ := st.CommandRanks(ctx)
		if !reflect.DeepEqual(ranks, []store.CommandRank{{Module: store.InternalModule, Command: "ls_chs", Rank: 3}}) {
			t.Fatalf("ranks %+v", ranks)
		}
		bans, _ := st.Bans(ctx)
		if !reflect.DeepEqual(bans, []string{"192.0.2.7"}) {
			t.Fatalf("bans %v", bans)
		}
		banRows, _ := st.ListView(ctx, store.ViewBans, nil, store.Page{Limit: 10})
		if len(banRows) != 1 || banRows[0].Cells[0] != "2026-12-04 05:04:23" {
			t.Fatalf("ban rows %+v, want the original's time", banRows)
		}
		// New channels get ids after the imported ones.
		if c, err := st.CreateChannel(ctx, "later_ch", dave.ID); err != nil || c.ID != 2 {
			t.Fatalf("next channel %+v, %v", c, err)
		}
		if err := st.DeleteChannel(ctx, 2); err != nil {
			t.Fatal(err)
		}

		// Second import: nothing changes and the report says so.
		snap := takeSnapshot(t, st)
		rep = run(t, st, importer.Options{Source: src})
		if rep.Changed || rep.Written {
			t.Fatalf("second import changed %v written %v", rep.Changed, rep.Written)
		}
		wantCounts(t, rep, map[string]counts{
			"users": {3, 0, 3, 0}, "channels": {1, 0, 1, 0}, "sub_channels": {1, 0, 1, 0},
			"channel_members": {1, 0, 1, 0}, "command_ranks": {1, 0, 1, 0}, "ban_list": {1, 0, 1, 0},
		})
		var text strings.Builder
		if err := rep.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), "nothing to import, everything is already present") {
			t.Errorf("second report:\n%s", text.String())
		}
		if after := takeSnapshot(t, st); !reflect.DeepEqual(after, snap) {
			t.Fatalf("second import changed the store:\n%+v\n%+v", snap, after)
		}
		if digest(t, src) != before {
			t.Fatal("the import changed the source file")
		}
	})
}

func settingDiff(rep *importer.Report, name string) *importer.SettingDiff {
	for i := range rep.Settings {
		if rep.Settings[i].Setting == name {
			return &rep.Settings[i]
		}
	}
	return nil
}

// TestDryRunWritesNothing: a dry run reports what an import would do and
// leaves the store as it was.
func TestDryRunWritesNothing(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		src := copyFixture(t)
		snap := takeSnapshot(t, st)
		rep := run(t, st, importer.Options{Source: src, DryRun: true, WithLogs: true})
		if !rep.Changed || rep.Written || !rep.DryRun {
			t.Fatalf("dry run: changed %v written %v", rep.Changed, rep.Written)
		}
		wantCounts(t, rep, map[string]counts{
			"users": {3, 3, 0, 0}, "channels": {1, 1, 0, 0}, "auth_log": {2, 2, 0, 0},
			"ip_history": {4, 4, 0, 0}, "host_debug_messages": {3, 3, 0, 0},
		})
		if after := takeSnapshot(t, st); !reflect.DeepEqual(after, snap) {
			t.Fatal("the dry run changed the store")
		}
		if d := settingDiff(rep, "port"); d == nil || d.Action != "would be applied" {
			t.Errorf("dry run port diff %+v", d)
		}
		var text strings.Builder
		_ = rep.WriteText(&text)
		if !strings.Contains(text.String(), "dry run, nothing was written") {
			t.Errorf("report:\n%s", text.String())
		}
	})
}

// TestWithLogs imports the three logs with their times, only once, and
// later only the rows the original wrote since.
func TestWithLogs(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := copyFixture(t)
		rep := run(t, st, importer.Options{Source: src, WithLogs: true})
		wantCounts(t, rep, map[string]counts{"auth_log": {2, 2, 0, 0}, "ip_history": {4, 4, 0, 0}, "host_debug_messages": {3, 3, 0, 0}})
		auth, _ := st.ListView(ctx, store.ViewAuthLog, nil, store.Page{Limit: 100})
		if len(auth) != 2 || auth[0].Cells[0] != "2026-12-04 05:04:22" || auth[0].Cells[2] != "root" || auth[0].Cells[6] != "1" {
			t.Fatalf("auth log %+v", auth)
		}
		act, _ := st.ListView(ctx, store.ViewActLog, nil, store.Page{Limit: 100})
		if len(act) != 4 || act[0].Cells[2] != "mrciprobe 0.1" || act[0].Cells[4] != "Session Active" {
			t.Fatalf("activity log %+v", act)
		}
		dbg, _ := st.ListView(ctx, store.ViewDebug, nil, store.Page{Limit: 100})
		if len(dbg) != 3 || !strings.Contains(dbg[0].Cells[1], "QProcess") {
			t.Fatalf("debug log %+v", dbg)
		}

		rep = run(t, st, importer.Options{Source: src, WithLogs: true})
		if rep.Changed {
			t.Fatal("second import with logs changed something")
		}
		wantCounts(t, rep, map[string]counts{"auth_log": {2, 0, 2, 0}, "ip_history": {4, 0, 4, 0}, "host_debug_messages": {3, 0, 3, 0}})

		// The original ran on and wrote one more debug line.
		mutate(t, src, `INSERT INTO host_debug_messages (log_entry) VALUES ('later message')`)
		rep = run(t, st, importer.Options{Source: src, WithLogs: true})
		wantCounts(t, rep, map[string]counts{"host_debug_messages": {4, 1, 3, 0}, "users": {3, 0, 3, 0}})
		dbg, _ = st.ListView(ctx, store.ViewDebug, nil, store.Page{Limit: 100})
		if len(dbg) != 4 || dbg[3].Cells[1] != "later message" {
			t.Fatalf("debug log after the third import %+v", dbg)
		}
	})
}
