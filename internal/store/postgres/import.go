package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
)

// UserList returns every account in creation order.
func (s *Store) UserList(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
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
	rows, err := s.db.Query(ctx, `SELECT log, last_rowid FROM original_import_marks WHERE source = $1`, source)
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
	return s.inTx(ctx, "import original", func(tx pgx.Tx) error { return importTx(ctx, tx, &b) })
}

// rowErr maps a constraint violation of one imported row to the store's
// errors, naming the row.
func rowErr(what string, err error) error {
	if name, ok := uniqueViolation(err); ok {
		base := store.ErrExists
		switch name {
		case "users_user_name_key", "users_name_key_key", "channels_channel_name_key", "sub_channels_name_key":
			base = store.ErrNameTaken
		case "users_email_address_key":
			base = store.ErrEmailTaken
		}
		return fmt.Errorf("store: import %s: %w", what, base)
	}
	if fkViolation(err) {
		return fmt.Errorf("store: import %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("store: import %s: %w", what, err)
}

// tsOrNil is t truncated to seconds, or NULL (now) when zero.
func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.TruncTime(t)
}

// importOp is one statement of an import, named for error messages.
type importOp struct {
	what string
	q    string
	args []any
}

// importTx queues every statement of the import and sends them in batches
// (one round trip per batch instead of one per row); the first failing
// statement names the row and aborts the transaction.
func importTx(ctx context.Context, tx pgx.Tx, b *store.OriginalImport) error {
	var ops []importOp
	queueImport(func(what, q string, args ...any) {
		ops = append(ops, importOp{what: what, q: q, args: args})
	}, b)
	const batchSize = 5000
	for len(ops) > 0 {
		n := min(len(ops), batchSize)
		if err := sendOps(ctx, tx, ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	if b.Settings != nil {
		if err := saveSettings(ctx, tx, *b.Settings); err != nil {
			return rowErr("settings", err)
		}
	}
	return nil
}

// sendOps runs ops as one batch and reports the first failure.
func sendOps(ctx context.Context, tx pgx.Tx, ops []importOp) error {
	batch := &pgx.Batch{}
	for _, op := range ops {
		batch.Queue(op.q, op.args...)
	}
	br := tx.SendBatch(ctx, batch)
	for _, op := range ops {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return rowErr(op.what, err)
		}
	}
	if err := br.Close(); err != nil {
		return rowErr("batch", err)
	}
	return nil
}

// queueImport hands every statement of the import, in dependency order, to
// exec.
func queueImport(exec func(what, q string, args ...any), b *store.OriginalImport) {
	if !b.ReplaceUser.IsZero() {
		exec("replace user", `DELETE FROM users WHERE user_id = $1`, b.ReplaceUser[:])
	}
	for _, u := range b.Users {
		exec("user "+u.Name, `INSERT INTO users (user_id, user_name, email_address,
			display_name, password_hash, host_rank, locked, new_password_req, new_name_req,
			email_verified, time_stamp, name_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11::timestamptz, date_trunc('second', now())), $12)`,
			u.ID[:], u.Name, nullString(u.Email), u.DisplayName, u.PasswordHash, int64(u.Rank),
			u.Locked, u.NewPasswordReq, u.NewNameReq, u.EmailVerified, tsOrNil(u.Created), validate.NameKey(u.Name))
	}
	for _, c := range b.Channels {
		exec("channel "+c.Name, `INSERT INTO channels (channel_id, channel_name)
			OVERRIDING SYSTEM VALUE VALUES ($1, $2)`, int64(c.ID), c.Name)
	}
	if len(b.Channels) > 0 {
		// Explicit ids do not advance the identity sequence: move it past
		// the largest id so later channels never reuse an imported one.
		exec("channel ids", `SELECT setval(pg_get_serial_sequence('channels', 'channel_id'),
			GREATEST((SELECT MAX(channel_id) FROM channels),
				COALESCE(pg_sequence_last_value(pg_get_serial_sequence('channels', 'channel_id')::regclass), 0)))`)
	}
	for _, sc := range b.SubChannels {
		exec("sub-channel "+sc.Name, `INSERT INTO sub_channels (channel_id, sub_channel_id, sub_channel_name,
			lowest_access_level, active_updates) VALUES ($1, $2, $3, $4, $5)`,
			int64(sc.ChannelID), int64(sc.ID), sc.Name, int64(sc.LowestLevel), sc.ActiveUpdates)
	}
	for _, m := range b.Members {
		exec(fmt.Sprintf("member of channel %d", m.ChannelID), `INSERT INTO channel_members
			(channel_id, user_id, pending_invite, access_level) VALUES ($1, $2, $3, $4)`,
			int64(m.ChannelID), m.UserID[:], m.Pending, int64(m.Level))
	}
	for _, f := range b.ReadOnlyFlags {
		exec(fmt.Sprintf("read-only flag of channel %d", f.ChannelID), `INSERT INTO read_only_flags
			(channel_id, sub_channel_id, access_level) VALUES ($1, $2, $3)`,
			int64(f.ChannelID), int64(f.SubID), int64(f.Level))
	}
	for _, r := range b.CommandRanks {
		exec("command rank "+r.Command, `INSERT INTO command_ranks (module_executable, command_name, host_rank)
			VALUES ($1, $2, $3)`, r.Module, store.CommandKey(r.Command), int64(r.Rank))
	}
	for _, ban := range b.Bans {
		exec("ban "+ban.IP, `INSERT INTO ban_list (ip_address, time_stamp)
			VALUES ($1, COALESCE($2::timestamptz, date_trunc('second', now())))`, ban.IP, tsOrNil(ban.Time))
	}
	for _, c := range b.Certs {
		exec("certificate "+c.CommonName, `INSERT INTO ssl_certs (common_name, ssl_cert, private_key)
			VALUES ($1, $2, $3)`, c.CommonName, nonNil(c.CertPEM), nonNil(c.KeyPEM))
	}
	for _, m := range b.Modules {
		exec("module "+m, `INSERT INTO modules (module_executable) VALUES ($1)`, m)
	}
	for _, a := range b.AuthLog {
		exec("auth log", `INSERT INTO auth_log (ip_address, user_id, auth_attempt, recover_attempt,
			count_to_threshold, accepted, time_stamp)
			VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::timestamptz, date_trunc('second', now())))`,
			a.IP, a.UserID[:], a.AuthAttempt.AuthAttempt, a.RecoverAttempt, a.CountToThreshold, a.Accepted,
			tsOrNil(a.Time))
	}
	for _, a := range b.Activity {
		exec("activity log", `INSERT INTO ip_history (ip_address, session_id, client_app, log_entry, time_stamp)
			VALUES ($1, $2, $3, $4, COALESCE($5::timestamptz, date_trunc('second', now())))`,
			a.IP, a.SessionID[:], a.ClientApp, a.Entry, tsOrNil(a.Time))
	}
	for _, d := range b.Debug {
		exec("debug log", `INSERT INTO host_debug_messages (log_entry, time_stamp)
			VALUES ($1, COALESCE($2::timestamptz, date_trunc('second', now())))`, d.Entry, tsOrNil(d.Time))
	}
	for _, m := range b.Marks {
		exec("log mark", `INSERT INTO original_import_marks (source, log, last_rowid) VALUES ($1, $2, $3)
			ON CONFLICT (source, log) DO UPDATE SET last_rowid = excluded.last_rowid`,
			m.Source, m.Log, m.LastRowID)
	}
}
