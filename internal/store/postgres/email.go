package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// E-mail verification and password recovery (issue 11).

func wrapErr(op string, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// EmailSettings returns the mail settings (defaults for missing keys).
func (s *Store) EmailSettings(ctx context.Context) (store.EmailSettings, error) {
	rows, err := s.db.Query(ctx, `SELECT key, value FROM email_settings`)
	if err != nil {
		return store.EmailSettings{}, wrap("email settings", err)
	}
	kv := map[string]string{}
	var k, v string
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error { kv[k] = v; return nil })
	if err != nil {
		return store.EmailSettings{}, wrap("email settings", err)
	}
	return store.EmailSettingsFromValues(kv)
}

// SaveEmailSettings stores every mail setting in one transaction.
func (s *Store) SaveEmailSettings(ctx context.Context, es store.EmailSettings) error {
	return wrapErr("save email settings", pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		for k, v := range es.Values() {
			if _, err := tx.Exec(ctx, `INSERT INTO email_settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return err
			}
		}
		return nil
	}))
}

// PutEmailCode inserts or replaces an account's verification code.
func (s *Store) PutEmailCode(ctx context.Context, c store.EmailCode) error {
	_, err := s.db.Exec(ctx, `INSERT INTO email_codes (user_id, code_hash, expires_at, attempts)
		VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash,
		expires_at = excluded.expires_at, attempts = excluded.attempts`,
		c.UserID[:], c.Hash, c.Expires.Unix(), c.Attempts)
	return wrapErr("put email code", err)
}

// EmailCode returns an account's verification code or ErrNotFound.
func (s *Store) EmailCode(ctx context.Context, user wire.UserID) (store.EmailCode, error) {
	c := store.EmailCode{UserID: user}
	var exp int64
	err := s.db.QueryRow(ctx, `SELECT code_hash, expires_at, attempts FROM email_codes WHERE user_id = $1`,
		user[:]).Scan(&c.Hash, &exp, &c.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.db.QueryRow(ctx, `UPDATE email_codes SET attempts = attempts + 1
		WHERE user_id = $1 AND code_hash = $2 RETURNING attempts`, user[:], hash).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, wrap("add email code attempt", err)
	}
	return n, nil
}

// DeleteEmailCode removes an account's code (only the one with hash, if given).
func (s *Store) DeleteEmailCode(ctx context.Context, user wire.UserID, hash string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM email_codes WHERE user_id = $1 AND ($2 = '' OR code_hash = $2)`,
		user[:], hash)
	return affected("delete email code", tag, err)
}

// PutRecovery inserts or replaces an account's temporary password.
func (s *Store) PutRecovery(ctx context.Context, r store.Recovery) error {
	_, err := s.db.Exec(ctx, `INSERT INTO pw_recovery (user_id, hash, time_stamp) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, time_stamp = excluded.time_stamp`,
		r.UserID[:], r.Hash, r.Issued.UTC().Truncate(time.Second))
	return wrapErr("put recovery", err)
}

// Recovery returns an account's temporary password or ErrNotFound.
func (s *Store) Recovery(ctx context.Context, user wire.UserID) (store.Recovery, error) {
	r := store.Recovery{UserID: user}
	var hash *string
	err := s.db.QueryRow(ctx, `SELECT hash, time_stamp FROM pw_recovery WHERE user_id = $1`,
		user[:]).Scan(&hash, &r.Issued)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, wrap("recovery", err)
	}
	if hash != nil {
		r.Hash = *hash
	}
	r.Issued = r.Issued.UTC()
	return r, nil
}

// DeleteRecovery removes an account's temporary password (only the one
// with hash, if given).
func (s *Store) DeleteRecovery(ctx context.Context, user wire.UserID, hash string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM pw_recovery WHERE user_id = $1 AND ($2 = '' OR hash = $2)`,
		user[:], hash)
	return affected("delete recovery", tag, err)
}

// CountFailedRecover counts the user's counted, failed recovery attempts.
func (s *Store) CountFailedRecover(ctx context.Context, user wire.UserID) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_log WHERE user_id = $1 AND recover_attempt
		AND count_to_threshold AND NOT accepted`, user[:]).Scan(&n)
	if err != nil {
		return 0, wrap("count failed recover", err)
	}
	return n, nil
}

// ResetFailedRecover stops counting the user's failed recovery attempts.
func (s *Store) ResetFailedRecover(ctx context.Context, user wire.UserID) error {
	_, err := s.db.Exec(ctx, `UPDATE auth_log SET count_to_threshold = false WHERE user_id = $1
		AND recover_attempt AND count_to_threshold`, user[:])
	return wrapErr("reset failed recover", err)
}
