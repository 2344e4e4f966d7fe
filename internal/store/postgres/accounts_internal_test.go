package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// TestMigration2UpgradesExistingAccounts builds a version-1 schema with
// accounts whose names already look alike and counted failures in the
// log, then opens it: migration 2 must compute every name key (keeping
// both look-alikes usable), build the unique index and start the failure
// counters from the log. It needs the test server (see postgres_test.go).
func TestMigration2UpgradesExistingAccounts(t *testing.T) {
	base := os.Getenv("MRCI_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("PostgreSQL test server unreachable:", err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "mrci_test_" + hex.EncodeToString(b[:])
	schema := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	v1 := migrations()[0]
	for _, s := range append([]string{`CREATE TABLE schema_migrations (version integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`}, v1.stmts...) {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := v1.seed(ctx, tx); err != nil {
		t.Fatal(err)
	}
	id := func(b byte) wire.UserID { var u wire.UserID; u[0] = b; return u }
	for i, name := range []string{"root", "rооt", "alice"} {
		u := id(byte(i + 1))
		if _, err := tx.Exec(ctx, `INSERT INTO users (user_id, user_name) VALUES ($1, $2)`, u[:], name); err != nil {
			t.Fatal(err)
		}
	}
	alice := id(3)
	for range 4 {
		if _, err := tx.Exec(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt, count_to_threshold)
			VALUES ('10.0.0.1', $1, true, true)`, alice[:]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	s, err := OpenConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersions(ctx); !slices.Equal(v, MigrationVersions()) {
		t.Fatalf("versions = %v", v)
	}
	got, err := s.UserByNameKey(ctx, validate.NameKey("root"))
	if err != nil || got.ID != id(1) {
		t.Fatalf("UserByNameKey(root) = %x, %v; want the first account", got.ID[:1], err)
	}
	if _, err := s.UserByName(ctx, "rооt"); err != nil {
		t.Fatalf("pre-existing look-alike lost: %v", err)
	}
	if err := s.CreateUser(ctx, store.User{ID: id(9), Name: "ROOT", PasswordHash: "x"}); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("CreateUser(ROOT) = %v, want taken", err)
	}
	c := store.AuthClaim{User: alice, IP: "10.0.0.1", LockAbove: 4, Now: time.Now(), Limits: store.AccountLimits{FreeFailures: 100}}
	if tk, err := s.BeginAuth(ctx, c); err != nil || tk.Verdict != store.AuthAllowed {
		t.Fatalf("BeginAuth = %+v, %v", tk, err)
	}
	if r, err := s.FailAuth(ctx, c); err != nil || r.Failures != 5 || !r.Locked {
		t.Fatalf("FailAuth = %+v, %v; want 5 failures, locked", r, err)
	}
}
