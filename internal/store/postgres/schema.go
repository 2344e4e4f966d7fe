package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mrci/mrci/internal/store"
)

// migrateLockKey is the pg_advisory_xact_lock key that serialises schema
// migrations of several nodes starting at once ("mrci" in ASCII).
const migrateLockKey int64 = 0x6d726369

// migration is one schema version: its statements run in order, then seed
// (if any) fills initial rows. Migrations are append-only: never edit a
// released one, add a new version instead.
type migration struct {
	version int
	stmts   []string
	seed    func(ctx context.Context, tx pgx.Tx) error
}

// migrations returns the schema history in version order.
//
// The schema mirrors the SQLite one (host.md §12) translated to PostgreSQL:
//   - citext may be missing, so case-insensitive uniqueness uses unique
//     indexes on lower(column), and lookups compare lower() on both sides
//     (which lets them use those indexes). Their names are what the error
//     mapping in this package keys on.
//   - Every table without an integer key of its own has an identity "id"
//     column: the stable, never-reused paging key of the table viewers.
//     channels.channel_id is an identity column too, so ids are never
//     reused.
//   - time_stamp columns are timestamptz truncated to whole seconds (the
//     precision of SQLite's CURRENT_TIMESTAMP).
//   - host_settings has a boolean singleton key so that concurrent saves
//     can upsert the one row.
func migrations() []migration {
	const ts = `time_stamp timestamptz NOT NULL DEFAULT date_trunc('second', now())`
	const id = `id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`
	return []migration{{
		version: 1,
		stmts: []string{
			`CREATE TABLE ip_history (
				` + id + `,
				ip_address text NOT NULL,
				` + ts + `,
				session_id bytea,
				client_app text,
				log_entry text
			)`,
			`CREATE TABLE modules (
				` + id + `,
				module_executable text NOT NULL,
				CONSTRAINT modules_module_executable_key UNIQUE (module_executable)
			)`,
			`CREATE TABLE ban_list (
				` + id + `,
				ip_address text NOT NULL,
				` + ts + `
			)`,
			`CREATE UNIQUE INDEX ban_list_ip_address_key ON ban_list (lower(ip_address))`,
			`CREATE TABLE command_ranks (
				` + id + `,
				command_name text NOT NULL,
				host_rank bigint NOT NULL,
				module_executable text NOT NULL
			)`,
			`CREATE UNIQUE INDEX command_ranks_module_command_key ON command_ranks (module_executable, lower(command_name))`,
			`CREATE TABLE ssl_certs (
				` + id + `,
				common_name text NOT NULL,
				ssl_cert bytea NOT NULL,
				private_key bytea NOT NULL
			)`,
			`CREATE UNIQUE INDEX ssl_certs_common_name_key ON ssl_certs (lower(common_name))`,
			`CREATE TABLE channels (
				channel_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				channel_name text NOT NULL
			)`,
			`CREATE UNIQUE INDEX channels_channel_name_key ON channels (lower(channel_name))`,
			`CREATE TABLE host_debug_messages (
				` + id + `,
				` + ts + `,
				log_entry text
			)`,
			`CREATE TABLE users (
				` + id + `,
				user_id bytea NOT NULL CHECK (octet_length(user_id) = 32),
				user_name text NOT NULL,
				email_address text,
				display_name text,
				password_hash text NOT NULL DEFAULT '',
				` + ts + `,
				new_password_req boolean NOT NULL DEFAULT false,
				new_name_req boolean NOT NULL DEFAULT false,
				locked boolean NOT NULL DEFAULT false,
				email_verified boolean NOT NULL DEFAULT false,
				host_rank bigint NOT NULL DEFAULT 2,
				CONSTRAINT users_user_id_key UNIQUE (user_id)
			)`,
			`CREATE UNIQUE INDEX users_user_name_key ON users (lower(user_name))`,
			`CREATE UNIQUE INDEX users_email_address_key ON users (lower(email_address))`,
			`CREATE TABLE auth_log (
				` + id + `,
				ip_address text NOT NULL,
				` + ts + `,
				user_id bytea NOT NULL,
				auth_attempt boolean NOT NULL DEFAULT false,
				recover_attempt boolean NOT NULL DEFAULT false,
				accepted boolean NOT NULL DEFAULT false,
				count_to_threshold boolean NOT NULL DEFAULT false
			)`,
			`CREATE INDEX auth_log_user_id ON auth_log (user_id)`,
			`CREATE TABLE pw_recovery (
				` + id + `,
				` + ts + `,
				hash text,
				user_id bytea NOT NULL UNIQUE
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE
			)`,
			`CREATE TABLE channel_members (
				` + id + `,
				channel_id bigint NOT NULL
					REFERENCES channels (channel_id) ON DELETE CASCADE ON UPDATE CASCADE,
				user_id bytea NOT NULL
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE,
				pending_invite boolean NOT NULL DEFAULT false,
				access_level smallint NOT NULL DEFAULT 4,
				CONSTRAINT channel_members_channel_user_key UNIQUE (channel_id, user_id)
			)`,
			`CREATE INDEX channel_members_user_id ON channel_members (user_id)`,
			`CREATE TABLE sub_channels (
				channel_id bigint NOT NULL
					REFERENCES channels (channel_id) ON DELETE CASCADE ON UPDATE CASCADE,
				sub_channel_id smallint NOT NULL CHECK (sub_channel_id BETWEEN 0 AND 255),
				sub_channel_name text NOT NULL,
				lowest_access_level smallint NOT NULL DEFAULT 4,
				active_updates boolean NOT NULL DEFAULT false,
				PRIMARY KEY (channel_id, sub_channel_id)
			)`,
			`CREATE UNIQUE INDEX sub_channels_name_key ON sub_channels (channel_id, lower(sub_channel_name))`,
			`CREATE TABLE read_only_flags (
				channel_id bigint NOT NULL
					REFERENCES channels (channel_id) ON DELETE CASCADE ON UPDATE CASCADE,
				sub_channel_id smallint NOT NULL CHECK (sub_channel_id BETWEEN 0 AND 255),
				access_level smallint NOT NULL CHECK (access_level BETWEEN 1 AND 5),
				PRIMARY KEY (channel_id, sub_channel_id, access_level)
			)`,
			`CREATE TABLE host_settings (
				singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
				ip_address text,
				port integer,
				auto_ban_threshold bigint,
				auto_lock_threshold bigint,
				max_sessions bigint,
				allow_public_registrations boolean,
				archiver_executable text,
				compress_command text,
				extract_command text,
				initial_host_rank bigint,
				mailer_executable text,
				mailer_send_command text,
				verify_email_subject text,
				temp_pw_email_subject text,
				verify_email_template text,
				temp_pw_email_template text,
				eable_email_verify boolean,
				enable_pw_reset boolean,
				active_updates boolean,
				max_sub_channels bigint,
				default_password text,
				root_user_id text
			)`,
		},
		seed: func(ctx context.Context, tx pgx.Tx) error {
			return saveSettings(ctx, tx, store.DefaultSettings())
		},
	}, {
		// Account hardening (issue 8): look-alike name keys, failure
		// counters instead of scanning auth_log, limits. See accounts.go.
		version: 2,
		stmts: []string{
			`ALTER TABLE users ADD COLUMN name_key text`,
			`CREATE TABLE account_limits (
				singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
				free_failures bigint NOT NULL,
				first_delay_ms bigint NOT NULL,
				max_delay_ms bigint NOT NULL,
				forget_after_ms bigint NOT NULL,
				max_channels_per_user bigint NOT NULL,
				max_pending_invites bigint NOT NULL,
				max_renames bigint NOT NULL,
				rename_window_ms bigint NOT NULL
			)`,
			`CREATE TABLE auth_counters (
				scope text NOT NULL,
				counter_key text NOT NULL,
				failures bigint NOT NULL DEFAULT 0,
				last_attempt_ms bigint NOT NULL DEFAULT 0,
				PRIMARY KEY (scope, counter_key)
			)`,
			`CREATE TABLE account_quotas (
				user_id bytea NOT NULL
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE,
				kind text NOT NULL,
				window_start_ms bigint NOT NULL,
				used bigint NOT NULL,
				PRIMARY KEY (user_id, kind)
			)`,
			// Un-counting failures after a login touches only counted rows.
			`CREATE INDEX auth_log_counted ON auth_log (user_id) WHERE count_to_threshold`,
			// Counters start from the failures the log still counts.
			`INSERT INTO auth_counters (scope, counter_key, failures, last_attempt_ms)
				SELECT 'user', encode(user_id, 'hex'), COUNT(*),
					(extract(epoch FROM MAX(time_stamp)) * 1000)::bigint
				FROM auth_log WHERE auth_attempt AND count_to_threshold AND NOT accepted
				GROUP BY user_id`,
			`INSERT INTO auth_counters (scope, counter_key, failures, last_attempt_ms)
				SELECT 'user_ip', encode(user_id, 'hex') || ' ' || lower(ip_address), COUNT(*),
					(extract(epoch FROM MAX(time_stamp)) * 1000)::bigint
				FROM auth_log WHERE auth_attempt AND count_to_threshold AND NOT accepted
				GROUP BY user_id, lower(ip_address)`,
		},
		seed: func(ctx context.Context, tx pgx.Tx) error {
			if err := putAccountLimits(ctx, tx, store.DefaultAccountLimits()); err != nil {
				return err
			}
			if err := seedNameKeys(ctx, tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `CREATE UNIQUE INDEX users_name_key_key ON users (name_key)`)
			return err
		},
	}, {
		// 3: host administration settings (admin.go).
		version: 3,
		stmts: []string{
			`CREATE TABLE admin_settings (
				id integer PRIMARY KEY CHECK (id = 1),
				cert_auto_generate boolean NOT NULL DEFAULT true,
				log_retention_days bigint NOT NULL DEFAULT 0,
				ban_ends_sessions boolean NOT NULL DEFAULT true
			)`,
			`INSERT INTO admin_settings (id) VALUES (1)`,
			`CREATE INDEX ip_history_time_stamp ON ip_history (time_stamp)`,
			`CREATE INDEX auth_log_time_stamp ON auth_log (time_stamp)`,
			`CREATE INDEX host_debug_messages_time_stamp ON host_debug_messages (time_stamp)`,
		},
	}, {
		// Version 4: e-mail verification and password recovery (issue 11),
		// as in the SQLite schema.
		version: 4,
		stmts: []string{
			`CREATE TABLE email_settings (
				key text PRIMARY KEY,
				value text NOT NULL
			)`,
			`CREATE TABLE email_codes (
				user_id bytea PRIMARY KEY
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE,
				code_hash text NOT NULL,
				expires_at bigint NOT NULL,
				attempts integer NOT NULL DEFAULT 0
			)`,
		},
	}, {
		// 5: settings of the file-system commands (store/files.go).
		version: 5,
		stmts: []string{
			`CREATE TABLE files_settings (
				singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
				root text NOT NULL DEFAULT '',
				homes boolean NOT NULL DEFAULT false,
				quota bigint NOT NULL DEFAULT 0 CHECK (quota >= 0),
				unconfined boolean NOT NULL DEFAULT false
			)`,
			`INSERT INTO files_settings (singleton) VALUES (true)`,
		},
	}, {
		// Issue 8: connection admission settings (store.AdmissionSettings);
		// no row means the defaults.
		version: 7,
		stmts: []string{
			`CREATE TABLE admission_settings (
				id integer PRIMARY KEY CHECK (id = 1),
				max_pending bigint NOT NULL,
				max_pending_per_addr bigint NOT NULL,
				conn_rate_per_addr double precision NOT NULL,
				conn_burst_per_addr bigint NOT NULL,
				limit_loopback boolean NOT NULL
			)`,
		},
	}, {
		// Import from the original host (issue 15): per source database and
		// log table, the rowid of the last imported row.
		version: 8,
		stmts: []string{
			`CREATE TABLE original_import_marks (
				source text NOT NULL,
				log text NOT NULL,
				last_rowid bigint NOT NULL,
				PRIMARY KEY (source, log)
			)`,
		},
	}, {
		// Issue 8: pending password answers (claimed by BeginAuth, not yet
		// answered by FailAuth or PassAuth) are counted apart from
		// failures: the lock threshold counts both, the delays failures only.
		version: 9,
		stmts: []string{
			`ALTER TABLE auth_counters ADD COLUMN pending bigint NOT NULL DEFAULT 0`,
		},
	}}
}

// MigrationVersions returns the version of every migration, in order
// (versions are unique and ascending but need not be contiguous).
func MigrationVersions() []int {
	var v []int
	for _, m := range migrations() {
		v = append(v, m.version)
	}
	return v
}

// LatestSchemaVersion returns the schema version this package migrates to.
func LatestSchemaVersion() int {
	m := migrations()
	return m[len(m)-1].version
}

// migrate brings the schema (in the first schema of search_path) up to date
// in one transaction. A transaction-scoped advisory lock makes concurrent
// nodes wait for each other; the version is read after taking the lock.
func migrate(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: read version: %w", err)
	}
	for _, m := range migrations() {
		if m.version <= current {
			continue
		}
		for _, s := range m.stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("store: migrate to version %d: %w", m.version, err)
			}
		}
		if m.seed != nil {
			if err := m.seed(ctx, tx); err != nil {
				return fmt.Errorf("store: migrate to version %d: seed: %w", m.version, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("store: migrate to version %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersions returns the applied schema versions in ascending order.
func (s *Store) SchemaVersions(ctx context.Context) ([]int, error) {
	rows, err := s.db.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("store: schema versions: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("store: schema versions: %w", err)
	}
	return out, nil
}
