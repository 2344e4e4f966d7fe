package importer_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/postgres"
	"github.com/mrci/mrci/internal/store/postgres/pgtest"
	"github.com/mrci/mrci/internal/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is the database written by the real original host, a copy of
// ../shared/fixtures/original-1.1.2-sample.db (read-only: tests copy it
// to a temporary directory first).
const fixture = "testdata/original-1.1.2-sample.db"

// The fixture's accounts (its README).
const (
	rootPassword = "Sample#Root2019"
	davePassword = "Dave#Orig2019aa"
	erinPassword = "Erin#Orig2019aa"
)

// fixturePath returns the fixture's path.
func fixturePath(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(fixture); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return fixture
}

// copyFixture copies the fixture into a temporary directory and returns
// the copy's path.
func copyFixture(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(fixturePath(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "data.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mutate runs SQL statements against a copy of the fixture (the hand-made
// variants). Foreign keys stay off, as in a database another tool edited.
func mutate(t testing.TB, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// digest returns the SHA-256 of a file.
func digest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// backends runs fn against a fresh SQLite store and a fresh PostgreSQL
// store (schema per test), each with the fresh root a first start creates.
func backends(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mrci.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		freshRoot(t, st)
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st := openPostgres(t)
		freshRoot(t, st)
		fn(t, st)
	})
}

// freshRoot creates root as `mrci serve` does at first start.
func freshRoot(t *testing.T, st store.Store) {
	t.Helper()
	if _, err := host.EnsureRoot(t.Context(), st, hosttest.Params, ""); err != nil {
		t.Fatal(err)
	}
}

// openPostgres opens a PostgreSQL store in a schema of its own, dropped
// when the test ends; it skips (fails under CI) without a server.
func openPostgres(t testing.TB) store.Store {
	t.Helper()
	dsn, _ := pgtest.Schema(t, pgtest.Base(t), "mrci_test_import_")
	st, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// snapshot is everything an import can change, for "nothing changed"
// comparisons.
type snapshot struct {
	Users    []store.User
	Settings store.Settings
	Ranks    []store.CommandRank
	Bans     []string
	Modules  []string
	Channels []store.Row
	Members  []store.Row
	Subs     []store.Row
	Logs     [][]store.Row
}

func takeSnapshot(t *testing.T, st store.Store) snapshot {
	t.Helper()
	ctx := t.Context()
	var s snapshot
	var err error
	must := func(e error) {
		if e != nil {
			t.Fatal(e)
		}
	}
	s.Users, err = st.UserList(ctx)
	must(err)
	s.Settings, err = st.Settings(ctx)
	must(err)
	s.Ranks, err = st.CommandRanks(ctx)
	must(err)
	s.Bans, err = st.Bans(ctx)
	must(err)
	s.Modules, err = st.Modules(ctx)
	must(err)
	view := func(v store.View) []store.Row {
		rows, err := st.ListView(ctx, v, nil, store.Page{Limit: 1000})
		must(err)
		return rows
	}
	s.Channels = view(store.ViewChannels)
	s.Members = view(store.ViewMembers)
	s.Subs = view(store.ViewSubChannels)
	s.Logs = [][]store.Row{view(store.ViewAuthLog), view(store.ViewActLog), view(store.ViewDebug)}
	return s
}
