package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// This file holds the account hardening of issue 8 (migration 2):
// account_limits, auth_counters, account_quotas and users.name_key.

// acctExecer is what *sql.DB and *sql.Tx have in common.
type acctExecer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const limitsCols = `free_failures, first_delay_ms, max_delay_ms, forget_after_ms,
	max_channels_per_user, max_pending_invites, max_renames, rename_window_ms`

// putAccountLimits inserts or replaces the account_limits row.
func putAccountLimits(ctx context.Context, db acctExecer, l store.AccountLimits) error {
	_, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO account_limits (singleton, `+limitsCols+`)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(l.FreeFailures), l.FirstDelay.Milliseconds(), l.MaxDelay.Milliseconds(),
		l.ForgetAfter.Milliseconds(), int64(l.MaxChannelsPerUser), int64(l.MaxPendingInvites),
		int64(l.MaxRenames), l.RenameWindow.Milliseconds())
	return err
}

// seedNameKeys computes the look-alike key of every existing user name
// (migration 2). Accounts whose names already look alike keep working: the
// later one's key gets its id appended, so the unique index can be built
// and neither name can be taken by a third look-alike.
func seedNameKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT user_id, user_name FROM users ORDER BY id`)
	if err != nil {
		return err
	}
	type row struct {
		id  []byte
		key string
	}
	var all []row
	seen := map[string]bool{}
	for rows.Next() {
		var (
			id   []byte
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return err
		}
		key := validate.NameKey(name)
		if seen[key] {
			key = fmt.Sprintf("%s %x", key, id)
		}
		seen[key] = true
		all = append(all, row{id, key})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name_key = ? WHERE user_id = ?`, r.key, r.id); err != nil {
			return err
		}
	}
	return nil
}

// AccountLimits returns the account_limits row.
func (s *Store) AccountLimits(ctx context.Context) (store.AccountLimits, error) {
	var (
		l                        store.AccountLimits
		free, chans, invs, rens  int64
		first, maxd, forget, win int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT `+limitsCols+` FROM account_limits WHERE singleton = 1`).
		Scan(&free, &first, &maxd, &forget, &chans, &invs, &rens, &win)
	if errors.Is(err, sql.ErrNoRows) {
		return store.DefaultAccountLimits(), nil
	}
	if err != nil {
		return l, wrap("account limits", err)
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return store.AccountLimits{
		FreeFailures: uint32(free), FirstDelay: ms(first), MaxDelay: ms(maxd), ForgetAfter: ms(forget),
		MaxChannelsPerUser: uint32(chans), MaxPendingInvites: uint32(invs),
		MaxRenames: uint32(rens), RenameWindow: ms(win),
	}, nil
}

// SaveAccountLimits replaces the account_limits row.
func (s *Store) SaveAccountLimits(ctx context.Context, l store.AccountLimits) error {
	if err := putAccountLimits(ctx, s.w, l); err != nil {
		return wrap("save account limits", err)
	}
	return nil
}

// counter reads one auth counter (zero when absent).
func counter(ctx context.Context, tx *sql.Tx, scope, key string) (store.AuthCounter, error) {
	var n, pending, last int64
	err := tx.QueryRowContext(ctx, `SELECT failures, pending, last_attempt_ms FROM auth_counters
		WHERE scope = ? AND counter_key = ?`, scope, key).Scan(&n, &pending, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuthCounter{}, nil
	}
	return store.AuthCounter{Failures: uint32(n), Pending: uint32(pending), Last: time.UnixMilli(last)}, err
}

// putCounter stores one auth counter.
func putCounter(ctx context.Context, tx *sql.Tx, scope, key string, c store.AuthCounter) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO auth_counters (scope, counter_key, failures, pending, last_attempt_ms)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, counter_key)
		DO UPDATE SET failures = excluded.failures, pending = excluded.pending,
			last_attempt_ms = excluded.last_attempt_ms`,
		scope, key, int64(c.Failures), int64(c.Pending), c.Last.UnixMilli())
	return err
}

// settle takes one pending claim off a counter; fail also counts it as a
// failure (a counter deleted meanwhile starts again at that failure).
func settle(ctx context.Context, tx *sql.Tx, scope, key string, fail bool, now time.Time) error {
	if fail {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_counters (scope, counter_key, failures, pending, last_attempt_ms)
			VALUES (?, ?, 1, 0, ?) ON CONFLICT (scope, counter_key)
			DO UPDATE SET failures = failures + 1, pending = max(pending - 1, 0)`, scope, key, now.UnixMilli())
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE auth_counters SET pending = max(pending - 1, 0)
		WHERE scope = ? AND counter_key = ?`, scope, key)
	return err
}

// settleAll settles a claim on the counters BeginAuth counted it on.
func settleAll(ctx context.Context, tx *sql.Tx, c store.AuthClaim, fail bool) error {
	uk, ik := store.UserKey(c.User), store.IPKey(c.IP)
	if err := settle(ctx, tx, store.ScopeUser, uk, fail, c.Now); err != nil {
		return err
	}
	if err := settle(ctx, tx, store.ScopeIP, ik, fail, c.Now); err != nil {
		return err
	}
	if c.PerIP {
		return settle(ctx, tx, store.ScopeUserIP, uk+" "+ik, fail, c.Now)
	}
	return nil
}

// userLocked reads the lock flag of an account (ErrNotFound if absent).
func userLocked(ctx context.Context, tx *sql.Tx, id wire.UserID) (bool, error) {
	var locked bool
	err := tx.QueryRowContext(ctx, `SELECT locked FROM users WHERE user_id = ?`, id[:]).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, store.ErrNotFound
	}
	return locked, err
}

// acctTx runs fn in a write transaction (BEGIN IMMEDIATE: the write pool
// has one connection), committing when it returns nil.
func (s *Store) acctTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLocked) {
			return err
		}
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// BeginAuth checks and claims one password attempt (see store.Store).
func (s *Store) BeginAuth(ctx context.Context, c store.AuthClaim) (store.AuthTicket, error) {
	var t store.AuthTicket
	uk, ik := store.UserKey(c.User), store.IPKey(c.IP)
	err := s.acctTx(ctx, "begin auth", func(tx *sql.Tx) error {
		locked, err := userLocked(ctx, tx, c.User)
		if err != nil {
			return err
		}
		user, err := counter(ctx, tx, store.ScopeUser, uk)
		if err != nil {
			return err
		}
		ip, err := counter(ctx, tx, store.ScopeIP, ik)
		if err != nil {
			return err
		}
		var ui store.AuthCounter
		if c.PerIP {
			if ui, err = counter(ctx, tx, store.ScopeUserIP, uk+" "+ik); err != nil {
				return err
			}
		}
		var lock bool
		if t, lock = c.Decide(locked, user, ip, ui); lock {
			_, err := tx.ExecContext(ctx, `UPDATE users SET locked = 1 WHERE user_id = ?`, c.User[:])
			return err
		}
		if t.Verdict != store.AuthAllowed {
			return nil
		}
		if err := putCounter(ctx, tx, store.ScopeUser, uk, c.Claimed(user)); err != nil {
			return err
		}
		if err := putCounter(ctx, tx, store.ScopeIP, ik, c.Claimed(c.Fresh(ip))); err != nil {
			return err
		}
		if c.PerIP {
			return putCounter(ctx, tx, store.ScopeUserIP, uk+" "+ik, c.Claimed(ui))
		}
		return nil
	})
	return t, err
}

// FailAuth logs the claimed attempt as a counted failure (see store.Store).
func (s *Store) FailAuth(ctx context.Context, c store.AuthClaim) (store.AuthResult, error) {
	var r store.AuthResult
	uk, ik := store.UserKey(c.User), store.IPKey(c.IP)
	err := s.acctTx(ctx, "fail auth", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt,
			recover_attempt, count_to_threshold, accepted) VALUES (?, ?, 1, 0, 1, 0)`, c.IP, c.User[:]); err != nil {
			return err
		}
		if err := settleAll(ctx, tx, c, true); err != nil {
			return err
		}
		user, err := counter(ctx, tx, store.ScopeUser, uk)
		if err != nil {
			return err
		}
		r.Failures = user.Failures
		if c.PerIP {
			ui, err := counter(ctx, tx, store.ScopeUserIP, uk+" "+ik)
			if err != nil {
				return err
			}
			r.Failures = ui.Failures
		}
		locked, err := userLocked(ctx, tx, c.User)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile: the log row stays
		}
		if err != nil {
			return err
		}
		r.Locked = locked
		if c.LockAbove > 0 && user.Failures > c.LockAbove && !locked {
			r.Locked = true
			_, err := tx.ExecContext(ctx, `UPDATE users SET locked = 1 WHERE user_id = ?`, c.User[:])
			return err
		}
		return nil
	})
	return r, err
}

// PassAuth records the claimed attempt as accepted (see store.Store).
func (s *Store) PassAuth(ctx context.Context, c store.AuthClaim) error {
	uk, ik := store.UserKey(c.User), store.IPKey(c.IP)
	refused := false
	err := s.acctTx(ctx, "pass auth", func(tx *sql.Tx) error {
		if err := settleAll(ctx, tx, c, false); err != nil {
			return err
		}
		locked, err := userLocked(ctx, tx, c.User)
		switch {
		case err != nil:
			return err
		case locked:
			refused = true // commit the settled claim, then refuse
			return nil
		}
		unCount := `UPDATE auth_log SET count_to_threshold = 0 WHERE user_id = ? AND count_to_threshold = 1`
		args := []any{c.User[:]}
		forget := []string{uk}
		if c.PerIP {
			forget = append(forget, uk+" "+ik)
			unCount += ` AND ip_address = ?`
			args = append(args, c.IP)
		}
		if _, err := tx.ExecContext(ctx, unCount, args...); err != nil {
			return err
		}
		for i, key := range forget {
			scope := store.ScopeUser
			if i == 1 {
				scope = store.ScopeUserIP
			}
			if _, err := tx.ExecContext(ctx, `UPDATE auth_counters SET failures = 0
				WHERE scope = ? AND counter_key = ?`, scope, key); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt,
			recover_attempt, count_to_threshold, accepted) VALUES (?, ?, 1, 0, 0, 1)`, c.IP, c.User[:])
		return err
	})
	if err == nil && refused {
		return store.ErrLocked
	}
	return err
}

// ResetAuthFailures forgets the account's counted failures (pending claims
// stay counted until they are answered).
func (s *Store) ResetAuthFailures(ctx context.Context, user wire.UserID) error {
	uk := store.UserKey(user)
	return s.acctTx(ctx, "reset auth failures", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE auth_counters SET failures = 0 WHERE (scope = ? AND counter_key = ?)
			OR (scope = ? AND counter_key LIKE ?)`, store.ScopeUser, uk, store.ScopeUserIP, uk+" %"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE auth_log SET count_to_threshold = 0
			WHERE user_id = ? AND count_to_threshold = 1`, user[:])
		return err
	})
}

// UserByNameKey returns the account with the given name key.
func (s *Store) UserByNameKey(ctx context.Context, key string) (store.User, error) {
	return s.userBy(ctx, "user by name key", "name_key = ?", key)
}

// CountOwnedChannels counts the channels the user owns.
func (s *Store) CountOwnedChannels(ctx context.Context, user wire.UserID) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM channel_members
		WHERE user_id = ? AND access_level = 1 AND pending_invite = 0`, user[:]).Scan(&n)
	if err != nil {
		return 0, wrap("count owned channels", err)
	}
	return n, nil
}

// CountPendingInvites counts a channel's pending invitations.
func (s *Store) CountPendingInvites(ctx context.Context, channel uint64) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM channel_members
		WHERE channel_id = ? AND pending_invite = 1`, int64(channel)).Scan(&n)
	if err != nil {
		return 0, wrap("count pending invites", err)
	}
	return n, nil
}

// TakeQuota counts one use of a per-account quota (see store.Store).
func (s *Store) TakeQuota(ctx context.Context, user wire.UserID, kind string, max uint32, window time.Duration, now time.Time) (bool, error) {
	ok := false
	err := s.acctTx(ctx, "take quota", func(tx *sql.Tx) error {
		var start, used int64
		err := tx.QueryRowContext(ctx, `SELECT window_start_ms, used FROM account_quotas
			WHERE user_id = ? AND kind = ?`, user[:], kind).Scan(&start, &used)
		switch {
		case errors.Is(err, sql.ErrNoRows) || now.Sub(time.UnixMilli(start)) >= window:
			start, used = now.UnixMilli(), 0
		case err != nil:
			return err
		}
		if used >= int64(max) {
			return nil
		}
		ok = true
		_, err = tx.ExecContext(ctx, `INSERT INTO account_quotas (user_id, kind, window_start_ms, used)
			VALUES (?, ?, ?, ?) ON CONFLICT (user_id, kind)
			DO UPDATE SET window_start_ms = excluded.window_start_ms, used = excluded.used`,
			user[:], kind, start, used+1)
		if fkViolation(err) {
			return store.ErrNotFound
		}
		return err
	})
	return ok, err
}
