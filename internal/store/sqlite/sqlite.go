// Package sqlite is the embedded SQLite backend of package store, built on
// the pure-Go driver modernc.org/sqlite.
//
// Connection handling: SQLite allows many concurrent readers but only one
// writer per database file. Store therefore keeps two pools on the same
// file in WAL mode:
//
//   - a write pool limited to one connection, whose transactions start with
//     BEGIN IMMEDIATE; every statement that modifies data goes through it,
//     so writers of this process queue in Go instead of failing with
//     SQLITE_BUSY, and a transaction that reads before it writes can never
//     hit a lock upgrade error (SQLITE_BUSY_SNAPSHOT);
//   - a read pool with several query_only connections; in WAL mode readers
//     never block the writer nor each other, and each statement sees the
//     latest committed data.
//
// A busy timeout of five seconds covers other processes writing the same
// file. Commits are durable: synchronous=FULL (see syncFull). Foreign
// keys are enabled on every connection. The special path ":memory:" opens
// a private in-memory database on a single connection.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	w *sql.DB // one connection: every write
	r *sql.DB // read pool (may be w for in-memory databases)
}

var _ store.Store = (*Store)(nil)

// common DSN parameters of every connection.
const dsnParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"

// syncFull is the durability of the main database: with synchronous=FULL
// in WAL mode every commit syncs the WAL to disk before it returns, so an
// acknowledged change survives a power loss (issue 8, defect 11; NORMAL
// syncs only at checkpoints and may lose the last commits). Log rows do
// not pay for it per row: the host writes them in batches, one
// transaction (one sync) per batch. Measured in docs/benchmarks.md.
const syncFull = "FULL"

// Open opens (creating if needed) the database file at path, applies pending
// migrations and returns the store.
func Open(ctx context.Context, path string) (*Store, error) {
	return openRetrying(ctx, path, syncFull)
}

// openBusyWindow bounds how long Open retries a database that another
// connection is creating or converting to WAL mode.
const openBusyWindow = 10 * time.Second

// openRetrying is open, retried while the file is busy. Switching a new
// file to WAL mode takes an exclusive lock for which SQLite does not call
// the busy handler, so two processes (or stores) opening the same new
// file at once can get SQLITE_BUSY from the first statement; the other
// opener finishes in milliseconds, so a short back-off is enough.
func openRetrying(ctx context.Context, path, syncMode string) (*Store, error) {
	deadline := time.Now().Add(openBusyWindow)
	wait := 5 * time.Millisecond
	for {
		s, err := open(ctx, path, syncMode)
		if err == nil || sqliteCode(err)&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return s, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("store: open sqlite %s: %w (gave up: %w)", path, err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// open is Open with the synchronous mode (benchmarks compare modes).
func open(ctx context.Context, path, syncMode string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open sqlite: empty path")
	}
	dsnParams := dsnParams + "&_pragma=synchronous(" + syncMode + ")"
	var s Store
	if path == ":memory:" {
		db, err := sql.Open("sqlite", "file::memory:?"+dsnParams+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.w, s.r = db, db
	} else {
		name := "file:" + escapePath(path) + "?" + dsnParams
		w, err := sql.Open("sqlite", name+"&_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		s.w = w
		// The write connection must exist first: it switches the file to
		// WAL mode, which the read-only connections cannot do.
		if err := w.PingContext(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
		}
		r, err := sql.Open("sqlite", name+"&_pragma=query_only(1)")
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		s.r = r
	}
	if err := migrate(ctx, s.w); err != nil {
		s.Close()
		return nil, err
	}
	return &s, nil
}

// escapePath percent-encodes the characters that are special in an SQLite
// URI file name.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Close closes both pools.
func (s *Store) Close() error {
	var err error
	if s.r != nil && s.r != s.w {
		err = s.r.Close()
	}
	if s.w != nil {
		err = errors.Join(err, s.w.Close())
	}
	return err
}

// ---- error mapping ----

// sqliteCode returns the extended result code of a driver error, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// uniqueViolation reports whether err is a UNIQUE/PRIMARY KEY violation and
// returns the driver message, which names the table.column list.
func uniqueViolation(err error) (string, bool) {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return err.Error(), true
	}
	return "", false
}

// fkViolation reports whether err is a FOREIGN KEY violation.
func fkViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// wrap adds the operation context to an unexpected error.
func wrap(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, err)
}

// affected returns ErrNotFound when a write touched no row.
func affected(op string, res sql.Result, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ts formats a time for a time_stamp column (UTC, whole seconds).
func ts(t time.Time) string { return t.UTC().Format(store.TimeLayout) }

// parseTS parses a time_stamp column read through tsExpr.
func parseTS(s string) (time.Time, error) {
	return time.ParseInLocation(store.TimeLayout, s, time.UTC)
}

// tsExpr renders a time_stamp column as UTC "YYYY-MM-DD HH:MM:SS" text.
func tsExpr(col string) string {
	return "COALESCE(strftime('%Y-%m-%d %H:%M:%S', " + col + "), '')"
}

// ---- settings ----

const settingsCols = `ip_address, port, auto_ban_threshold, auto_lock_threshold,
	max_sessions, allow_public_registrations, initial_host_rank, mailer_executable,
	mailer_send_command, verify_email_subject, temp_pw_email_subject,
	verify_email_template, temp_pw_email_template, eable_email_verify,
	enable_pw_reset, active_updates, max_sub_channels, default_password, root_user_id`

// settingsPlaceholders has one "?" per column of settingsCols.
var settingsPlaceholders = strings.TrimSuffix(strings.Repeat("?, ", strings.Count(settingsCols, ",")+1), ", ")

// settingsArgs returns the values of settingsCols in order.
func settingsArgs(st store.Settings) []any {
	return []any{
		st.ListenAddress, int64(st.ListenPort), int64(st.AutoBanThreshold), int64(st.AutoLockThreshold),
		int64(st.MaxSessions), st.AllowPublicRegistrations, int64(st.InitialHostRank), st.MailerExecutable,
		st.MailerSendCommand, st.VerifyEmailSubject, st.TempPwEmailSubject,
		st.VerifyEmailTemplate, st.TempPwEmailTemplate, st.EnableEmailVerify,
		st.EnablePwReset, st.ActiveUpdates, int64(st.MaxSubChannels), nullString(st.DefaultPassword), nullString(store.RootHex(st.RootUserID)),
	}
}

// insertSettings inserts a settings row.
func insertSettings(ctx context.Context, tx *sql.Tx, st store.Settings) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO host_settings (`+settingsCols+`)
		VALUES (`+settingsPlaceholders+`)`, settingsArgs(st)...)
	return err
}

// Settings returns the host settings; NULL or missing values are defaults.
func (s *Store) Settings(ctx context.Context) (store.Settings, error) {
	var (
		addr, mailExe, mailCmd, vSubj, tSubj, vTpl, tTpl, defPw, rootID sql.NullString
		port, ban, lock, maxSes, rank, maxSub                           sql.NullInt64
		pubReg, emailVerify, pwReset, active                            sql.NullBool
	)
	err := s.r.QueryRowContext(ctx, `SELECT `+settingsCols+` FROM host_settings ORDER BY rowid LIMIT 1`).Scan(
		&addr, &port, &ban, &lock, &maxSes, &pubReg, &rank, &mailExe, &mailCmd, &vSubj, &tSubj,
		&vTpl, &tTpl, &emailVerify, &pwReset, &active, &maxSub, &defPw, &rootID)
	st := store.DefaultSettings()
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return store.Settings{}, wrap("settings", err)
	}
	fillSettings(&st, addr, mailExe, mailCmd, vSubj, tSubj, vTpl, tTpl, defPw)
	if rootID.Valid {
		st.RootUserID = store.ParseRootHex(rootID.String)
	}
	if port.Valid {
		st.ListenPort = uint16(port.Int64)
	}
	setU32(&st.AutoBanThreshold, ban)
	setU32(&st.AutoLockThreshold, lock)
	setU32(&st.MaxSessions, maxSes)
	setU32(&st.InitialHostRank, rank)
	setU32(&st.MaxSubChannels, maxSub)
	setBool(&st.AllowPublicRegistrations, pubReg)
	setBool(&st.EnableEmailVerify, emailVerify)
	setBool(&st.EnablePwReset, pwReset)
	setBool(&st.ActiveUpdates, active)
	return st, nil
}

// fillSettings copies the non-NULL text columns into st.
func fillSettings(st *store.Settings, addr, mailExe, mailCmd, vSubj, tSubj, vTpl, tTpl, defPw sql.NullString) {
	for _, f := range []struct {
		dst *string
		v   sql.NullString
	}{
		{&st.ListenAddress, addr}, {&st.MailerExecutable, mailExe}, {&st.MailerSendCommand, mailCmd},
		{&st.VerifyEmailSubject, vSubj}, {&st.TempPwEmailSubject, tSubj},
		{&st.VerifyEmailTemplate, vTpl}, {&st.TempPwEmailTemplate, tTpl}, {&st.DefaultPassword, defPw},
	} {
		if f.v.Valid {
			*f.dst = f.v.String
		}
	}
}

func setU32(dst *uint32, v sql.NullInt64) {
	if v.Valid {
		*dst = uint32(v.Int64)
	}
}

func setBool(dst *bool, v sql.NullBool) {
	if v.Valid {
		*dst = v.Bool
	}
}

// SaveSettings replaces the host settings row.
func (s *Store) SaveSettings(ctx context.Context, st store.Settings) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("save settings", err)
	}
	defer tx.Rollback()
	// Update in place so that columns this package does not manage (the
	// original's unused archiver settings) survive; insert if the row is
	// missing. The write connection serialises concurrent saves.
	res, err := tx.ExecContext(ctx, `UPDATE host_settings SET (`+settingsCols+`) =
		(`+settingsPlaceholders+`)
		WHERE rowid = (SELECT MIN(rowid) FROM host_settings)`, settingsArgs(st)...)
	if err != nil {
		return wrap("save settings", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("save settings", err)
	} else if n == 0 {
		if err := insertSettings(ctx, tx, st); err != nil {
			return wrap("save settings", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("save settings", err)
	}
	return nil
}

// ---- users ----

const userCols = `user_id, user_name, COALESCE(email_address, ''), COALESCE(display_name, ''),
	COALESCE(password_hash, ''), COALESCE(host_rank, 0), COALESCE(locked, 0),
	COALESCE(new_password_req, 0), COALESCE(new_name_req, 0), COALESCE(email_verified, 0),
	strftime('%Y-%m-%d %H:%M:%S', time_stamp)`

// userErr maps a constraint violation of the users table.
func userErr(op string, err error) error {
	if msg, ok := uniqueViolation(err); ok {
		switch {
		case strings.Contains(msg, "users.user_name"):
			return store.ErrNameTaken
		case strings.Contains(msg, "users.name_key"):
			return store.ErrNameConfusable
		case strings.Contains(msg, "users.email_address"):
			return store.ErrEmailTaken
		default:
			return store.ErrExists
		}
	}
	return wrap(op, err)
}

// CreateUser inserts an account. A zero Created means now.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	var created any
	if !u.Created.IsZero() {
		created = ts(u.Created)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (user_id, user_name, email_address,
		display_name, password_hash, host_rank, locked, new_password_req, new_name_req,
		email_verified, time_stamp, name_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP), ?)`,
		u.ID[:], u.Name, nullString(u.Email), u.DisplayName, u.PasswordHash, int64(u.Rank),
		u.Locked, u.NewPasswordReq, u.NewNameReq, u.EmailVerified, created, validate.NameKey(u.Name))
	if err != nil {
		return userErr("create user", err)
	}
	return nil
}

// scanUser reads one row of userCols.
func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var (
		u       store.User
		id      []byte
		created sql.NullString
	)
	err := row.Scan(&id, &u.Name, &u.Email, &u.DisplayName, &u.PasswordHash, &u.Rank,
		&u.Locked, &u.NewPasswordReq, &u.NewNameReq, &u.EmailVerified, &created)
	if err != nil {
		return store.User{}, err
	}
	if len(id) != wire.UserIDLen {
		return store.User{}, fmt.Errorf("user id of %d bytes", len(id))
	}
	copy(u.ID[:], id)
	if created.Valid {
		if u.Created, err = parseTS(created.String); err != nil {
			return store.User{}, err
		}
	}
	return u, nil
}

// userBy returns the user matching the condition.
func (s *Store) userBy(ctx context.Context, op, cond string, arg any) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	return u, nil
}

// UserByID returns one account or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id wire.UserID) (store.User, error) {
	return s.userBy(ctx, "user by id", "user_id = ?", id[:])
}

// UserByName returns one account by case-insensitive name or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	return s.userBy(ctx, "user by name", "user_name = ?", name)
}

// UserByEmail returns one account by case-insensitive address or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if email == "" {
		return store.User{}, store.ErrNotFound
	}
	return s.userBy(ctx, "user by email", "email_address = ?", email)
}

// UpdateUser changes the non-nil fields of an account.
func (s *Store) UpdateUser(ctx context.Context, id wire.UserID, up store.UserUpdate) error {
	var (
		sets []string
		args []any
	)
	add := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if up.Name != nil {
		add("user_name", *up.Name)
		add("name_key", validate.NameKey(*up.Name))
	}
	if up.Email != nil {
		add("email_address", nullString(*up.Email))
	}
	if up.DisplayName != nil {
		add("display_name", *up.DisplayName)
	}
	if up.PasswordHash != nil {
		add("password_hash", *up.PasswordHash)
	}
	if up.Rank != nil {
		add("host_rank", int64(*up.Rank))
	}
	if up.Locked != nil {
		add("locked", *up.Locked)
	}
	if up.NewPasswordReq != nil {
		add("new_password_req", *up.NewPasswordReq)
	}
	if up.NewNameReq != nil {
		add("new_name_req", *up.NewNameReq)
	}
	if up.EmailVerified != nil {
		add("email_verified", *up.EmailVerified)
	}
	if len(sets) == 0 {
		_, err := s.UserByID(ctx, id)
		return err
	}
	args = append(args, id[:])
	res, err := s.w.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE user_id = ?`, args...)
	if err != nil {
		return userErr("update user", err)
	}
	return affected("update user", res, nil)
}

// DeleteUser removes an account; memberships and recovery rows cascade.
func (s *Store) DeleteUser(ctx context.Context, id wire.UserID) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM users WHERE user_id = ?`, id[:])
	return affected("delete user", res, err)
}

// ---- logs ----

// AddAuthAttempt appends one row to the authentication log.
func (s *Store) AddAuthAttempt(ctx context.Context, a store.AuthAttempt) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt,
		recover_attempt, count_to_threshold, accepted) VALUES (?, ?, ?, ?, ?, ?)`,
		a.IP, a.UserID[:], a.AuthAttempt, a.RecoverAttempt, a.CountToThreshold, a.Accepted)
	if err != nil {
		return wrap("add auth attempt", err)
	}
	return nil
}

// CountFailedAuth counts the user's counted, failed password attempts
// (from ip when it is not empty).
func (s *Store) CountFailedAuth(ctx context.Context, user wire.UserID, ip string) (int, error) {
	q := `SELECT COUNT(*) FROM auth_log WHERE user_id = ? AND auth_attempt = 1
		AND count_to_threshold = 1 AND accepted = 0`
	args := []any{user[:]}
	if ip != "" {
		q += ` AND ip_address = ?`
		args = append(args, ip)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, wrap("count failed auth", err)
	}
	return n, nil
}

// ResetFailedAuth stops counting the user's earlier password attempts
// (from ip when it is not empty).
func (s *Store) ResetFailedAuth(ctx context.Context, user wire.UserID, ip string) error {
	q := `UPDATE auth_log SET count_to_threshold = 0 WHERE user_id = ? AND auth_attempt = 1
		AND count_to_threshold = 1`
	args := []any{user[:]}
	if ip != "" {
		q += ` AND ip_address = ?`
		args = append(args, ip)
	}
	if _, err := s.w.ExecContext(ctx, q, args...); err != nil {
		return wrap("reset failed auth", err)
	}
	return nil
}

// LogActivity appends rows to the activity log, in one transaction.
func (s *Store) LogActivity(ctx context.Context, acts ...store.Activity) error {
	return s.insertMany(ctx, "log activity", `INSERT INTO ip_history (ip_address, session_id, client_app,
		log_entry) VALUES (?, ?, ?, ?)`, len(acts), func(i int) []any {
		a := acts[i]
		return []any{a.IP, a.SessionID[:], a.ClientApp, a.Entry}
	})
}

// LogDebug appends messages to the debug log, in one transaction.
func (s *Store) LogDebug(ctx context.Context, msgs ...string) error {
	return s.insertMany(ctx, "log debug", `INSERT INTO host_debug_messages (log_entry) VALUES (?)`,
		len(msgs), func(i int) []any { return []any{msgs[i]} })
}

// insertMany runs one insert statement n times in a single transaction.
func (s *Store) insertMany(ctx context.Context, op, q string, n int, args func(int) []any) error {
	if n == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return wrap(op, err)
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
			return wrap(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ---- bans, ranks, modules, certs ----

// texts returns the single text column of a query.
func (s *Store) texts(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// Bans returns every banned address in insertion order.
func (s *Store) Bans(ctx context.Context) ([]string, error) {
	return s.texts(ctx, "bans", `SELECT ip_address FROM ban_list ORDER BY id`)
}

// AddBan bans an address; an existing ban is kept.
func (s *Store) AddBan(ctx context.Context, ip string) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO ban_list (ip_address) VALUES (?) ON CONFLICT DO NOTHING`, ip); err != nil {
		return wrap("add ban", err)
	}
	return nil
}

// RemoveBan lifts a ban; lifting an absent ban is not an error.
func (s *Store) RemoveBan(ctx context.Context, ip string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM ban_list WHERE ip_address = ?`, ip); err != nil {
		return wrap("remove ban", err)
	}
	return nil
}

// CommandRanks returns every rank assignment in insertion order.
func (s *Store) CommandRanks(ctx context.Context) ([]store.CommandRank, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT module_executable, command_name, host_rank FROM command_ranks ORDER BY id`)
	if err != nil {
		return nil, wrap("command ranks", err)
	}
	defer rows.Close()
	var out []store.CommandRank
	for rows.Next() {
		var r store.CommandRank
		if err := rows.Scan(&r.Module, &r.Command, &r.Rank); err != nil {
			return nil, wrap("command ranks", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("command ranks", err)
	}
	return out, nil
}

// AddCommandRank inserts a rank (command stored lower-cased) or returns
// ErrExists.
func (s *Store) AddCommandRank(ctx context.Context, r store.CommandRank) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO command_ranks (module_executable, command_name, host_rank)
		VALUES (?, ?, ?)`, r.Module, store.CommandKey(r.Command), int64(r.Rank))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrExists
	}
	if err != nil {
		return wrap("add command rank", err)
	}
	return nil
}

// RemoveCommandRank deletes a rank or returns ErrNotFound.
func (s *Store) RemoveCommandRank(ctx context.Context, module, command string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM command_ranks WHERE module_executable = ? AND command_name = ?`,
		module, store.CommandKey(command))
	return affected("remove command rank", res, err)
}

// Modules returns the registered module paths in insertion order.
func (s *Store) Modules(ctx context.Context) ([]string, error) {
	return s.texts(ctx, "modules", `SELECT module_executable FROM modules ORDER BY id`)
}

// AddModule registers a module path or returns ErrExists.
func (s *Store) AddModule(ctx context.Context, path string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO modules (module_executable) VALUES (?)`, path)
	if _, ok := uniqueViolation(err); ok {
		return store.ErrExists
	}
	if err != nil {
		return wrap("add module", err)
	}
	return nil
}

// RemoveModule unregisters a module path or returns ErrNotFound.
func (s *Store) RemoveModule(ctx context.Context, path string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM modules WHERE module_executable = ?`, path)
	return affected("remove module", res, err)
}

// Cert returns the certificate of a common name (case-insensitive).
func (s *Store) Cert(ctx context.Context, commonName string) (store.Cert, error) {
	var c store.Cert
	err := s.r.QueryRowContext(ctx, `SELECT common_name, ssl_cert, private_key FROM ssl_certs
		WHERE common_name = ?`, commonName).Scan(&c.CommonName, &c.CertPEM, &c.KeyPEM)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cert{}, store.ErrNotFound
	}
	if err != nil {
		return store.Cert{}, wrap("cert", err)
	}
	return c, nil
}

// PutCert inserts the certificate of a common name or replaces that one
// row's certificate and key.
func (s *Store) PutCert(ctx context.Context, c store.Cert) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO ssl_certs (common_name, ssl_cert, private_key)
		VALUES (?, ?, ?) ON CONFLICT (common_name) DO UPDATE
		SET ssl_cert = excluded.ssl_cert, private_key = excluded.private_key`,
		c.CommonName, nonNil(c.CertPEM), nonNil(c.KeyPEM))
	if err != nil {
		return wrap("put cert", err)
	}
	return nil
}

// nonNil returns b or an empty slice, so NOT NULL blob columns accept it.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// DeleteCert removes a certificate or returns ErrNotFound.
func (s *Store) DeleteCert(ctx context.Context, commonName string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM ssl_certs WHERE common_name = ?`, commonName)
	return affected("delete cert", res, err)
}

// ---- channels ----

// CreateChannel inserts a channel and its owner's level-1 membership in one
// transaction. ErrNameTaken if the name is used, ErrNotFound if the owner
// account does not exist.
func (s *Store) CreateChannel(ctx context.Context, name string, owner wire.UserID) (store.Channel, error) {
	const op = "create channel"
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Channel{}, wrap(op, err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO channels (channel_name) VALUES (?) RETURNING channel_id`, name).Scan(&id)
	if _, ok := uniqueViolation(err); ok {
		return store.Channel{}, store.ErrNameTaken
	}
	if err != nil {
		return store.Channel{}, wrap(op, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO channel_members (channel_id, user_id, pending_invite, access_level)
		VALUES (?, ?, 0, 1)`, id, owner[:])
	if fkViolation(err) {
		return store.Channel{}, store.ErrNotFound
	}
	if err != nil {
		return store.Channel{}, wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Channel{}, wrap(op, err)
	}
	return store.Channel{ID: uint64(id), Name: name}, nil
}

// channelBy returns the channel matching the condition.
func (s *Store) channelBy(ctx context.Context, op, cond string, arg any) (store.Channel, error) {
	var (
		c  store.Channel
		id int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT channel_id, channel_name FROM channels WHERE `+cond, arg).Scan(&id, &c.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Channel{}, store.ErrNotFound
	}
	if err != nil {
		return store.Channel{}, wrap(op, err)
	}
	c.ID = uint64(id)
	return c, nil
}

// ChannelByName returns a channel by case-insensitive name or ErrNotFound.
func (s *Store) ChannelByName(ctx context.Context, name string) (store.Channel, error) {
	return s.channelBy(ctx, "channel by name", "channel_name = ?", name)
}

// ChannelByID returns a channel or ErrNotFound.
func (s *Store) ChannelByID(ctx context.Context, id uint64) (store.Channel, error) {
	return s.channelBy(ctx, "channel by id", "channel_id = ?", int64(id))
}

// RenameChannel renames a channel; ErrNotFound, ErrNameTaken.
func (s *Store) RenameChannel(ctx context.Context, id uint64, name string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE channels SET channel_name = ? WHERE channel_id = ?`, name, int64(id))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrNameTaken
	}
	return affected("rename channel", res, err)
}

// DeleteChannel removes a channel; members, sub-channels and read-only flags
// cascade.
func (s *Store) DeleteChannel(ctx context.Context, id uint64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM channels WHERE channel_id = ?`, int64(id))
	return affected("delete channel", res, err)
}

// OwnsChannels reports whether the user is the (accepted) owner of at least
// one channel.
func (s *Store) OwnsChannels(ctx context.Context, user wire.UserID) (bool, error) {
	var ok bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM channel_members
		WHERE user_id = ? AND access_level = 1 AND pending_invite = 0)`, user[:]).Scan(&ok)
	if err != nil {
		return false, wrap("owns channels", err)
	}
	return ok, nil
}

// ---- members ----

const memberSelect = `SELECT m.channel_id, m.user_id, u.user_name, COALESCE(u.display_name, ''),
	m.pending_invite, m.access_level
	FROM channel_members m JOIN users u ON u.user_id = m.user_id `

// members runs a member query.
func (s *Store) members(ctx context.Context, op, q string, args ...any) ([]store.Member, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// scanMember reads one row of memberSelect.
func scanMember(row interface{ Scan(...any) error }) (store.Member, error) {
	var (
		m      store.Member
		ch     int64
		uid    []byte
		level  int64
		pendng bool
	)
	if err := row.Scan(&ch, &uid, &m.UserName, &m.DisplayName, &pendng, &level); err != nil {
		return store.Member{}, err
	}
	if len(uid) != wire.UserIDLen {
		return store.Member{}, fmt.Errorf("user id of %d bytes", len(uid))
	}
	m.ChannelID = uint64(ch)
	copy(m.UserID[:], uid)
	m.Pending = pendng
	m.Level = uint8(level)
	return m, nil
}

// Member returns one membership row or ErrNotFound.
func (s *Store) Member(ctx context.Context, channel uint64, user wire.UserID) (store.Member, error) {
	m, err := scanMember(s.r.QueryRowContext(ctx, memberSelect+`WHERE m.channel_id = ? AND m.user_id = ?`,
		int64(channel), user[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Member{}, store.ErrNotFound
	}
	if err != nil {
		return store.Member{}, wrap("member", err)
	}
	return m, nil
}

// Members returns every membership row of a channel in insertion order.
func (s *Store) Members(ctx context.Context, channel uint64) ([]store.Member, error) {
	return s.members(ctx, "members", memberSelect+`WHERE m.channel_id = ? ORDER BY m.id`, int64(channel))
}

// MembershipsOf returns every membership row of a user in insertion order.
func (s *Store) MembershipsOf(ctx context.Context, user wire.UserID) ([]store.Member, error) {
	return s.members(ctx, "memberships", memberSelect+`WHERE m.user_id = ? ORDER BY m.id`, user[:])
}

// AddMember inserts a membership row; ErrExists for an existing pair,
// ErrNotFound when the channel or the user does not exist.
func (s *Store) AddMember(ctx context.Context, m store.Member) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO channel_members (channel_id, user_id, pending_invite, access_level)
		VALUES (?, ?, ?, ?)`, int64(m.ChannelID), m.UserID[:], m.Pending, int64(m.Level))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrExists
	}
	if fkViolation(err) {
		return store.ErrNotFound
	}
	if err != nil {
		return wrap("add member", err)
	}
	return nil
}

// UpdateMember sets a member's pending flag and level or returns ErrNotFound.
func (s *Store) UpdateMember(ctx context.Context, m store.Member) error {
	res, err := s.w.ExecContext(ctx, `UPDATE channel_members SET pending_invite = ?, access_level = ?
		WHERE channel_id = ? AND user_id = ?`, m.Pending, int64(m.Level), int64(m.ChannelID), m.UserID[:])
	return affected("update member", res, err)
}

// RemoveMember deletes a membership row or returns ErrNotFound.
func (s *Store) RemoveMember(ctx context.Context, channel uint64, user wire.UserID) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM channel_members WHERE channel_id = ? AND user_id = ?`,
		int64(channel), user[:])
	return affected("remove member", res, err)
}

// TransferOwnership makes newOwner (an accepted member, else ErrNotFound)
// level 1 and every previous owner level 2, in one transaction, and returns
// the previous owner (the zero id if the channel had none; newOwner itself
// if it already was the owner).
func (s *Store) TransferOwnership(ctx context.Context, channel uint64, newOwner wire.UserID) (wire.UserID, error) {
	const op = "transfer ownership"
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wire.UserID{}, wrap(op, err)
	}
	defer tx.Rollback()
	var pending bool
	err = tx.QueryRowContext(ctx, `SELECT pending_invite FROM channel_members WHERE channel_id = ? AND user_id = ?`,
		int64(channel), newOwner[:]).Scan(&pending)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && pending) {
		return wire.UserID{}, store.ErrNotFound
	}
	if err != nil {
		return wire.UserID{}, wrap(op, err)
	}
	var prev wire.UserID
	var raw []byte
	err = tx.QueryRowContext(ctx, `SELECT user_id FROM channel_members WHERE channel_id = ? AND access_level = 1
		ORDER BY user_id = ? DESC, id LIMIT 1`, int64(channel), newOwner[:]).Scan(&raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return wire.UserID{}, wrap(op, err)
	default:
		copy(prev[:], raw)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE channel_members SET access_level = 2
		WHERE channel_id = ? AND access_level = 1 AND user_id <> ?`, int64(channel), newOwner[:]); err != nil {
		return wire.UserID{}, wrap(op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE channel_members SET access_level = 1
		WHERE channel_id = ? AND user_id = ?`, int64(channel), newOwner[:]); err != nil {
		return wire.UserID{}, wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wire.UserID{}, wrap(op, err)
	}
	return prev, nil
}

// ---- sub-channels ----

const subSelect = `SELECT channel_id, sub_channel_id, sub_channel_name, lowest_access_level, active_updates
	FROM sub_channels `

// scanSub reads one row of subSelect.
func scanSub(row interface{ Scan(...any) error }) (store.SubChannel, error) {
	var (
		sc          store.SubChannel
		ch, id, lvl int64
	)
	if err := row.Scan(&ch, &id, &sc.Name, &lvl, &sc.ActiveUpdates); err != nil {
		return store.SubChannel{}, err
	}
	sc.ChannelID, sc.ID, sc.LowestLevel = uint64(ch), uint8(id), uint8(lvl)
	return sc, nil
}

// CreateSubChannel inserts a sub-channel with the smallest free id in one
// transaction; ErrNotFound (no channel), ErrNameTaken, ErrLimit. A max of 0
// or less means the id-space limit (store.SubChannelLimit).
func (s *Store) CreateSubChannel(ctx context.Context, channel uint64, name string, max int) (store.SubChannel, error) {
	const op = "create sub-channel"
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM channels WHERE channel_id = ?`, int64(channel)).Scan(&n); err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	if n == 0 {
		return store.SubChannel{}, store.ErrNotFound
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sub_channels WHERE channel_id = ? AND sub_channel_name = ?`,
		int64(channel), name).Scan(&n); err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	if n > 0 {
		return store.SubChannel{}, store.ErrNameTaken
	}
	rows, err := tx.QueryContext(ctx, `SELECT sub_channel_id FROM sub_channels WHERE channel_id = ? ORDER BY sub_channel_id`, int64(channel))
	if err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	var used []uint8
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return store.SubChannel{}, wrap(op, err)
		}
		used = append(used, uint8(id))
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	if len(used) >= store.SubChannelLimit(max) {
		return store.SubChannel{}, store.ErrLimit
	}
	id, ok := store.SmallestFreeSubID(used)
	if !ok {
		return store.SubChannel{}, store.ErrLimit
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sub_channels (channel_id, sub_channel_id, sub_channel_name,
		lowest_access_level, active_updates) VALUES (?, ?, ?, 4, 0)`, int64(channel), int64(id), name)
	if _, ok := uniqueViolation(err); ok {
		return store.SubChannel{}, store.ErrNameTaken
	}
	if err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	return store.SubChannel{ChannelID: channel, ID: id, Name: name, LowestLevel: 4}, nil
}

// subBy returns the sub-channel matching the condition.
func (s *Store) subBy(ctx context.Context, op, cond string, args ...any) (store.SubChannel, error) {
	sc, err := scanSub(s.r.QueryRowContext(ctx, subSelect+`WHERE `+cond, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SubChannel{}, store.ErrNotFound
	}
	if err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	return sc, nil
}

// SubChannelByName returns a sub-channel by case-insensitive name.
func (s *Store) SubChannelByName(ctx context.Context, channel uint64, name string) (store.SubChannel, error) {
	return s.subBy(ctx, "sub-channel by name", `channel_id = ? AND sub_channel_name = ?`, int64(channel), name)
}

// SubChannelByID returns a sub-channel or ErrNotFound.
func (s *Store) SubChannelByID(ctx context.Context, channel uint64, id uint8) (store.SubChannel, error) {
	return s.subBy(ctx, "sub-channel by id", `channel_id = ? AND sub_channel_id = ?`, int64(channel), int64(id))
}

// SubChannels returns every sub-channel of a channel, by id.
func (s *Store) SubChannels(ctx context.Context, channel uint64) ([]store.SubChannel, error) {
	const op = "sub-channels"
	rows, err := s.r.QueryContext(ctx, subSelect+`WHERE channel_id = ? ORDER BY sub_channel_id`, int64(channel))
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.SubChannel
	for rows.Next() {
		sc, err := scanSub(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// UpdateSubChannel stores name, lowest level and active flag of a
// sub-channel; ErrNotFound, ErrNameTaken.
func (s *Store) UpdateSubChannel(ctx context.Context, sc store.SubChannel) error {
	res, err := s.w.ExecContext(ctx, `UPDATE sub_channels SET sub_channel_name = ?, lowest_access_level = ?,
		active_updates = ? WHERE channel_id = ? AND sub_channel_id = ?`,
		sc.Name, int64(sc.LowestLevel), sc.ActiveUpdates, int64(sc.ChannelID), int64(sc.ID))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrNameTaken
	}
	return affected("update sub-channel", res, err)
}

// DeleteSubChannel removes a sub-channel (its read-only flags stay).
func (s *Store) DeleteSubChannel(ctx context.Context, channel uint64, id uint8) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sub_channels WHERE channel_id = ? AND sub_channel_id = ?`,
		int64(channel), int64(id))
	return affected("delete sub-channel", res, err)
}

// ---- read-only flags ----

// ReadOnlyFlags returns every read-only flag of a channel, by sub id and
// level.
func (s *Store) ReadOnlyFlags(ctx context.Context, channel uint64) ([]store.ReadOnlyFlag, error) {
	const op = "read-only flags"
	rows, err := s.r.QueryContext(ctx, `SELECT channel_id, sub_channel_id, access_level FROM read_only_flags
		WHERE channel_id = ? ORDER BY sub_channel_id, access_level`, int64(channel))
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.ReadOnlyFlag
	for rows.Next() {
		var ch, sub, lvl int64
		if err := rows.Scan(&ch, &sub, &lvl); err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, store.ReadOnlyFlag{ChannelID: uint64(ch), SubID: uint8(sub), Level: uint8(lvl)})
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// AddReadOnlyFlag inserts a flag; ErrExists, or ErrNotFound when the channel
// does not exist.
func (s *Store) AddReadOnlyFlag(ctx context.Context, f store.ReadOnlyFlag) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO read_only_flags (channel_id, sub_channel_id, access_level)
		VALUES (?, ?, ?)`, int64(f.ChannelID), int64(f.SubID), int64(f.Level))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrExists
	}
	if fkViolation(err) {
		return store.ErrNotFound
	}
	if err != nil {
		return wrap("add read-only flag", err)
	}
	return nil
}

// RemoveReadOnlyFlag deletes a flag or returns ErrNotFound.
func (s *Store) RemoveReadOnlyFlag(ctx context.Context, f store.ReadOnlyFlag) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM read_only_flags WHERE channel_id = ? AND sub_channel_id = ?
		AND access_level = ?`, int64(f.ChannelID), int64(f.SubID), int64(f.Level))
	return affected("remove read-only flag", res, err)
}

// ---- views ----

// ListView returns one page of a table viewer.
func (s *Store) ListView(ctx context.Context, v store.View, filters []store.Filter, p store.Page) ([]store.Row, error) {
	def, ok := viewDef(v)
	if !ok {
		return nil, fmt.Errorf("%w: %q", store.ErrUnknownView, v)
	}
	q, args := def.Select(dialect(), filters, p)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list "+string(v), err)
	}
	defer rows.Close()
	out := []store.Row{}
	for rows.Next() {
		r := store.Row{Cells: make([]string, len(def.Columns))}
		dst := make([]any, 0, len(def.Columns)+1)
		dst = append(dst, &r.Key)
		for i := range r.Cells {
			dst = append(dst, &r.Cells[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, wrap("list "+string(v), err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list "+string(v), err)
	}
	return out, nil
}

// DeleteView deletes the rows of a deletable view's main table that match
// the filters and returns their number.
func (s *Store) DeleteView(ctx context.Context, v store.View, filters []store.Filter) (int64, error) {
	def, ok := viewDef(v)
	if !ok {
		return 0, fmt.Errorf("%w: %q", store.ErrUnknownView, v)
	}
	if !store.Deletable(v) {
		return 0, fmt.Errorf("%w: %s", store.ErrNotDeletable, v)
	}
	q, args := def.Delete(dialect(), filters)
	res, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, wrap("delete "+string(v), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete "+string(v), err)
	}
	return n, nil
}
