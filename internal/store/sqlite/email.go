package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// E-mail verification and password recovery (issue 11).

// EmailSettings returns the mail settings (defaults for missing keys).
func (s *Store) EmailSettings(ctx context.Context) (store.EmailSettings, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM email_settings`)
	if err != nil {
		return store.EmailSettings{}, wrap("email settings", err)
	}
	defer rows.Close()
	kv := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return store.EmailSettings{}, wrap("email settings", err)
		}
		kv[k] = v
	}
	if err := rows.Err(); err != nil {
		return store.EmailSettings{}, wrap("email settings", err)
	}
	return store.EmailSettingsFromValues(kv)
}

// SaveEmailSettings stores every mail setting in one transaction.
func (s *Store) SaveEmailSettings(ctx context.Context, es store.EmailSettings) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("save email settings", err)
	}
	defer func() { _ = tx.Rollback() }()
	for k, v := range es.Values() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO email_settings (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
			return wrap("save email settings", err)
		}
	}
	return wrap2("save email settings", tx.Commit())
}

func wrap2(op string, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// PutEmailCode inserts or replaces an account's verification code.
func (s *Store) PutEmailCode(ctx context.Context, c store.EmailCode) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO email_codes (user_id, code_hash, expires_at, attempts)
		VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash,
		expires_at = excluded.expires_at, attempts = excluded.attempts`,
		c.UserID[:], c.Hash, c.Expires.Unix(), c.Attempts)
	return wrap2("put email code", err)
}

// EmailCode returns an account's verification code or ErrNotFound.
func (s *Store) EmailCode(ctx context.Context, user wire.UserID) (store.EmailCode, error) {
	c := store.EmailCode{UserID: user}
	var exp int64
	err := s.r.QueryRowContext(ctx, `SELECT code_hash, expires_at, attempts FROM email_codes WHERE user_id = ?`,
		user[:]).Scan(&c.Hash, &exp, &c.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	if err != nil {
		return c, wrap("email code", err)
	}
	c.Expires = time.Unix(exp, 0).UTC()
	return c, nil
}

// AddEmailCodeAttempt counts a wrong answer for the code with hash.
func (s *Store) AddEmailCodeAttempt(ctx context.Context, user wire.UserID, hash string) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `UPDATE email_codes SET attempts = attempts + 1
		WHERE user_id = ? AND code_hash = ? RETURNING attempts`, user[:], hash).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, wrap("add email code attempt", err)
	}
	return n, nil
}

// DeleteEmailCode removes an account's code (only the one with hash, if given).
func (s *Store) DeleteEmailCode(ctx context.Context, user wire.UserID, hash string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM email_codes WHERE user_id = ? AND (? = '' OR code_hash = ?)`,
		user[:], hash, hash)
	return affected("delete email code", res, err)
}

// PutRecovery inserts or replaces an account's temporary password.
func (s *Store) PutRecovery(ctx context.Context, r store.Recovery) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO pw_recovery (user_id, hash, time_stamp) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, time_stamp = excluded.time_stamp`,
		r.UserID[:], r.Hash, ts(r.Issued))
	return wrap2("put recovery", err)
}

// Recovery returns an account's temporary password or ErrNotFound.
func (s *Store) Recovery(ctx context.Context, user wire.UserID) (store.Recovery, error) {
	r := store.Recovery{UserID: user}
	var hash sql.NullString
	var issued string
	err := s.r.QueryRowContext(ctx, `SELECT hash, `+tsExpr("time_stamp")+` FROM pw_recovery WHERE user_id = ?`,
		user[:]).Scan(&hash, &issued)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, wrap("recovery", err)
	}
	r.Hash = hash.String
	if r.Issued, err = parseTS(issued); err != nil {
		return r, wrap("recovery", err)
	}
	return r, nil
}

// DeleteRecovery removes an account's temporary password (only the one
// with hash, if given).
func (s *Store) DeleteRecovery(ctx context.Context, user wire.UserID, hash string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM pw_recovery WHERE user_id = ? AND (? = '' OR hash = ?)`,
		user[:], hash, hash)
	return affected("delete recovery", res, err)
}

// CountFailedRecover counts the user's counted, failed recovery attempts.
func (s *Store) CountFailedRecover(ctx context.Context, user wire.UserID) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_log WHERE user_id = ? AND recover_attempt = 1
		AND count_to_threshold = 1 AND accepted = 0`, user[:]).Scan(&n)
	if err != nil {
		return 0, wrap("count failed recover", err)
	}
	return n, nil
}

// ResetFailedRecover stops counting the user's failed recovery attempts.
func (s *Store) ResetFailedRecover(ctx context.Context, user wire.UserID) error {
	_, err := s.w.ExecContext(ctx, `UPDATE auth_log SET count_to_threshold = 0 WHERE user_id = ?
		AND recover_attempt = 1 AND count_to_threshold = 1`, user[:])
	return wrap2("reset failed recover", err)
}
