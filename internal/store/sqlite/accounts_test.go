package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// TestMigration2UpgradesExistingAccounts builds a version-1 database with
// accounts whose names already look alike and counted failures in the
// log, then opens it: migration 2 must compute every name key (keeping
// both look-alikes usable), build the unique index and start the failure
// counters from the log.
func TestMigration2UpgradesExistingAccounts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?"+dsnParams+"&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := migrations()[0]
	for _, s := range append([]string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
		applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`}, v1.stmts...) {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := v1.seed(ctx, tx); err != nil {
		t.Fatal(err)
	}
	id := func(b byte) wire.UserID { var u wire.UserID; u[0] = b; return u }
	for i, name := range []string{"root", "rооt", "alice"} {
		u := id(byte(i + 1))
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (user_id, user_name) VALUES (?, ?)`, u[:], name); err != nil {
			t.Fatal(err)
		}
	}
	alice := id(3)
	for range 4 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt, count_to_threshold)
			VALUES ('10.0.0.1', ?, 1, 1)`, alice[:]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersions(ctx); !slices.Equal(v, MigrationVersions()) {
		t.Fatalf("versions = %v", v)
	}
	// The first look-alike owns the key; both accounts remain.
	got, err := s.UserByNameKey(ctx, validate.NameKey("root"))
	if err != nil || got.ID != id(1) {
		t.Fatalf("UserByNameKey(root) = %x, %v; want the first account", got.ID[:1], err)
	}
	if _, err := s.UserByName(ctx, "rооt"); err != nil {
		t.Fatalf("pre-existing look-alike lost: %v", err)
	}
	// No third look-alike can be added.
	if err := s.CreateUser(ctx, store.User{ID: id(9), Name: "ROOT", PasswordHash: "x"}); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("CreateUser(ROOT) = %v, want taken", err)
	}
	// alice's 4 counted failures carried over: with a threshold of 4 the
	// next claim is allowed (4 is not above 4) and its failure locks.
	c := store.AuthClaim{User: alice, IP: "10.0.0.1", LockAbove: 4, Now: time.Now(), Limits: store.AccountLimits{FreeFailures: 100}}
	if tk, err := s.BeginAuth(ctx, c); err != nil || tk.Verdict != store.AuthAllowed {
		t.Fatalf("BeginAuth = %+v, %v", tk, err)
	}
	if r, err := s.FailAuth(ctx, c); err != nil || r.Failures != 5 || !r.Locked {
		t.Fatalf("FailAuth = %+v, %v; want 5 failures, locked", r, err)
	}
}

// TestMainDatabaseIsDurable: the write connection runs with
// synchronous=FULL (2), so acknowledged commits survive a power loss.
func TestMainDatabaseIsDurable(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.w.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Fatalf("synchronous = %d, want 2 (FULL)", mode)
	}
}
