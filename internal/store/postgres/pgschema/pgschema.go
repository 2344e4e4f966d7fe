// Package pgschema makes scratch schemas on a PostgreSQL server: a schema
// with a random name and a DSN whose connections use it, for tests
// (through pgtest) and for the load tool's cluster mode, which both need
// a database of their own on a shared server.
package pgschema

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// opTimeout bounds one statement (its connection included).
const opTimeout = 30 * time.Second

// Create creates a schema named prefix plus random hex on the server base
// names. It returns a DSN whose connections use the schema (search_path),
// the schema's name and a function that drops it with everything in it.
func Create(ctx context.Context, base, prefix string) (dsn, schema string, drop func(context.Context) error, err error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", nil, err
	}
	schema = prefix + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	if err := exec(ctx, base, "CREATE SCHEMA "+ident); err != nil {
		return "", "", nil, fmt.Errorf("create schema %s on %s: %w", schema, Redact(base), err)
	}
	drop = func(ctx context.Context) error {
		if err := exec(ctx, base, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	return WithSearchPath(base, schema), schema, drop, nil
}

// exec runs one statement on a connection of its own.
func exec(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// WithSearchPath returns dsn (URL or key=value form) with the search_path
// run-time parameter set to schema.
func WithSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redact hides a password in a URL DSN; text that is not a URL is
// returned as it is.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	return u.Redacted()
}
