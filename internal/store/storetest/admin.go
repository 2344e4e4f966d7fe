package storetest

import (
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// adminTests are the conformance tests of the host-administration methods.
var adminTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"AdminSettings", testAdminSettings},
	{"PruneLogs", testPruneLogs},
}

func testAdminSettings(t *testing.T, s store.Store) {
	got, err := s.AdminSettings(ctx(t))
	ok(t, err, "admin settings")
	if got != store.DefaultAdminSettings() {
		t.Fatalf("fresh admin settings = %+v, want %+v", got, store.DefaultAdminSettings())
	}
	want := store.AdminSettings{CertAutoGenerate: false, LogRetentionDays: 4294967295, BanEndsSessions: false}
	ok(t, s.SaveAdminSettings(ctx(t), want), "save")
	got, err = s.AdminSettings(ctx(t))
	ok(t, err, "reload")
	if got != want {
		t.Fatalf("admin settings = %+v, want %+v", got, want)
	}
	want = store.AdminSettings{CertAutoGenerate: true, LogRetentionDays: 7, BanEndsSessions: true}
	ok(t, s.SaveAdminSettings(ctx(t), want), "save again")
	if got, _ = s.AdminSettings(ctx(t)); got != want {
		t.Fatalf("admin settings = %+v, want %+v", got, want)
	}
}

func testPruneLogs(t *testing.T, s store.Store) {
	u := mustUser(t, s, 1, "pruned", "pruned@example.com")
	ok(t, s.LogDebug(ctx(t), "one", "two"), "debug")
	ok(t, s.LogActivity(ctx(t), store.Activity{IP: "10.1.1.1", Entry: "Session Active"}), "activity")
	ok(t, s.AddAuthAttempt(ctx(t), store.AuthAttempt{IP: "10.1.1.1", UserID: u.ID, AuthAttempt: true}), "auth")
	count := func(v store.View) int {
		rows, err := s.ListView(ctx(t), v, nil, store.Page{})
		ok(t, err, "list")
		return len(rows)
	}
	// Rows written now are younger than an hour ago: nothing goes.
	n, err := s.PruneLogs(ctx(t), time.Now().Add(-time.Hour))
	ok(t, err, "prune old")
	if n != 0 || count(store.ViewDebug) != 2 || count(store.ViewActLog) != 1 || count(store.ViewAuthLog) != 1 {
		t.Fatalf("pruning before an hour ago deleted %d rows", n)
	}
	n, err = s.PruneLogs(ctx(t), time.Now().Add(time.Hour))
	ok(t, err, "prune all")
	if n != 4 || count(store.ViewDebug) != 0 || count(store.ViewActLog) != 0 || count(store.ViewAuthLog) != 0 {
		t.Fatalf("pruning before an hour from now deleted %d rows, want 4 (all)", n)
	}
	// Other tables are untouched.
	if _, err := s.UserByID(ctx(t), u.ID); err != nil {
		t.Fatalf("user lost by pruning: %v", err)
	}
}
