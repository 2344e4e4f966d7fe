// Package postgres is the PostgreSQL backend of package store, for clusters
// of hosts sharing one database. It uses a pgxpool connection pool; every
// statement is parameterised and every multi-statement operation runs in a
// transaction.
//
// Case-insensitivity: names, e-mail addresses, common names and banned
// addresses compare with lower() on both sides, backed by unique indexes on
// lower(column) (citext is not required). PostgreSQL's lower() also folds
// non-ASCII letters, whereas SQLite's NOCASE folds ASCII only; the two
// backends agree on ASCII text.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	db *pool
}

var _ store.Store = (*Store)(nil)

// Options tune how the store uses the network; the zero value is the
// defaults.
type Options struct {
	// CallTimeout bounds each statement whose context has no deadline of
	// its own (default DefaultCallTimeout), so a database that stops
	// answering fails calls instead of hanging them.
	CallTimeout time.Duration
}

// Connection defaults applied where the DSN sets nothing: a connection
// attempt gives up after DefaultConnectTimeout, an idle pooled connection
// is pinged before reuse and dropped when it does not answer within
// defaultPingTimeout, and the pool checks its connections every
// defaultHealthCheck. So after an outage the pool reconnects by itself.
const (
	DefaultConnectTimeout = 5 * time.Second
	defaultPingTimeout    = 3 * time.Second
	defaultHealthCheck    = 10 * time.Second
)

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns.
// pgxpool's own default (4, or the number of CPUs) is sized for a client;
// a host with many sessions logging in and running commands at once
// would queue for it, and its calls would time out waiting for a
// connection rather than for the database.
const DefaultMaxConns = 32

// Open connects to the database named by dsn (a URL or key=value string as
// accepted by pgxpool.ParseConfig; unknown parameters such as search_path
// become run-time parameters), applies pending migrations and returns the
// store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	return open(ctx, cfg, o)
}

// OpenConfig is Open with an already parsed pool configuration.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	return open(ctx, cfg, Options{})
}

func open(ctx context.Context, cfg *pgxpool.Config, o Options) (*Store, error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = defaultPingTimeout
	}
	if cfg.HealthCheckPeriod > defaultHealthCheck {
		cfg.HealthCheckPeriod = defaultHealthCheck
	}
	if !strings.Contains(cfg.ConnString(), "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: &pool{Pool: db, timeout: o.CallTimeout}}, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.db.Close()
	return nil
}

// ---- error mapping ----

// pgError returns the server error inside err, if any.
func pgError(err error) *pgconn.PgError {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// uniqueViolation reports whether err is a unique violation and returns the
// violated constraint or index name.
func uniqueViolation(err error) (string, bool) {
	if e := pgError(err); e != nil && e.Code == "23505" {
		return e.ConstraintName, true
	}
	return "", false
}

// fkViolation reports whether err is a foreign-key violation.
func fkViolation(err error) bool {
	e := pgError(err)
	return e != nil && e.Code == "23503"
}

// wrap adds the operation context to an unexpected error.
func wrap(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, err)
}

// affected returns ErrNotFound when a write touched no row.
func affected(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// nullString maps "" to NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// queryer is what pool and transaction have in common.
type queryer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ---- settings ----

const settingsCols = `ip_address, port, auto_ban_threshold, auto_lock_threshold,
	max_sessions, allow_public_registrations, initial_host_rank, mailer_executable,
	mailer_send_command, verify_email_subject, temp_pw_email_subject,
	verify_email_template, temp_pw_email_template, eable_email_verify,
	enable_pw_reset, active_updates, max_sub_channels, default_password, root_user_id`

// saveSettings upserts the singleton settings row.
func saveSettings(ctx context.Context, q queryer, st store.Settings) error {
	cols := strings.Split(strings.Join(strings.Fields(settingsCols), ""), ",")
	ph := make([]string, len(cols))
	set := make([]string, len(cols))
	for i, c := range cols {
		ph[i] = fmt.Sprintf("$%d", i+1)
		set[i] = c + " = excluded." + c
	}
	_, err := q.Exec(ctx, `INSERT INTO host_settings (singleton, `+settingsCols+`)
		VALUES (true, `+strings.Join(ph, ", ")+`)
		ON CONFLICT (singleton) DO UPDATE SET `+strings.Join(set, ", "),
		st.ListenAddress, int32(st.ListenPort), int64(st.AutoBanThreshold), int64(st.AutoLockThreshold),
		int64(st.MaxSessions), st.AllowPublicRegistrations, int64(st.InitialHostRank), st.MailerExecutable,
		st.MailerSendCommand, st.VerifyEmailSubject, st.TempPwEmailSubject,
		st.VerifyEmailTemplate, st.TempPwEmailTemplate, st.EnableEmailVerify,
		st.EnablePwReset, st.ActiveUpdates, int64(st.MaxSubChannels), nullString(st.DefaultPassword), nullString(store.RootHex(st.RootUserID)))
	return err
}

// Settings returns the host settings; NULL or missing values are defaults.
func (s *Store) Settings(ctx context.Context) (store.Settings, error) {
	var (
		addr, mailExe, mailCmd, vSubj, tSubj, vTpl, tTpl, defPw, rootID *string
		port                                                            *int32
		ban, lock, maxSes, rank, maxSub                                 *int64
		pubReg, emailVerify, pwReset, active                            *bool
	)
	err := s.db.QueryRow(ctx, `SELECT `+settingsCols+` FROM host_settings LIMIT 1`).Scan(
		&addr, &port, &ban, &lock, &maxSes, &pubReg, &rank, &mailExe, &mailCmd, &vSubj, &tSubj,
		&vTpl, &tTpl, &emailVerify, &pwReset, &active, &maxSub, &defPw, &rootID)
	st := store.DefaultSettings()
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return store.Settings{}, wrap("settings", err)
	}
	for _, f := range []struct {
		dst *string
		v   *string
	}{
		{&st.ListenAddress, addr}, {&st.MailerExecutable, mailExe}, {&st.MailerSendCommand, mailCmd},
		{&st.VerifyEmailSubject, vSubj}, {&st.TempPwEmailSubject, tSubj},
		{&st.VerifyEmailTemplate, vTpl}, {&st.TempPwEmailTemplate, tTpl}, {&st.DefaultPassword, defPw},
	} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if port != nil {
		st.ListenPort = uint16(*port)
	}
	if rootID != nil {
		st.RootUserID = store.ParseRootHex(*rootID)
	}
	for _, f := range []struct {
		dst *uint32
		v   *int64
	}{
		{&st.AutoBanThreshold, ban}, {&st.AutoLockThreshold, lock}, {&st.MaxSessions, maxSes},
		{&st.InitialHostRank, rank}, {&st.MaxSubChannels, maxSub},
	} {
		if f.v != nil {
			*f.dst = uint32(*f.v)
		}
	}
	for _, f := range []struct {
		dst *bool
		v   *bool
	}{
		{&st.AllowPublicRegistrations, pubReg}, {&st.EnableEmailVerify, emailVerify},
		{&st.EnablePwReset, pwReset}, {&st.ActiveUpdates, active},
	} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	return st, nil
}

// SaveSettings replaces the host settings row.
func (s *Store) SaveSettings(ctx context.Context, st store.Settings) error {
	if err := saveSettings(ctx, s.db, st); err != nil {
		return wrap("save settings", err)
	}
	return nil
}

// ---- users ----

const userCols = `user_id, user_name, COALESCE(email_address, ''), COALESCE(display_name, ''),
	password_hash, host_rank, locked, new_password_req, new_name_req, email_verified, time_stamp`

// userErr maps a constraint violation of the users table.
func userErr(op string, err error) error {
	if name, ok := uniqueViolation(err); ok {
		switch name {
		case "users_user_name_key":
			return store.ErrNameTaken
		case "users_name_key_key":
			return store.ErrNameConfusable
		case "users_email_address_key":
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
		created = store.TruncTime(u.Created)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO users (user_id, user_name, email_address,
		display_name, password_hash, host_rank, locked, new_password_req, new_name_req,
		email_verified, time_stamp, name_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11::timestamptz, date_trunc('second', now())), $12)`,
		u.ID[:], u.Name, nullString(u.Email), u.DisplayName, u.PasswordHash, int64(u.Rank),
		u.Locked, u.NewPasswordReq, u.NewNameReq, u.EmailVerified, created, validate.NameKey(u.Name))
	if err != nil {
		return userErr("create user", err)
	}
	return nil
}

// scanUser reads one row of userCols.
func scanUser(row pgx.Row) (store.User, error) {
	var (
		u    store.User
		id   []byte
		rank int64
	)
	err := row.Scan(&id, &u.Name, &u.Email, &u.DisplayName, &u.PasswordHash, &rank,
		&u.Locked, &u.NewPasswordReq, &u.NewNameReq, &u.EmailVerified, &u.Created)
	if err != nil {
		return store.User{}, err
	}
	if len(id) != wire.UserIDLen {
		return store.User{}, fmt.Errorf("user id of %d bytes", len(id))
	}
	copy(u.ID[:], id)
	u.Rank = uint32(rank)
	u.Created = store.TruncTime(u.Created)
	return u, nil
}

// userBy returns the user matching the condition.
func (s *Store) userBy(ctx context.Context, op, cond string, arg any) (store.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE `+cond, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	return u, nil
}

// UserByID returns one account or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id wire.UserID) (store.User, error) {
	return s.userBy(ctx, "user by id", "user_id = $1", id[:])
}

// UserByName returns one account by case-insensitive name or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	return s.userBy(ctx, "user by name", "lower(user_name) = lower($1)", name)
}

// UserByEmail returns one account by case-insensitive address or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if email == "" {
		return store.User{}, store.ErrNotFound
	}
	return s.userBy(ctx, "user by email", "lower(email_address) = lower($1)", email)
}

// UpdateUser changes the non-nil fields of an account.
func (s *Store) UpdateUser(ctx context.Context, id wire.UserID, up store.UserUpdate) error {
	var (
		sets []string
		args []any
	)
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
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
	tag, err := s.db.Exec(ctx, fmt.Sprintf(`UPDATE users SET %s WHERE user_id = $%d`, strings.Join(sets, ", "), len(args)), args...)
	if err != nil {
		return userErr("update user", err)
	}
	return affected("update user", tag, nil)
}

// DeleteUser removes an account; memberships and recovery rows cascade.
func (s *Store) DeleteUser(ctx context.Context, id wire.UserID) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM users WHERE user_id = $1`, id[:])
	return affected("delete user", tag, err)
}

// ---- logs ----

// AddAuthAttempt appends one row to the authentication log.
func (s *Store) AddAuthAttempt(ctx context.Context, a store.AuthAttempt) error {
	_, err := s.db.Exec(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt,
		recover_attempt, count_to_threshold, accepted) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.IP, a.UserID[:], a.AuthAttempt, a.RecoverAttempt, a.CountToThreshold, a.Accepted)
	if err != nil {
		return wrap("add auth attempt", err)
	}
	return nil
}

// CountFailedAuth counts the user's counted, failed password attempts
// (from ip when it is not empty).
func (s *Store) CountFailedAuth(ctx context.Context, user wire.UserID, ip string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_log WHERE user_id = $1 AND auth_attempt
		AND count_to_threshold AND NOT accepted AND ($2 = '' OR lower(ip_address) = lower($2))`,
		user[:], ip).Scan(&n)
	if err != nil {
		return 0, wrap("count failed auth", err)
	}
	return n, nil
}

// ResetFailedAuth stops counting the user's earlier password attempts
// (from ip when it is not empty).
func (s *Store) ResetFailedAuth(ctx context.Context, user wire.UserID, ip string) error {
	_, err := s.db.Exec(ctx, `UPDATE auth_log SET count_to_threshold = false WHERE user_id = $1
		AND auth_attempt AND count_to_threshold AND ($2 = '' OR lower(ip_address) = lower($2))`,
		user[:], ip)
	if err != nil {
		return wrap("reset failed auth", err)
	}
	return nil
}

// LogActivity appends rows to the activity log, in one transaction.
func (s *Store) LogActivity(ctx context.Context, acts ...store.Activity) error {
	if len(acts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, a := range acts {
		b.Queue(`INSERT INTO ip_history (ip_address, session_id, client_app, log_entry)
		VALUES ($1, $2, $3, $4)`, a.IP, a.SessionID[:], a.ClientApp, a.Entry)
	}
	return s.sendBatch(ctx, "log activity", b)
}

// LogDebug appends messages to the debug log, in one transaction.
func (s *Store) LogDebug(ctx context.Context, msgs ...string) error {
	if len(msgs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, m := range msgs {
		b.Queue(`INSERT INTO host_debug_messages (log_entry) VALUES ($1)`, m)
	}
	return s.sendBatch(ctx, "log debug", b)
}

// sendBatch runs a batch of statements in one transaction.
func (s *Store) sendBatch(ctx context.Context, op string, b *pgx.Batch) error {
	return s.inTx(ctx, op, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
}

// ---- bans, ranks, modules, certs ----

// texts returns the single text column of a query.
func (s *Store) texts(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
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
	if _, err := s.db.Exec(ctx, `INSERT INTO ban_list (ip_address) VALUES ($1) ON CONFLICT DO NOTHING`, ip); err != nil {
		return wrap("add ban", err)
	}
	return nil
}

// RemoveBan lifts a ban; lifting an absent ban is not an error.
func (s *Store) RemoveBan(ctx context.Context, ip string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM ban_list WHERE lower(ip_address) = lower($1)`, ip); err != nil {
		return wrap("remove ban", err)
	}
	return nil
}

// CommandRanks returns every rank assignment in insertion order.
func (s *Store) CommandRanks(ctx context.Context) ([]store.CommandRank, error) {
	rows, err := s.db.Query(ctx, `SELECT module_executable, command_name, host_rank FROM command_ranks ORDER BY id`)
	if err != nil {
		return nil, wrap("command ranks", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.CommandRank, error) {
		var (
			cr   store.CommandRank
			rank int64
		)
		err := r.Scan(&cr.Module, &cr.Command, &rank)
		cr.Rank = uint32(rank)
		return cr, err
	})
	if err != nil {
		return nil, wrap("command ranks", err)
	}
	return out, nil
}

// AddCommandRank inserts a rank (command stored lower-cased) or returns
// ErrExists.
func (s *Store) AddCommandRank(ctx context.Context, r store.CommandRank) error {
	_, err := s.db.Exec(ctx, `INSERT INTO command_ranks (module_executable, command_name, host_rank)
		VALUES ($1, $2, $3)`, r.Module, store.CommandKey(r.Command), int64(r.Rank))
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
	tag, err := s.db.Exec(ctx, `DELETE FROM command_ranks WHERE module_executable = $1
		AND lower(command_name) = lower($2)`, module, command)
	return affected("remove command rank", tag, err)
}

// Modules returns the registered module paths in insertion order.
func (s *Store) Modules(ctx context.Context) ([]string, error) {
	return s.texts(ctx, "modules", `SELECT module_executable FROM modules ORDER BY id`)
}

// AddModule registers a module path or returns ErrExists.
func (s *Store) AddModule(ctx context.Context, path string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO modules (module_executable) VALUES ($1)`, path)
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
	tag, err := s.db.Exec(ctx, `DELETE FROM modules WHERE module_executable = $1`, path)
	return affected("remove module", tag, err)
}

// Cert returns the certificate of a common name (case-insensitive).
func (s *Store) Cert(ctx context.Context, commonName string) (store.Cert, error) {
	var c store.Cert
	err := s.db.QueryRow(ctx, `SELECT common_name, ssl_cert, private_key FROM ssl_certs
		WHERE lower(common_name) = lower($1)`, commonName).Scan(&c.CommonName, &c.CertPEM, &c.KeyPEM)
	if errors.Is(err, pgx.ErrNoRows) {
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
	_, err := s.db.Exec(ctx, `INSERT INTO ssl_certs (common_name, ssl_cert, private_key)
		VALUES ($1, $2, $3) ON CONFLICT ((lower(common_name))) DO UPDATE
		SET ssl_cert = excluded.ssl_cert, private_key = excluded.private_key`,
		c.CommonName, nonNil(c.CertPEM), nonNil(c.KeyPEM))
	if err != nil {
		return wrap("put cert", err)
	}
	return nil
}

// nonNil returns b or an empty slice, so NOT NULL bytea columns accept it.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// DeleteCert removes a certificate or returns ErrNotFound.
func (s *Store) DeleteCert(ctx context.Context, commonName string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM ssl_certs WHERE lower(common_name) = lower($1)`, commonName)
	return affected("delete cert", tag, err)
}

// ---- channels ----

// exists runs an EXISTS query.
func exists(ctx context.Context, q queryer, sql string, args ...any) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (`+sql+`)`, args...).Scan(&ok)
	return ok, err
}

// CreateChannel inserts a channel and its owner's level-1 membership in one
// transaction. ErrNameTaken if the name is used, ErrNotFound if the owner
// account does not exist. Both are checked before the insert so that
// failed attempts do not consume channel ids (as in SQLite).
func (s *Store) CreateChannel(ctx context.Context, name string, owner wire.UserID) (store.Channel, error) {
	const op = "create channel"
	var id int64
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		taken, err := exists(ctx, tx, `SELECT 1 FROM channels WHERE lower(channel_name) = lower($1)`, name)
		if err != nil {
			return wrap(op, err)
		}
		if taken {
			return store.ErrNameTaken
		}
		known, err := exists(ctx, tx, `SELECT 1 FROM users WHERE user_id = $1`, owner[:])
		if err != nil {
			return wrap(op, err)
		}
		if !known {
			return store.ErrNotFound
		}
		err = tx.QueryRow(ctx, `INSERT INTO channels (channel_name) VALUES ($1) RETURNING channel_id`, name).Scan(&id)
		if _, ok := uniqueViolation(err); ok {
			return store.ErrNameTaken
		}
		if err != nil {
			return wrap(op, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO channel_members (channel_id, user_id, pending_invite, access_level)
			VALUES ($1, $2, false, 1)`, id, owner[:])
		if fkViolation(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return wrap(op, err)
		}
		return nil
	})
	if err != nil {
		return store.Channel{}, err
	}
	return store.Channel{ID: uint64(id), Name: name}, nil
}

// channelBy returns the channel matching the condition.
func (s *Store) channelBy(ctx context.Context, op, cond string, arg any) (store.Channel, error) {
	var (
		c  store.Channel
		id int64
	)
	err := s.db.QueryRow(ctx, `SELECT channel_id, channel_name FROM channels WHERE `+cond, arg).Scan(&id, &c.Name)
	if errors.Is(err, pgx.ErrNoRows) {
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
	return s.channelBy(ctx, "channel by name", "lower(channel_name) = lower($1)", name)
}

// ChannelByID returns a channel or ErrNotFound.
func (s *Store) ChannelByID(ctx context.Context, id uint64) (store.Channel, error) {
	return s.channelBy(ctx, "channel by id", "channel_id = $1", int64(id))
}

// RenameChannel renames a channel; ErrNotFound, ErrNameTaken.
func (s *Store) RenameChannel(ctx context.Context, id uint64, name string) error {
	tag, err := s.db.Exec(ctx, `UPDATE channels SET channel_name = $1 WHERE channel_id = $2`, name, int64(id))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrNameTaken
	}
	return affected("rename channel", tag, err)
}

// DeleteChannel removes a channel; members, sub-channels and read-only flags
// cascade.
func (s *Store) DeleteChannel(ctx context.Context, id uint64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM channels WHERE channel_id = $1`, int64(id))
	return affected("delete channel", tag, err)
}

// OwnsChannels reports whether the user is the (accepted) owner of at least
// one channel.
func (s *Store) OwnsChannels(ctx context.Context, user wire.UserID) (bool, error) {
	ok, err := exists(ctx, s.db, `SELECT 1 FROM channel_members
		WHERE user_id = $1 AND access_level = 1 AND NOT pending_invite`, user[:])
	if err != nil {
		return false, wrap("owns channels", err)
	}
	return ok, nil
}

// ---- members ----

const memberSelect = `SELECT m.channel_id, m.user_id, u.user_name, COALESCE(u.display_name, ''),
	m.pending_invite, m.access_level
	FROM channel_members m JOIN users u ON u.user_id = m.user_id `

// scanMember reads one row of memberSelect.
func scanMember(row pgx.Row) (store.Member, error) {
	var (
		m     store.Member
		ch    int64
		uid   []byte
		level int16
	)
	if err := row.Scan(&ch, &uid, &m.UserName, &m.DisplayName, &m.Pending, &level); err != nil {
		return store.Member{}, err
	}
	if len(uid) != wire.UserIDLen {
		return store.Member{}, fmt.Errorf("user id of %d bytes", len(uid))
	}
	m.ChannelID = uint64(ch)
	copy(m.UserID[:], uid)
	m.Level = uint8(level)
	return m, nil
}

// members runs a member query.
func (s *Store) members(ctx context.Context, op, q string, args ...any) ([]store.Member, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Member, error) { return scanMember(r) })
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// Member returns one membership row or ErrNotFound.
func (s *Store) Member(ctx context.Context, channel uint64, user wire.UserID) (store.Member, error) {
	m, err := scanMember(s.db.QueryRow(ctx, memberSelect+`WHERE m.channel_id = $1 AND m.user_id = $2`,
		int64(channel), user[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Member{}, store.ErrNotFound
	}
	if err != nil {
		return store.Member{}, wrap("member", err)
	}
	return m, nil
}

// Members returns every membership row of a channel in insertion order.
func (s *Store) Members(ctx context.Context, channel uint64) ([]store.Member, error) {
	return s.members(ctx, "members", memberSelect+`WHERE m.channel_id = $1 ORDER BY m.id`, int64(channel))
}

// MembershipsOf returns every membership row of a user in insertion order.
func (s *Store) MembershipsOf(ctx context.Context, user wire.UserID) ([]store.Member, error) {
	return s.members(ctx, "memberships", memberSelect+`WHERE m.user_id = $1 ORDER BY m.id`, user[:])
}

// AddMember inserts a membership row; ErrExists for an existing pair,
// ErrNotFound when the channel or the user does not exist.
func (s *Store) AddMember(ctx context.Context, m store.Member) error {
	_, err := s.db.Exec(ctx, `INSERT INTO channel_members (channel_id, user_id, pending_invite, access_level)
		VALUES ($1, $2, $3, $4)`, int64(m.ChannelID), m.UserID[:], m.Pending, int16(m.Level))
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
	tag, err := s.db.Exec(ctx, `UPDATE channel_members SET pending_invite = $1, access_level = $2
		WHERE channel_id = $3 AND user_id = $4`, m.Pending, int16(m.Level), int64(m.ChannelID), m.UserID[:])
	return affected("update member", tag, err)
}

// RemoveMember deletes a membership row or returns ErrNotFound.
func (s *Store) RemoveMember(ctx context.Context, channel uint64, user wire.UserID) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2`,
		int64(channel), user[:])
	return affected("remove member", tag, err)
}

// lockChannel locks a channel row against concurrent structural changes
// (ownership, sub-channel allocation) for the rest of the transaction;
// FOR NO KEY UPDATE still lets other sessions add rows referencing it.
// It reports whether the channel exists.
func lockChannel(ctx context.Context, tx pgx.Tx, channel uint64) (bool, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT channel_id FROM channels WHERE channel_id = $1 FOR NO KEY UPDATE`, int64(channel)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// TransferOwnership makes newOwner (an accepted member, else ErrNotFound)
// level 1 and every previous owner level 2, in one transaction, and returns
// the previous owner (the zero id if the channel had none; newOwner itself
// if it already was the owner).
func (s *Store) TransferOwnership(ctx context.Context, channel uint64, newOwner wire.UserID) (wire.UserID, error) {
	const op = "transfer ownership"
	var prev wire.UserID
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		found, err := lockChannel(ctx, tx, channel)
		if err != nil {
			return wrap(op, err)
		}
		if !found {
			return store.ErrNotFound
		}
		var pending bool
		err = tx.QueryRow(ctx, `SELECT pending_invite FROM channel_members WHERE channel_id = $1 AND user_id = $2`,
			int64(channel), newOwner[:]).Scan(&pending)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && pending) {
			return store.ErrNotFound
		}
		if err != nil {
			return wrap(op, err)
		}
		var raw []byte
		err = tx.QueryRow(ctx, `SELECT user_id FROM channel_members WHERE channel_id = $1 AND access_level = 1
			ORDER BY user_id = $2 DESC, id LIMIT 1`, int64(channel), newOwner[:]).Scan(&raw)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return wrap(op, err)
		default:
			copy(prev[:], raw)
		}
		if _, err := tx.Exec(ctx, `UPDATE channel_members SET access_level = 2
			WHERE channel_id = $1 AND access_level = 1 AND user_id <> $2`, int64(channel), newOwner[:]); err != nil {
			return wrap(op, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE channel_members SET access_level = 1
			WHERE channel_id = $1 AND user_id = $2`, int64(channel), newOwner[:]); err != nil {
			return wrap(op, err)
		}
		return nil
	})
	if err != nil {
		return wire.UserID{}, err
	}
	return prev, nil
}

// ---- sub-channels ----

const subSelect = `SELECT channel_id, sub_channel_id, sub_channel_name, lowest_access_level, active_updates
	FROM sub_channels `

// scanSub reads one row of subSelect.
func scanSub(row pgx.Row) (store.SubChannel, error) {
	var (
		sc      store.SubChannel
		ch      int64
		id, lvl int16
	)
	if err := row.Scan(&ch, &id, &sc.Name, &lvl, &sc.ActiveUpdates); err != nil {
		return store.SubChannel{}, err
	}
	sc.ChannelID, sc.ID, sc.LowestLevel = uint64(ch), uint8(id), uint8(lvl)
	return sc, nil
}

// CreateSubChannel inserts a sub-channel with the smallest free id in one
// transaction that holds the channel row lock, so concurrent creations
// serialise; ErrNotFound (no channel), ErrNameTaken, ErrLimit. A max of 0 or
// less means the id-space limit (store.SubChannelLimit).
func (s *Store) CreateSubChannel(ctx context.Context, channel uint64, name string, max int) (store.SubChannel, error) {
	const op = "create sub-channel"
	var id uint8
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		found, err := lockChannel(ctx, tx, channel)
		if err != nil {
			return wrap(op, err)
		}
		if !found {
			return store.ErrNotFound
		}
		taken, err := exists(ctx, tx, `SELECT 1 FROM sub_channels WHERE channel_id = $1
			AND lower(sub_channel_name) = lower($2)`, int64(channel), name)
		if err != nil {
			return wrap(op, err)
		}
		if taken {
			return store.ErrNameTaken
		}
		rows, err := tx.Query(ctx, `SELECT sub_channel_id FROM sub_channels WHERE channel_id = $1 ORDER BY sub_channel_id`, int64(channel))
		if err != nil {
			return wrap(op, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int16])
		if err != nil {
			return wrap(op, err)
		}
		if len(ids) >= store.SubChannelLimit(max) {
			return store.ErrLimit
		}
		used := make([]uint8, len(ids))
		for i, v := range ids {
			used[i] = uint8(v)
		}
		var free bool
		if id, free = store.SmallestFreeSubID(used); !free {
			return store.ErrLimit
		}
		_, err = tx.Exec(ctx, `INSERT INTO sub_channels (channel_id, sub_channel_id, sub_channel_name,
			lowest_access_level, active_updates) VALUES ($1, $2, $3, 4, false)`, int64(channel), int16(id), name)
		if _, ok := uniqueViolation(err); ok {
			return store.ErrNameTaken
		}
		if err != nil {
			return wrap(op, err)
		}
		return nil
	})
	if err != nil {
		return store.SubChannel{}, err
	}
	return store.SubChannel{ChannelID: channel, ID: id, Name: name, LowestLevel: 4}, nil
}

// subBy returns the sub-channel matching the condition.
func (s *Store) subBy(ctx context.Context, op, cond string, args ...any) (store.SubChannel, error) {
	sc, err := scanSub(s.db.QueryRow(ctx, subSelect+`WHERE `+cond, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SubChannel{}, store.ErrNotFound
	}
	if err != nil {
		return store.SubChannel{}, wrap(op, err)
	}
	return sc, nil
}

// SubChannelByName returns a sub-channel by case-insensitive name.
func (s *Store) SubChannelByName(ctx context.Context, channel uint64, name string) (store.SubChannel, error) {
	return s.subBy(ctx, "sub-channel by name", `channel_id = $1 AND lower(sub_channel_name) = lower($2)`, int64(channel), name)
}

// SubChannelByID returns a sub-channel or ErrNotFound.
func (s *Store) SubChannelByID(ctx context.Context, channel uint64, id uint8) (store.SubChannel, error) {
	return s.subBy(ctx, "sub-channel by id", `channel_id = $1 AND sub_channel_id = $2`, int64(channel), int16(id))
}

// SubChannels returns every sub-channel of a channel, by id.
func (s *Store) SubChannels(ctx context.Context, channel uint64) ([]store.SubChannel, error) {
	const op = "sub-channels"
	rows, err := s.db.Query(ctx, subSelect+`WHERE channel_id = $1 ORDER BY sub_channel_id`, int64(channel))
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SubChannel, error) { return scanSub(r) })
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// UpdateSubChannel stores name, lowest level and active flag of a
// sub-channel; ErrNotFound, ErrNameTaken.
func (s *Store) UpdateSubChannel(ctx context.Context, sc store.SubChannel) error {
	tag, err := s.db.Exec(ctx, `UPDATE sub_channels SET sub_channel_name = $1, lowest_access_level = $2,
		active_updates = $3 WHERE channel_id = $4 AND sub_channel_id = $5`,
		sc.Name, int16(sc.LowestLevel), sc.ActiveUpdates, int64(sc.ChannelID), int16(sc.ID))
	if _, ok := uniqueViolation(err); ok {
		return store.ErrNameTaken
	}
	return affected("update sub-channel", tag, err)
}

// DeleteSubChannel removes a sub-channel (its read-only flags stay).
func (s *Store) DeleteSubChannel(ctx context.Context, channel uint64, id uint8) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM sub_channels WHERE channel_id = $1 AND sub_channel_id = $2`,
		int64(channel), int16(id))
	return affected("delete sub-channel", tag, err)
}

// ---- read-only flags ----

// ReadOnlyFlags returns every read-only flag of a channel, by sub id and
// level.
func (s *Store) ReadOnlyFlags(ctx context.Context, channel uint64) ([]store.ReadOnlyFlag, error) {
	const op = "read-only flags"
	rows, err := s.db.Query(ctx, `SELECT channel_id, sub_channel_id, access_level FROM read_only_flags
		WHERE channel_id = $1 ORDER BY sub_channel_id, access_level`, int64(channel))
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ReadOnlyFlag, error) {
		var (
			ch       int64
			sub, lvl int16
		)
		err := r.Scan(&ch, &sub, &lvl)
		return store.ReadOnlyFlag{ChannelID: uint64(ch), SubID: uint8(sub), Level: uint8(lvl)}, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// AddReadOnlyFlag inserts a flag; ErrExists, or ErrNotFound when the channel
// does not exist.
func (s *Store) AddReadOnlyFlag(ctx context.Context, f store.ReadOnlyFlag) error {
	_, err := s.db.Exec(ctx, `INSERT INTO read_only_flags (channel_id, sub_channel_id, access_level)
		VALUES ($1, $2, $3)`, int64(f.ChannelID), int16(f.SubID), int16(f.Level))
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
	tag, err := s.db.Exec(ctx, `DELETE FROM read_only_flags WHERE channel_id = $1 AND sub_channel_id = $2
		AND access_level = $3`, int64(f.ChannelID), int16(f.SubID), int16(f.Level))
	return affected("remove read-only flag", tag, err)
}

// ---- views ----

// ListView returns one page of a table viewer.
func (s *Store) ListView(ctx context.Context, v store.View, filters []store.Filter, p store.Page) ([]store.Row, error) {
	def, ok := viewDef(v)
	if !ok {
		return nil, fmt.Errorf("%w: %q", store.ErrUnknownView, v)
	}
	q, args := def.Select(dialect(), filters, p)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list "+string(v), err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Row, error) {
		row := store.Row{Cells: make([]string, len(def.Columns))}
		dst := make([]any, 0, len(def.Columns)+1)
		dst = append(dst, &row.Key)
		for i := range row.Cells {
			dst = append(dst, &row.Cells[i])
		}
		return row, r.Scan(dst...)
	})
	if err != nil {
		return nil, wrap("list "+string(v), err)
	}
	if out == nil {
		out = []store.Row{}
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
	tag, err := s.db.Exec(ctx, q, args...)
	if err != nil {
		return 0, wrap("delete "+string(v), err)
	}
	return tag.RowsAffected(), nil
}
