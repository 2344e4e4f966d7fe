package importer

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// ErrNotOriginal is wrapped by Run's error when the source file is not a
// database of the original host (missing tables or columns, another
// program's database, not SQLite at all).
var ErrNotOriginal = errors.New("not a database of the original MRCI host")

// source is the original host's database, opened read-only.
type source struct {
	db *sql.DB
	// optional tables present in this file
	hasReadOnlyFlags, hasRecovery bool
}

// required lists the tables and columns the import reads (host.md §12).
// The original adds missing columns at every start, so a database it has
// opened once has all of them.
var required = map[string][]string{
	"users": {"user_name", "user_id", "email_address", "hash", "salt", "time_stamp", "new_password_req",
		"new_name_req", "locked", "email_verified", "display_name", "host_rank"},
	"channels":        {"channel_id", "channel_name"},
	"channel_members": {"channel_id", "user_id", "pending_invite", "access_level"},
	"sub_channels":    {"channel_id", "sub_channel_name", "sub_channel_id", "lowest_access_level", "active_updates"},
	"command_ranks":   {"command_name", "host_rank", "module_executable"},
	"ban_list":        {"ip_address", "time_stamp"},
	"ssl_certs":       {"common_name", "ssl_cert", "private_key"},
	"modules":         {"module_executable"},
	"host_settings": {"ip_address", "port", "auto_ban_threshold", "auto_lock_threshold", "max_sessions",
		"allow_public_registrations", "initial_host_rank", "mailer_executable", "mailer_send_command",
		"verify_email_subject", "temp_pw_email_subject", "verify_email_template", "temp_pw_email_template",
		"eable_email_verify", "enable_pw_reset", "active_updates", "max_sub_channels", "default_password"},
}

// logTables lists the log tables and their columns (read with --with-logs).
var logTables = map[string][]string{
	"auth_log":            {"ip_address", "time_stamp", "user_id", "auth_attempt", "recover_attempt", "accepted", "count_to_threshold"},
	"ip_history":          {"ip_address", "time_stamp", "session_id", "client_app", "log_entry"},
	"host_debug_messages": {"time_stamp", "log_entry"},
}

// openSource opens path read-only (the file is never written: mode=ro and
// query_only) and checks its schema.
func openSource(ctx context.Context, path string, withLogs bool) (*source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("source database: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source database %s: not a regular file", path)
	}
	if err := checkMagic(path); err != nil {
		return nil, err
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+esc+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open source database: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &source{db: db}
	if err := s.checkSchema(ctx, withLogs); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkMagic refuses files that are not SQLite databases before the driver
// sees them.
func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("source database: %w", err)
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte("SQLite format 3\x00")) {
		return fmt.Errorf("%s: %w (not an SQLite database file)", path, ErrNotOriginal)
	}
	return nil
}

func (s *source) Close() error { return s.db.Close() }

// columns returns the column names of a table (nil if it does not exist).
func (s *source) columns(ctx context.Context, table string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("read source schema: %w", err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read source schema: %w", err)
		}
		cols[strings.ToLower(n)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read source schema: %w", err)
	}
	if len(cols) == 0 {
		return nil, nil
	}
	return cols, nil
}

func (s *source) checkSchema(ctx context.Context, withLogs bool) error {
	if cols, err := s.columns(ctx, "schema_migrations"); err != nil {
		return err
	} else if cols != nil {
		return fmt.Errorf("%w: it is an mrci database (it has schema_migrations); copy the data directory instead of importing", ErrNotOriginal)
	}
	need := map[string][]string{}
	for t, c := range required {
		need[t] = c
	}
	if withLogs {
		for t, c := range logTables {
			need[t] = c
		}
	}
	var missing []string
	for _, t := range sortedKeys(need) {
		cols, err := s.columns(ctx, t)
		if err != nil {
			return err
		}
		if cols == nil {
			missing = append(missing, "table "+t)
			continue
		}
		for _, c := range need[t] {
			if !cols[c] {
				missing = append(missing, t+"."+c)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrNotOriginal, strings.Join(missing, ", "))
	}
	ro, err := s.columns(ctx, "read_only_flags")
	if err != nil {
		return err
	}
	s.hasReadOnlyFlags = ro["channel_id"] && ro["sub_channel_id"] && ro["access_level"]
	rec, err := s.columns(ctx, "pw_recovery")
	if err != nil {
		return err
	}
	s.hasRecovery = rec != nil
	return nil
}

// tsCol reads a time_stamp column as UTC text ("" when unparseable).
func tsCol(col string) string {
	return "COALESCE(strftime('%Y-%m-%d %H:%M:%S', " + col + "), '')"
}

// boolCol reads a BOOL column; NULL is false.
func boolCol(col string) string { return "(COALESCE(" + col + ", 0) <> 0)" }

// parseTime parses tsCol's text; "" or bad text gives the zero time.
func parseTime(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

// srcUser is one row of users.
type srcUser struct {
	rowid                            int64
	id, hash, salt                   []byte
	name, email, display             sql.NullString
	created                          time.Time
	newPw, newName, locked, verified bool
	rank                             sql.NullInt64
}

func (s *source) users(ctx context.Context) ([]srcUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rowid, user_id, user_name, email_address, display_name, hash, salt,
		`+tsCol("time_stamp")+`, `+boolCol("new_password_req")+`, `+boolCol("new_name_req")+`,
		`+boolCol("locked")+`, `+boolCol("email_verified")+`, host_rank FROM users ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	defer rows.Close()
	var out []srcUser
	for rows.Next() {
		var u srcUser
		var created string
		if err := rows.Scan(&u.rowid, &u.id, &u.name, &u.email, &u.display, &u.hash, &u.salt, &created,
			&u.newPw, &u.newName, &u.locked, &u.verified, &u.rank); err != nil {
			return nil, fmt.Errorf("read users: %w", err)
		}
		u.created = parseTime(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

type srcChannel struct {
	id   int64
	name sql.NullString
}

func (s *source) channels(ctx context.Context) ([]srcChannel, error) {
	var out []srcChannel
	err := s.each(ctx, "channels", `SELECT channel_id, channel_name FROM channels ORDER BY channel_id`, func(r *sql.Rows) error {
		var c srcChannel
		err := r.Scan(&c.id, &c.name)
		out = append(out, c)
		return err
	})
	return out, err
}

type srcSub struct {
	rowid, channel int64
	id, level      sql.NullInt64
	name           sql.NullString
	active         bool
}

func (s *source) subChannels(ctx context.Context) ([]srcSub, error) {
	var out []srcSub
	err := s.each(ctx, "sub_channels", `SELECT rowid, channel_id, sub_channel_id, sub_channel_name, lowest_access_level,
		`+boolCol("active_updates")+` FROM sub_channels ORDER BY rowid`, func(r *sql.Rows) error {
		var c srcSub
		err := r.Scan(&c.rowid, &c.channel, &c.id, &c.name, &c.level, &c.active)
		out = append(out, c)
		return err
	})
	return out, err
}

type srcMember struct {
	rowid   int64
	channel sql.NullInt64
	user    []byte
	pending bool
	level   sql.NullInt64
}

func (s *source) members(ctx context.Context) ([]srcMember, error) {
	var out []srcMember
	err := s.each(ctx, "channel_members", `SELECT rowid, channel_id, user_id, `+boolCol("pending_invite")+`, access_level
		FROM channel_members ORDER BY rowid`, func(r *sql.Rows) error {
		var m srcMember
		err := r.Scan(&m.rowid, &m.channel, &m.user, &m.pending, &m.level)
		out = append(out, m)
		return err
	})
	return out, err
}

type srcFlag struct {
	channel, sub, level sql.NullInt64
}

func (s *source) readOnlyFlags(ctx context.Context) ([]srcFlag, error) {
	if !s.hasReadOnlyFlags {
		return nil, nil
	}
	var out []srcFlag
	err := s.each(ctx, "read_only_flags", `SELECT channel_id, sub_channel_id, access_level FROM read_only_flags ORDER BY rowid`,
		func(r *sql.Rows) error {
			var f srcFlag
			err := r.Scan(&f.channel, &f.sub, &f.level)
			out = append(out, f)
			return err
		})
	return out, err
}

type srcRank struct {
	command, module sql.NullString
	rank            sql.NullInt64
}

func (s *source) commandRanks(ctx context.Context) ([]srcRank, error) {
	var out []srcRank
	err := s.each(ctx, "command_ranks", `SELECT command_name, module_executable, host_rank FROM command_ranks ORDER BY rowid`,
		func(r *sql.Rows) error {
			var c srcRank
			err := r.Scan(&c.command, &c.module, &c.rank)
			out = append(out, c)
			return err
		})
	return out, err
}

type srcBan struct {
	ip   sql.NullString
	time time.Time
}

func (s *source) bans(ctx context.Context) ([]srcBan, error) {
	var out []srcBan
	err := s.each(ctx, "ban_list", `SELECT ip_address, `+tsCol("time_stamp")+` FROM ban_list ORDER BY rowid`,
		func(r *sql.Rows) error {
			var b srcBan
			var t string
			err := r.Scan(&b.ip, &t)
			b.time = parseTime(t)
			out = append(out, b)
			return err
		})
	return out, err
}

type srcCert struct {
	cn        sql.NullString
	cert, key []byte
}

func (s *source) certs(ctx context.Context) ([]srcCert, error) {
	var out []srcCert
	err := s.each(ctx, "ssl_certs", `SELECT common_name, ssl_cert, private_key FROM ssl_certs ORDER BY rowid`,
		func(r *sql.Rows) error {
			var c srcCert
			err := r.Scan(&c.cn, &c.cert, &c.key)
			out = append(out, c)
			return err
		})
	return out, err
}

func (s *source) modules(ctx context.Context) ([]sql.NullString, error) {
	var out []sql.NullString
	err := s.each(ctx, "modules", `SELECT module_executable FROM modules ORDER BY rowid`, func(r *sql.Rows) error {
		var m sql.NullString
		err := r.Scan(&m)
		out = append(out, m)
		return err
	})
	return out, err
}

// srcSettings is the original's settings row; NULL columns are not Valid.
type srcSettings struct {
	found                                                   bool
	addr, mailExe, mailCmd, vSubj, tSubj, vTpl, tTpl, defPw sql.NullString
	archiver, compress, extract                             sql.NullString
	port, ban, lock, maxSes, rank, maxSub                   sql.NullInt64
	pubReg, emailVerify, pwReset, active                    sql.NullBool
}

func (s *source) settings(ctx context.Context) (srcSettings, error) {
	var st srcSettings
	cols, err := s.columns(ctx, "host_settings")
	if err != nil {
		return st, err
	}
	opt := func(c string) string {
		if cols[c] {
			return "CAST(" + c + " AS TEXT)"
		}
		return "NULL"
	}
	err = s.db.QueryRowContext(ctx, `SELECT CAST(ip_address AS TEXT), port, auto_ban_threshold, auto_lock_threshold, max_sessions,
		allow_public_registrations, initial_host_rank, mailer_executable, mailer_send_command, verify_email_subject,
		temp_pw_email_subject, verify_email_template, temp_pw_email_template, eable_email_verify, enable_pw_reset,
		active_updates, max_sub_channels, CAST(default_password AS TEXT), `+opt("archiver_executable")+`, `+
		opt("compress_command")+`, `+opt("extract_command")+` FROM host_settings ORDER BY rowid LIMIT 1`).Scan(
		&st.addr, &st.port, &st.ban, &st.lock, &st.maxSes, &st.pubReg, &st.rank, &st.mailExe, &st.mailCmd,
		&st.vSubj, &st.tSubj, &st.vTpl, &st.tTpl, &st.emailVerify, &st.pwReset, &st.active, &st.maxSub, &st.defPw,
		&st.archiver, &st.compress, &st.extract)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read host_settings: %w", err)
	}
	st.found = true
	return st, nil
}

// count returns the number of rows of a table, optionally above a rowid.
func (s *source) count(ctx context.Context, table string, above int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE rowid > ?`, above).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

type srcAuth struct {
	rowid                                     int64
	ip                                        sql.NullString
	user                                      []byte
	time                                      time.Time
	auth, recover, accepted, countToThreshold bool
}

func (s *source) authLog(ctx context.Context, after int64) ([]srcAuth, error) {
	var out []srcAuth
	err := s.each(ctx, "auth_log", `SELECT rowid, ip_address, user_id, `+tsCol("time_stamp")+`, `+boolCol("auth_attempt")+`,
		`+boolCol("recover_attempt")+`, `+boolCol("accepted")+`, `+boolCol("count_to_threshold")+`
		FROM auth_log WHERE rowid > ? ORDER BY rowid`, func(r *sql.Rows) error {
		var a srcAuth
		var t string
		err := r.Scan(&a.rowid, &a.ip, &a.user, &t, &a.auth, &a.recover, &a.accepted, &a.countToThreshold)
		a.time = parseTime(t)
		out = append(out, a)
		return err
	}, after)
	return out, err
}

type srcActivity struct {
	rowid          int64
	ip, app, entry sql.NullString
	session        []byte
	time           time.Time
}

func (s *source) activity(ctx context.Context, after int64) ([]srcActivity, error) {
	var out []srcActivity
	err := s.each(ctx, "ip_history", `SELECT rowid, ip_address, CAST(client_app AS TEXT), log_entry, session_id,
		`+tsCol("time_stamp")+` FROM ip_history WHERE rowid > ? ORDER BY rowid`, func(r *sql.Rows) error {
		var a srcActivity
		var t string
		err := r.Scan(&a.rowid, &a.ip, &a.app, &a.entry, &a.session, &t)
		a.time = parseTime(t)
		out = append(out, a)
		return err
	}, after)
	return out, err
}

type srcDebug struct {
	rowid int64
	entry sql.NullString
	time  time.Time
}

func (s *source) debug(ctx context.Context, after int64) ([]srcDebug, error) {
	var out []srcDebug
	err := s.each(ctx, "host_debug_messages", `SELECT rowid, log_entry, `+tsCol("time_stamp")+`
		FROM host_debug_messages WHERE rowid > ? ORDER BY rowid`, func(r *sql.Rows) error {
		var d srcDebug
		var t string
		err := r.Scan(&d.rowid, &d.entry, &t)
		d.time = parseTime(t)
		out = append(out, d)
		return err
	}, after)
	return out, err
}

// each runs a query and calls fn for every row.
func (s *source) each(ctx context.Context, table, q string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	return nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
