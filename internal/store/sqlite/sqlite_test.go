package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/internal/store/storetest"
)

func openTemp(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mrci.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dir with ? and # and %", "mrci.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, path)
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
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, path)
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
	// Every migration exactly once, in order (helpers' versions may leave
	// gaps until every branch has landed).
	want := sqlite.LatestSchemaVersion()
	if len(versions) == 0 || versions[0] != 1 || versions[len(versions)-1] != want {
		t.Fatalf("schema_migrations has %v, want versions 1..%d exactly once", versions, want)
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			t.Fatalf("schema_migrations has %v, want versions 1..%d exactly once", versions, want)
		}
	}
}

func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mrci.db")
	errs := make(chan error, 4)
	stores := make(chan *sqlite.Store, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := sqlite.Open(t.Context(), path)
			errs <- err
			stores <- s
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Errorf("open: %v", err)
		}
		if s := <-stores; s != nil {
			defer s.Close()
		}
	}
}
