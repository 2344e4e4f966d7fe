package postgres_test

import (
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/postgres"
	"github.com/mrci/mrci/internal/store/postgres/pgtest"
	"github.com/mrci/mrci/internal/store/storetest"
)

// openFresh opens a store in a new schema, closed when t ends (before the
// schema is dropped).
func openFresh(t *testing.T, base string) *postgres.Store {
	t.Helper()
	dsn, _ := pgtest.Schema(t, base, "mrci_test_")
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	base := pgtest.Base(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, base) })
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	base := pgtest.Base(t)
	dsn, _ := pgtest.Schema(t, base, "mrci_test_")
	ctx := t.Context()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	st := store.DefaultSettings()
	st.MaxSessions = 7
	st.DefaultPassword = "pw"
	if err := s.SaveSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	var id [32]byte
	id[0] = 1
	if err := s.CreateUser(ctx, store.User{ID: id, Name: "root", Rank: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateChannel(ctx, "lobby", id); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != st {
		t.Fatalf("settings after reopen: %+v, want %+v (default row re-inserted?)", got, st)
	}
	u, err := s.UserByName(ctx, "ROOT")
	if err != nil || u.ID != id {
		t.Fatalf("user after reopen: %+v, %v", u, err)
	}
	c, err := s.CreateChannel(ctx, "second", id)
	if err != nil || c.ID != 2 {
		t.Fatalf("channel after reopen: %+v, %v", c, err)
	}
	versions, err := s.SchemaVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := postgres.MigrationVersions(); !slices.Equal(versions, want) {
		t.Fatalf("schema_migrations has %v, want versions %v exactly once", versions, want)
	}
}

// TestConcurrentMigration starts several nodes on one empty schema at once:
// the advisory lock must let exactly one of them migrate.
func TestConcurrentMigration(t *testing.T) {
	base := pgtest.Base(t)
	dsn, _ := pgtest.Schema(t, base, "mrci_test_")
	const nodes = 6
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	stores := make([]*postgres.Store, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(t.Context(), dsn)
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	versions, err := stores[0].SchemaVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(versions, postgres.MigrationVersions()) {
		t.Fatalf("versions %v", versions)
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			t.Fatalf("versions %v: a migration ran twice", versions)
		}
	}
	st, err := stores[nodes-1].Settings(t.Context())
	if err != nil || st != store.DefaultSettings() {
		t.Fatalf("settings %+v, %v", st, err)
	}
}

// TestSessionTimeZone checks that a non-UTC session time zone changes
// neither the stored nor the displayed times.
func TestSessionTimeZone(t *testing.T) {
	base := pgtest.Base(t)
	dsn, _ := pgtest.Schema(t, base, "mrci_test_")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skip("key=value DSN")
	}
	q := u.Query()
	q.Set("timezone", "Asia/Kolkata")
	u.RawQuery = q.Encode()
	s, err := postgres.Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	created := time.Date(2024, 2, 29, 23, 45, 1, 0, time.UTC)
	var id [32]byte
	if err := s.CreateUser(t.Context(), store.User{ID: id, Name: "tz", Created: created}); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByID(t.Context(), id)
	if err != nil || !got.Created.Equal(created) || got.Created.Location() != time.UTC {
		t.Fatalf("created %v, %v; want %v UTC", got.Created, err, created)
	}
	rows, err := s.ListView(t.Context(), store.ViewUsers, nil, store.Page{})
	if err != nil || len(rows) != 1 || rows[0].Cells[0] != "2024-02-29 23:45:01" {
		t.Fatalf("rows %v, %v", rows, err)
	}
	before := time.Now().UTC().Add(-2 * time.Second)
	if err := s.LogDebug(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	rows, err = s.ListView(t.Context(), store.ViewDebug, nil, store.Page{})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	ts, err := time.Parse(store.TimeLayout, rows[0].Cells[0])
	if err != nil || ts.Before(before) || ts.After(time.Now().UTC().Add(2*time.Second)) {
		t.Fatalf("debug time %q (%v) is not UTC now", rows[0].Cells[0], err)
	}
}

func TestOpenBadDSN(t *testing.T) {
	if _, err := postgres.Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"); err == nil {
		t.Fatal("open of an unreachable server succeeded")
	}
}
