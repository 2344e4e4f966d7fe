package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
)

// UserList returns every account in creation order.
func (s *Store) UserList(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, wrap("user list", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("user list", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("user list", err)
	}
	return out, nil
}

// ImportMarks returns the log marks recorded for a source database.
func (s *Store) ImportMarks(ctx context.Context, source string) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT log, last_rowid FROM original_import_marks WHERE source = ?`, source)
	if err != nil {
		return nil, wrap("import marks", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var log string
		var id int64
		if err := rows.Scan(&log, &id); err != nil {
			return nil, wrap("import marks", err)
		}
		out[log] = id
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("import marks", err)
	}
	return out, nil
}

// ImportOriginal writes a whole import in one transaction.
func (s *Store) ImportOriginal(ctx context.Context, b store.OriginalImport) error {
	const op = "import original"
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	if err := importTx(ctx, tx, &b); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// rowErr maps a constraint violation of one imported row to the store's
// errors, naming the row.
func rowErr(what string, err error) error {
	if msg, ok := uniqueViolation(err); ok {
		base := store.ErrExists
		switch {
		case strings.Contains(msg, "users.user_name"), strings.Contains(msg, "users.name_key"), strings.Contains(msg, "channels.channel_name"), strings.Contains(msg, "sub_channels.sub_channel_name"):
			base = store.ErrNameTaken
		case strings.Contains(msg, "users.email_address"):
			base = store.ErrEmailTaken
		}
		return fmt.Errorf("store: import %s: %w", what, base)
	}
	if fkViolation(err) {
		return fmt.Errorf("store: import %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("store: import %s: %w", what, err)
}

// tsOrNil formats t for a time_stamp column, or NULL (now) when zero.
func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

func importTx(ctx context.Context, tx *sql.Tx, b *store.OriginalImport) error {
	// Each statement is prepared once and run for every row.
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	exec := func(q string, args ...any) (sql.Result, error) {
		st, ok := stmts[q]
		if !ok {
			var err error
			if st, err = tx.PrepareContext(ctx, q); err != nil {
				return nil, err
			}
			stmts[q] = st
		}
		return st.ExecContext(ctx, args...)
	}
	if !b.ReplaceUser.IsZero() {
		if _, err := exec(`DELETE FROM users WHERE user_id = ?`, b.ReplaceUser[:]); err != nil {
			return rowErr("replace user", err)
		}
	}
	for _, u := range b.Users {
		_, err := exec(`INSERT INTO users (user_id, user_name, email_address,
			display_name, password_hash, host_rank, locked, new_password_req, new_name_req,
			email_verified, time_stamp, name_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP), ?)`,
			u.ID[:], u.Name, nullString(u.Email), u.DisplayName, u.PasswordHash, int64(u.Rank),
			u.Locked, u.NewPasswordReq, u.NewNameReq, u.EmailVerified, tsOrNil(u.Created), validate.NameKey(u.Name))
		if err != nil {
			return rowErr("user "+u.Name, err)
		}
	}
	for _, c := range b.Channels {
		// An explicit id also advances the AUTOINCREMENT counter, so ids
		// created later stay above every imported one.
		if _, err := exec(`INSERT INTO channels (channel_id, channel_name) VALUES (?, ?)`,
			int64(c.ID), c.Name); err != nil {
			return rowErr("channel "+c.Name, err)
		}
	}
	for _, sc := range b.SubChannels {
		if _, err := exec(`INSERT INTO sub_channels (channel_id, sub_channel_id, sub_channel_name,
			lowest_access_level, active_updates) VALUES (?, ?, ?, ?, ?)`,
			int64(sc.ChannelID), int64(sc.ID), sc.Name, int64(sc.LowestLevel), sc.ActiveUpdates); err != nil {
			return rowErr("sub-channel "+sc.Name, err)
		}
	}
	for _, m := range b.Members {
		if _, err := exec(`INSERT INTO channel_members (channel_id, user_id, pending_invite, access_level)
			VALUES (?, ?, ?, ?)`, int64(m.ChannelID), m.UserID[:], m.Pending, int64(m.Level)); err != nil {
			return rowErr(fmt.Sprintf("member of channel %d", m.ChannelID), err)
		}
	}
	for _, f := range b.ReadOnlyFlags {
		if _, err := exec(`INSERT INTO read_only_flags (channel_id, sub_channel_id, access_level)
			VALUES (?, ?, ?)`, int64(f.ChannelID), int64(f.SubID), int64(f.Level)); err != nil {
			return rowErr(fmt.Sprintf("read-only flag of channel %d", f.ChannelID), err)
		}
	}
	for _, r := range b.CommandRanks {
		if _, err := exec(`INSERT INTO command_ranks (module_executable, command_name, host_rank)
			VALUES (?, ?, ?)`, r.Module, store.CommandKey(r.Command), int64(r.Rank)); err != nil {
			return rowErr("command rank "+r.Command, err)
		}
	}
	for _, ban := range b.Bans {
		if _, err := exec(`INSERT INTO ban_list (ip_address, time_stamp)
			VALUES (?, COALESCE(?, CURRENT_TIMESTAMP))`, ban.IP, tsOrNil(ban.Time)); err != nil {
			return rowErr("ban "+ban.IP, err)
		}
	}
	for _, c := range b.Certs {
		if _, err := exec(`INSERT INTO ssl_certs (common_name, ssl_cert, private_key) VALUES (?, ?, ?)`,
			c.CommonName, nonNil(c.CertPEM), nonNil(c.KeyPEM)); err != nil {
			return rowErr("certificate "+c.CommonName, err)
		}
	}
	for _, m := range b.Modules {
		if _, err := exec(`INSERT INTO modules (module_executable) VALUES (?)`, m); err != nil {
			return rowErr("module "+m, err)
		}
	}
	if b.Settings != nil {
		res, err := exec(`UPDATE host_settings SET (`+settingsCols+`) = (`+settingsPlaceholders+`)
			WHERE rowid = (SELECT MIN(rowid) FROM host_settings)`, settingsArgs(*b.Settings)...)
		if err != nil {
			return rowErr("settings", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return rowErr("settings", err)
		} else if n == 0 {
			if err := insertSettings(ctx, tx, *b.Settings); err != nil {
				return rowErr("settings", err)
			}
		}
	}
	if err := importLogs(ctx, tx, b); err != nil {
		return err
	}
	for _, m := range b.Marks {
		if _, err := exec(`INSERT INTO original_import_marks (source, log, last_rowid) VALUES (?, ?, ?)
			ON CONFLICT (source, log) DO UPDATE SET last_rowid = excluded.last_rowid`,
			m.Source, m.Log, m.LastRowID); err != nil {
			return rowErr("log mark", err)
		}
	}
	return nil
}

// importLogs inserts the log rows with prepared statements.
func importLogs(ctx context.Context, tx *sql.Tx, b *store.OriginalImport) error {
	each := func(what, q string, n int, args func(int) []any) error {
		if n == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return rowErr(what, err)
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
				return rowErr(what, err)
			}
		}
		return nil
	}
	if err := each("auth log", `INSERT INTO auth_log (ip_address, user_id, auth_attempt, recover_attempt,
			count_to_threshold, accepted, time_stamp) VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP))`,
		len(b.AuthLog), func(i int) []any {
			a := b.AuthLog[i]
			return []any{a.IP, a.UserID[:], a.AuthAttempt.AuthAttempt, a.RecoverAttempt, a.CountToThreshold,
				a.Accepted, tsOrNil(a.Time)}
		}); err != nil {
		return err
	}
	if err := each("activity log", `INSERT INTO ip_history (ip_address, session_id, client_app, log_entry, time_stamp)
			VALUES (?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP))`, len(b.Activity), func(i int) []any {
		a := b.Activity[i]
		return []any{a.IP, a.SessionID[:], a.ClientApp, a.Entry, tsOrNil(a.Time)}
	}); err != nil {
		return err
	}
	return each("debug log", `INSERT INTO host_debug_messages (log_entry, time_stamp)
			VALUES (?, COALESCE(?, CURRENT_TIMESTAMP))`, len(b.Debug), func(i int) []any {
		d := b.Debug[i]
		return []any{d.Entry, tsOrNil(d.Time)}
	})
}
