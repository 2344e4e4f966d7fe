package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/mrci/mrci/internal/store"
)

// migration is one schema version: its statements run in order, then seed
// (if any) fills initial rows. Migrations are append-only: never edit a
// released one, add a new version instead.
type migration struct {
	version int
	stmts   []string
	seed    func(ctx context.Context, tx *sql.Tx) error
}

// migrations returns the schema history in version order.
//
// Notes on the schema (host.md §12):
//   - Every table that has no integer key of its own gets an
//     "id INTEGER PRIMARY KEY AUTOINCREMENT" column: it is the stable,
//     never-reused paging key of the table viewers (a plain rowid may be
//     reused after deleting the last row and renumbered by VACUUM). The
//     natural keys of the original (users.user_id, ban_list.ip_address,
//     ssl_certs.common_name, ...) are NOT NULL UNIQUE candidate keys.
//   - channels.channel_id is AUTOINCREMENT so ids are never reused.
//   - time_stamp columns hold UTC "YYYY-MM-DD HH:MM:SS" text
//     (CURRENT_TIMESTAMP); booleans are 0/1 integers.
//   - users keeps an argon2id encoded string in password_hash instead of
//     the original's hash/salt blobs.
func migrations() []migration {
	return []migration{{
		version: 1,
		stmts: []string{
			`CREATE TABLE ip_history (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				ip_address TEXT NOT NULL COLLATE NOCASE,
				time_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
				session_id BLOB,
				client_app,
				log_entry TEXT COLLATE NOCASE
			)`,
			`CREATE TABLE modules (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				module_executable TEXT NOT NULL UNIQUE
			)`,
			`CREATE TABLE ban_list (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				ip_address TEXT NOT NULL COLLATE NOCASE UNIQUE,
				time_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
			)`,
			`CREATE TABLE command_ranks (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				command_name TEXT NOT NULL COLLATE NOCASE,
				host_rank INTEGER NOT NULL,
				module_executable TEXT NOT NULL,
				UNIQUE (module_executable, command_name)
			)`,
			`CREATE TABLE ssl_certs (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				common_name TEXT NOT NULL COLLATE NOCASE UNIQUE,
				ssl_cert BLOB NOT NULL,
				private_key BLOB NOT NULL
			)`,
			`CREATE TABLE channels (
				channel_id INTEGER PRIMARY KEY AUTOINCREMENT,
				channel_name TEXT NOT NULL COLLATE NOCASE UNIQUE
			)`,
			`CREATE TABLE host_debug_messages (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				time_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
				log_entry TEXT COLLATE NOCASE
			)`,
			`CREATE TABLE users (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				user_id BLOB NOT NULL UNIQUE CHECK (length(user_id) = 32),
				user_name TEXT NOT NULL COLLATE NOCASE UNIQUE,
				email_address TEXT COLLATE NOCASE UNIQUE,
				display_name TEXT COLLATE NOCASE,
				password_hash TEXT NOT NULL DEFAULT '',
				time_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
				new_password_req BOOL NOT NULL DEFAULT 0,
				new_name_req BOOL NOT NULL DEFAULT 0,
				locked BOOL NOT NULL DEFAULT 0,
				email_verified BOOL NOT NULL DEFAULT 0,
				host_rank INTEGER NOT NULL DEFAULT 2
			)`,
			`CREATE TABLE auth_log (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				ip_address TEXT NOT NULL COLLATE NOCASE,
				time_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
				user_id BLOB NOT NULL,
				auth_attempt BOOL NOT NULL DEFAULT 0,
				recover_attempt BOOL NOT NULL DEFAULT 0,
				accepted BOOL NOT NULL DEFAULT 0,
				count_to_threshold BOOL NOT NULL DEFAULT 0
			)`,
			`CREATE INDEX auth_log_user_id ON auth_log (user_id)`,
			`CREATE TABLE pw_recovery (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				time_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
				hash TEXT,
				user_id BLOB NOT NULL UNIQUE
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE
			)`,
			`CREATE TABLE channel_members (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				channel_id INTEGER NOT NULL
					REFERENCES channels (channel_id) ON DELETE CASCADE ON UPDATE CASCADE,
				user_id BLOB NOT NULL
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE,
				pending_invite BOOL NOT NULL DEFAULT 0,
				access_level INTEGER NOT NULL DEFAULT 4,
				UNIQUE (channel_id, user_id)
			)`,
			`CREATE INDEX channel_members_user_id ON channel_members (user_id)`,
			`CREATE TABLE sub_channels (
				channel_id INTEGER NOT NULL
					REFERENCES channels (channel_id) ON DELETE CASCADE ON UPDATE CASCADE,
				sub_channel_id INTEGER NOT NULL CHECK (sub_channel_id BETWEEN 0 AND 255),
				sub_channel_name TEXT NOT NULL COLLATE NOCASE,
				lowest_access_level INTEGER NOT NULL DEFAULT 4,
				active_updates BOOL NOT NULL DEFAULT 0,
				PRIMARY KEY (channel_id, sub_channel_id),
				UNIQUE (channel_id, sub_channel_name)
			)`,
			`CREATE TABLE read_only_flags (
				channel_id INTEGER NOT NULL
					REFERENCES channels (channel_id) ON DELETE CASCADE ON UPDATE CASCADE,
				sub_channel_id INTEGER NOT NULL CHECK (sub_channel_id BETWEEN 0 AND 255),
				access_level INTEGER NOT NULL CHECK (access_level BETWEEN 1 AND 5),
				PRIMARY KEY (channel_id, sub_channel_id, access_level)
			)`,
			`CREATE TABLE host_settings (
				ip_address TEXT,
				port INTEGER,
				auto_ban_threshold INTEGER,
				auto_lock_threshold INTEGER,
				max_sessions INTEGER,
				allow_public_registrations BOOL,
				archiver_executable TEXT,
				compress_command TEXT,
				extract_command TEXT,
				initial_host_rank INTEGER,
				mailer_executable TEXT,
				mailer_send_command TEXT,
				verify_email_subject TEXT,
				temp_pw_email_subject TEXT,
				verify_email_template TEXT,
				temp_pw_email_template TEXT,
				eable_email_verify BOOL,
				enable_pw_reset BOOL,
				active_updates BOOL,
				max_sub_channels INTEGER,
				default_password,
				root_user_id TEXT
			)`,
		},
		seed: func(ctx context.Context, tx *sql.Tx) error {
			return insertSettings(ctx, tx, store.DefaultSettings())
		},
	}, {
		// Account hardening (issue 8): look-alike name keys, failure
		// counters instead of scanning auth_log, limits. See accounts.go.
		version: 2,
		stmts: []string{
			`ALTER TABLE users ADD COLUMN name_key TEXT`,
			`CREATE TABLE account_limits (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				free_failures INTEGER NOT NULL,
				first_delay_ms INTEGER NOT NULL,
				max_delay_ms INTEGER NOT NULL,
				forget_after_ms INTEGER NOT NULL,
				max_channels_per_user INTEGER NOT NULL,
				max_pending_invites INTEGER NOT NULL,
				max_renames INTEGER NOT NULL,
				rename_window_ms INTEGER NOT NULL
			)`,
			`CREATE TABLE auth_counters (
				scope TEXT NOT NULL,
				counter_key TEXT NOT NULL,
				failures INTEGER NOT NULL DEFAULT 0,
				last_attempt_ms INTEGER NOT NULL DEFAULT 0,
				PRIMARY KEY (scope, counter_key)
			) WITHOUT ROWID`,
			`CREATE TABLE account_quotas (
				user_id BLOB NOT NULL
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE,
				kind TEXT NOT NULL,
				window_start_ms INTEGER NOT NULL,
				used INTEGER NOT NULL,
				PRIMARY KEY (user_id, kind)
			)`,
			// Un-counting failures after a login touches only counted rows.
			`CREATE INDEX auth_log_counted ON auth_log (user_id) WHERE count_to_threshold = 1`,
			// Counters start from the failures the log still counts.
			`INSERT INTO auth_counters (scope, counter_key, failures, last_attempt_ms)
				SELECT 'user', lower(hex(user_id)), COUNT(*),
					CAST(strftime('%s', MAX(time_stamp)) AS INTEGER) * 1000
				FROM auth_log WHERE auth_attempt = 1 AND count_to_threshold = 1 AND accepted = 0
				GROUP BY user_id`,
			`INSERT INTO auth_counters (scope, counter_key, failures, last_attempt_ms)
				SELECT 'user_ip', lower(hex(user_id)) || ' ' || lower(ip_address), COUNT(*),
					CAST(strftime('%s', MAX(time_stamp)) AS INTEGER) * 1000
				FROM auth_log WHERE auth_attempt = 1 AND count_to_threshold = 1 AND accepted = 0
				GROUP BY user_id, lower(ip_address)`,
		},
		seed: func(ctx context.Context, tx *sql.Tx) error {
			if err := putAccountLimits(ctx, tx, store.DefaultAccountLimits()); err != nil {
				return err
			}
			if err := seedNameKeys(ctx, tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX users_name_key ON users (name_key)`)
			return err
		},
	}, {
		// 3: host administration settings (admin.go).
		version: 3,
		stmts: []string{
			`CREATE TABLE admin_settings (
				id INTEGER PRIMARY KEY CHECK (id = 1),
				cert_auto_generate BOOL NOT NULL DEFAULT 1,
				log_retention_days INTEGER NOT NULL DEFAULT 0,
				ban_ends_sessions BOOL NOT NULL DEFAULT 1
			)`,
			`INSERT INTO admin_settings (id) VALUES (1)`,
			`CREATE INDEX ip_history_time_stamp ON ip_history (time_stamp)`,
			`CREATE INDEX auth_log_time_stamp ON auth_log (time_stamp)`,
			`CREATE INDEX host_debug_messages_time_stamp ON host_debug_messages (time_stamp)`,
		},
	}, {
		// Version 4: e-mail verification and password recovery (issue 11).
		// Mail settings are key/value rows; verification codes are stored
		// hashed with a UTC expiry in unix seconds; temporary passwords use
		// the existing pw_recovery table.
		version: 4,
		stmts: []string{
			`CREATE TABLE email_settings (
				key TEXT PRIMARY KEY,
				value TEXT NOT NULL
			)`,
			`CREATE TABLE email_codes (
				user_id BLOB PRIMARY KEY
					REFERENCES users (user_id) ON DELETE CASCADE ON UPDATE CASCADE,
				code_hash TEXT NOT NULL,
				expires_at INTEGER NOT NULL,
				attempts INTEGER NOT NULL DEFAULT 0
			)`,
		},
	}, {
		// 5: settings of the file-system commands (store/files.go).
		version: 5,
		stmts: []string{
			`CREATE TABLE files_settings (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				root TEXT NOT NULL DEFAULT '',
				homes BOOL NOT NULL DEFAULT 0,
				quota INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),
				unconfined BOOL NOT NULL DEFAULT 0
			)`,
			`INSERT INTO files_settings (singleton) VALUES (1)`,
		},
	}, {
		// Issue 8: connection admission settings (store.AdmissionSettings);
		// no row means the defaults.
		version: 7,
		stmts: []string{
			`CREATE TABLE admission_settings (
				id INTEGER PRIMARY KEY CHECK (id = 1),
				max_pending INTEGER NOT NULL,
				max_pending_per_addr INTEGER NOT NULL,
				conn_rate_per_addr REAL NOT NULL,
				conn_burst_per_addr INTEGER NOT NULL,
				limit_loopback BOOL NOT NULL
			)`,
		},
	}, {
		// Import from the original host (issue 15): per source database and
		// log table, the rowid of the last imported row.
		version: 8,
		stmts: []string{
			`CREATE TABLE original_import_marks (
				source TEXT NOT NULL,
				log TEXT NOT NULL,
				last_rowid INTEGER NOT NULL,
				PRIMARY KEY (source, log)
			)`,
		},
	}, {
		// Issue 8: pending password answers (claimed by BeginAuth, not yet
		// answered by FailAuth or PassAuth) are counted apart from
		// failures: the lock threshold counts both, the delays failures only.
		version: 9,
		stmts: []string{
			`ALTER TABLE auth_counters ADD COLUMN pending INTEGER NOT NULL DEFAULT 0`,
		},
	}}
}

// migrate brings the schema up to date inside one write transaction
// (BEGIN IMMEDIATE, so concurrent openers of the same file serialise and
// the second sees the first one's versions).
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
	)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: read version: %w", err)
	}
	for _, m := range migrations() {
		if m.version <= current {
			continue
		}
		for _, s := range m.stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("store: migrate to version %d: %w", m.version, err)
			}
		}
		if m.seed != nil {
			if err := m.seed(ctx, tx); err != nil {
				return fmt.Errorf("store: migrate to version %d: seed: %w", m.version, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.version); err != nil {
			return fmt.Errorf("store: migrate to version %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
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

// SchemaVersions returns the applied schema versions in ascending order.
func (s *Store) SchemaVersions(ctx context.Context) ([]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("store: schema versions: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: schema versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: schema versions: %w", err)
	}
	return out, nil
}
