// Package pgtest gives tests a PostgreSQL schema of their own on the test
// server (MRCI_TEST_POSTGRES_DSN, default the local database `test`), so
// packages that test against PostgreSQL share one way to reach it.
package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mrci/mrci/internal/store/postgres/pgschema"
)

// DefaultDSN is the test server when MRCI_TEST_POSTGRES_DSN is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Base returns the DSN of the test server after checking that it answers.
// Without a server the test fails when CI is set (a missing service never
// passes silently there) and is skipped otherwise.
func Base(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("MRCI_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = DefaultDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		msg := "PostgreSQL test server unreachable at " + pgschema.Redact(dsn) + " (set MRCI_TEST_POSTGRES_DSN): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// Schema creates a uniquely named schema (prefix + random hex) on the
// server base names, dropped when the test ends, and returns a DSN whose
// connections use it (search_path) and the schema's name.
func Schema(t testing.TB, base, prefix string) (dsn, schema string) {
	t.Helper()
	dsn, schema, drop, err := pgschema.Create(context.Background(), base, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return dsn, schema
}

// Redact hides a password in a URL DSN.
func Redact(dsn string) string { return pgschema.Redact(dsn) }
