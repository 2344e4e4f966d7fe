package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/postgres"
	"github.com/mrci/mrci/internal/store/sqlite"
)

// The host's database is the SQLite file mrci.db in the data directory,
// unless --database (MRCI_DATABASE, the config file key database) names a
// PostgreSQL server: postgres://user@host:5432/db?sslmode=... (any URL
// pgx accepts; the password may also come from PGPASSWORD or ~/.pgpass).
// Every sub-command that opens the store goes through openStore, so
// `mrci accounts`, `mrci files`, ... work on the same database as serve.

// addDatabaseFlags registers the database flags on the root command (every
// sub-command inherits them).
func addDatabaseFlags(root *cobra.Command, o *options) {
	pf := root.PersistentFlags()
	pf.StringVar(&o.database, "database", "", "PostgreSQL URL postgres://user@host:5432/db?sslmode=... to use instead of the SQLite file in the data directory (required for a cluster); env MRCI_DATABASE")
	pf.DurationVar(&o.databaseTimeout, "database-timeout", postgres.DefaultCallTimeout, "PostgreSQL: how long one database call may take before it fails (a database that stops answering fails commands instead of hanging them)")
}

// databaseFlags are the root flags that every sub-command reads from the
// environment and the config file (serve reads all its flags there).
var databaseFlags = []string{"database", "database-timeout"}

// isPostgres reports whether a --database value names a PostgreSQL server.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// checkDatabase validates the --database value.
func (o *options) checkDatabase() error {
	if o.database == "" || isPostgres(o.database) {
		return nil
	}
	return fmt.Errorf("--database %q: want a postgres:// or postgresql:// URL (leave it empty for the SQLite file in the data directory)", redactDSN(o.database))
}

// usesPostgres reports whether the store is PostgreSQL.
func (o *options) usesPostgres() bool { return isPostgres(o.database) }

// databaseName is the database as shown to operators: the SQLite path, or
// the PostgreSQL URL without its password.
func (o *options) databaseName() string {
	if o.usesPostgres() {
		return redactDSN(o.database)
	}
	return o.dbPath()
}

// redactDSN hides the password of a URL.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "(unparsable URL)"
		}
		return dsn
	}
	return u.Redacted()
}

// openStore opens the host's database (PostgreSQL with --database, else
// the SQLite file in the data directory), applying pending migrations.
func (o *options) openStore(ctx context.Context) (store.Store, error) {
	if err := o.checkDatabase(); err != nil {
		return nil, exitError{2, err}
	}
	if o.usesPostgres() {
		st, err := postgres.OpenWith(ctx, o.database, postgres.Options{CallTimeout: o.databaseTimeout})
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", o.databaseName(), err)
		}
		return st, nil
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, o.dbPath())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", o.dbPath(), err)
	}
	return st, nil
}

// databaseExists reports whether the store has been created: always true
// for PostgreSQL (the server holds it), the file's existence for SQLite.
func (o *options) databaseExists() bool {
	if o.usesPostgres() {
		return true
	}
	_, err := os.Stat(o.dbPath())
	return err == nil
}

// applyDatabaseConfig sets the database flags of a sub-command other than
// serve from the environment and the config file (MRCI_CONFIG or mrci.toml
// in the data directory; other keys of the file are serve's and ignored).
func applyDatabaseConfig(cmd *cobra.Command, o *options) error {
	_, err := applyConfigKeys(cmd, configFile(o, ""), databaseFlags)
	return err
}

// startEnv is the environment of a detached `mrci serve`: the database
// goes through the environment, not the command line (ps shows that).
func (o *options) startEnv() []string {
	env := os.Environ()
	if o.database != "" {
		env = append(env, "MRCI_DATABASE="+o.database)
	}
	if o.databaseTimeout != postgres.DefaultCallTimeout {
		env = append(env, "MRCI_DATABASE_TIMEOUT="+o.databaseTimeout.String())
	}
	return env
}
