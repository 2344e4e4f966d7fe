package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// This file holds the account hardening of issue 8 (migration 2):
// account_limits, auth_counters, account_quotas and users.name_key.
// Concurrent claims of one account serialise on its users row (SELECT ...
// FOR UPDATE); counters are locked in a fixed order (account, address,
// account at address), so two claims never wait for each other in a cycle.

const limitsCols = `free_failures, first_delay_ms, max_delay_ms, forget_after_ms,
	max_channels_per_user, max_pending_invites, max_renames, rename_window_ms`

// putAccountLimits inserts or replaces the account_limits row.
func putAccountLimits(ctx context.Context, q queryer, l store.AccountLimits) error {
	_, err := q.Exec(ctx, `INSERT INTO account_limits (singleton, `+limitsCols+`)
		VALUES (true, $1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (singleton) DO UPDATE SET free_failures = excluded.free_failures,
			first_delay_ms = excluded.first_delay_ms, max_delay_ms = excluded.max_delay_ms,
			forget_after_ms = excluded.forget_after_ms,
			max_channels_per_user = excluded.max_channels_per_user,
			max_pending_invites = excluded.max_pending_invites,
			max_renames = excluded.max_renames, rename_window_ms = excluded.rename_window_ms`,
		int64(l.FreeFailures), l.FirstDelay.Milliseconds(), l.MaxDelay.Milliseconds(),
		l.ForgetAfter.Milliseconds(), int64(l.MaxChannelsPerUser), int64(l.MaxPendingInvites),
		int64(l.MaxRenames), l.RenameWindow.Milliseconds())
	return err
}

// seedNameKeys computes the look-alike key of every existing user name
// (migration 2). Accounts whose names already look alike keep working: the
// later one's key gets its id appended, so the unique index can be built
// and neither name can be taken by a third look-alike.
func seedNameKeys(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT user_id, user_name FROM users ORDER BY id`)
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
		if _, err := tx.Exec(ctx, `UPDATE users SET name_key = $1 WHERE user_id = $2`, r.key, r.id); err != nil {
			return err
		}
	}
	return nil
}

// AccountLimits returns the account_limits row.
func (s *Store) AccountLimits(ctx context.Context) (store.AccountLimits, error) {
	var free, first, maxd, forget, chans, invs, rens, win int64
	err := s.db.QueryRow(ctx, `SELECT `+limitsCols+` FROM account_limits WHERE singleton`).
		Scan(&free, &first, &maxd, &forget, &chans, &invs, &rens, &win)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.DefaultAccountLimits(), nil
	}
	if err != nil {
		return store.AccountLimits{}, wrap("account limits", err)
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
	if err := putAccountLimits(ctx, s.db, l); err != nil {
		return wrap("save account limits", err)
	}
	return nil
}

// lockCounter creates (if needed), locks and reads one auth counter.
func lockCounter(ctx context.Context, tx pgx.Tx, scope, key string) (store.AuthCounter, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO auth_counters (scope, counter_key) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, scope, key); err != nil {
		return store.AuthCounter{}, err
	}
	var n, pending, last int64
	err := tx.QueryRow(ctx, `SELECT failures, pending, last_attempt_ms FROM auth_counters
		WHERE scope = $1 AND counter_key = $2 FOR UPDATE`, scope, key).Scan(&n, &pending, &last)
	if err != nil {
		return store.AuthCounter{}, err
	}
	return store.AuthCounter{Failures: uint32(n), Pending: uint32(pending), Last: time.UnixMilli(last)}, nil
}

// putCounter stores one (locked) auth counter.
func putCounter(ctx context.Context, tx pgx.Tx, scope, key string, c store.AuthCounter) error {
	_, err := tx.Exec(ctx, `UPDATE auth_counters SET failures = $3, pending = $4, last_attempt_ms = $5
		WHERE scope = $1 AND counter_key = $2`, scope, key, int64(c.Failures), int64(c.Pending), c.Last.UnixMilli())
	return err
}

// settle takes one pending claim off a counter; fail also counts it as a
// failure (a counter deleted meanwhile starts again at that failure).
func settle(ctx context.Context, tx pgx.Tx, scope, key string, fail bool, now time.Time) error {
	if fail {
		_, err := tx.Exec(ctx, `INSERT INTO auth_counters (scope, counter_key, failures, pending, last_attempt_ms)
			VALUES ($1, $2, 1, 0, $3) ON CONFLICT (scope, counter_key)
			DO UPDATE SET failures = auth_counters.failures + 1, pending = GREATEST(auth_counters.pending - 1, 0)`,
			scope, key, now.UnixMilli())
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE auth_counters SET pending = GREATEST(pending - 1, 0)
		WHERE scope = $1 AND counter_key = $2`, scope, key)
	return err
}

// settleAll settles a claim on the counters BeginAuth counted it on, in
// BeginAuth's order (account, address, account at address), so concurrent
// transactions take the row locks in one order.
func settleAll(ctx context.Context, tx pgx.Tx, c store.AuthClaim, fail bool) error {
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

// lockUser locks an account row and reads its lock flag (ErrNotFound if
// absent).
func lockUser(ctx context.Context, tx pgx.Tx, id wire.UserID) (bool, error) {
	var locked bool
	err := tx.QueryRow(ctx, `SELECT locked FROM users WHERE user_id = $1 FOR UPDATE`, id[:]).Scan(&locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, store.ErrNotFound
	}
	return locked, err
}

// acctTx is inTx that passes ErrNotFound and ErrLocked through unwrapped
// and wraps every other error.
func (s *Store) acctTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		err := fn(tx)
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLocked) {
			return err
		}
		return wrap(op, err)
	})
}

// BeginAuth checks and claims one password attempt (see store.Store).
func (s *Store) BeginAuth(ctx context.Context, c store.AuthClaim) (store.AuthTicket, error) {
	var t store.AuthTicket
	uk, ik := store.UserKey(c.User), store.IPKey(c.IP)
	err := s.acctTx(ctx, "begin auth", func(tx pgx.Tx) error {
		locked, err := lockUser(ctx, tx, c.User)
		if err != nil {
			return err
		}
		user, err := lockCounter(ctx, tx, store.ScopeUser, uk)
		if err != nil {
			return err
		}
		ip, err := lockCounter(ctx, tx, store.ScopeIP, ik)
		if err != nil {
			return err
		}
		var ui store.AuthCounter
		if c.PerIP {
			if ui, err = lockCounter(ctx, tx, store.ScopeUserIP, uk+" "+ik); err != nil {
				return err
			}
		}
		var lock bool
		if t, lock = c.Decide(locked, user, ip, ui); lock {
			_, err := tx.Exec(ctx, `UPDATE users SET locked = true WHERE user_id = $1`, c.User[:])
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
	err := s.acctTx(ctx, "fail auth", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt,
			recover_attempt, count_to_threshold, accepted) VALUES ($1, $2, true, false, true, false)`,
			c.IP, c.User[:]); err != nil {
			return err
		}
		locked, err := lockUser(ctx, tx, c.User)
		if errors.Is(err, store.ErrNotFound) {
			return settleAll(ctx, tx, c, true) // deleted meanwhile: the log row stays
		}
		if err != nil {
			return err
		}
		if err := settleAll(ctx, tx, c, true); err != nil {
			return err
		}
		user, err := lockCounter(ctx, tx, store.ScopeUser, uk)
		if err != nil {
			return err
		}
		r.Failures, r.Locked = user.Failures, locked
		if c.PerIP {
			ui, err := lockCounter(ctx, tx, store.ScopeUserIP, uk+" "+ik)
			if err != nil {
				return err
			}
			r.Failures = ui.Failures
		}
		if c.LockAbove > 0 && user.Failures > c.LockAbove && !locked {
			r.Locked = true
			_, err := tx.Exec(ctx, `UPDATE users SET locked = true WHERE user_id = $1`, c.User[:])
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
	err := s.acctTx(ctx, "pass auth", func(tx pgx.Tx) error {
		locked, err := lockUser(ctx, tx, c.User)
		if err != nil {
			return err
		}
		if err := settleAll(ctx, tx, c, false); err != nil {
			return err
		}
		if locked {
			refused = true // commit the settled claim, then refuse
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_counters SET failures = 0
			WHERE scope = $1 AND counter_key = $2`, store.ScopeUser, uk); err != nil {
			return err
		}
		ipCond := ""
		args := []any{c.User[:]}
		if c.PerIP {
			if _, err := tx.Exec(ctx, `UPDATE auth_counters SET failures = 0
				WHERE scope = $1 AND counter_key = $2`, store.ScopeUserIP, uk+" "+ik); err != nil {
				return err
			}
			ipCond = ` AND lower(ip_address) = lower($2)`
			args = append(args, c.IP)
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_log SET count_to_threshold = false
			WHERE user_id = $1 AND count_to_threshold`+ipCond, args...); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO auth_log (ip_address, user_id, auth_attempt,
			recover_attempt, count_to_threshold, accepted) VALUES ($1, $2, true, false, false, true)`,
			c.IP, c.User[:])
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
	return s.acctTx(ctx, "reset auth failures", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE auth_counters SET failures = 0 WHERE (scope = $1 AND counter_key = $2)
			OR (scope = $3 AND counter_key LIKE $4)`, store.ScopeUser, uk, store.ScopeUserIP, uk+" %"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE auth_log SET count_to_threshold = false
			WHERE user_id = $1 AND count_to_threshold`, user[:])
		return err
	})
}

// UserByNameKey returns the account with the given name key.
func (s *Store) UserByNameKey(ctx context.Context, key string) (store.User, error) {
	return s.userBy(ctx, "user by name key", "name_key = $1", key)
}

// CountOwnedChannels counts the channels the user owns.
func (s *Store) CountOwnedChannels(ctx context.Context, user wire.UserID) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM channel_members
		WHERE user_id = $1 AND access_level = 1 AND NOT pending_invite`, user[:]).Scan(&n)
	if err != nil {
		return 0, wrap("count owned channels", err)
	}
	return n, nil
}

// CountPendingInvites counts a channel's pending invitations.
func (s *Store) CountPendingInvites(ctx context.Context, channel uint64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM channel_members
		WHERE channel_id = $1 AND pending_invite`, int64(channel)).Scan(&n)
	if err != nil {
		return 0, wrap("count pending invites", err)
	}
	return n, nil
}

// TakeQuota counts one use of a per-account quota (see store.Store).
func (s *Store) TakeQuota(ctx context.Context, user wire.UserID, kind string, max uint32, window time.Duration, now time.Time) (bool, error) {
	ok := false
	err := s.acctTx(ctx, "take quota", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO account_quotas (user_id, kind, window_start_ms, used)
			VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`, user[:], kind, now.UnixMilli())
		if fkViolation(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		var start, used int64
		if err := tx.QueryRow(ctx, `SELECT window_start_ms, used FROM account_quotas
			WHERE user_id = $1 AND kind = $2 FOR UPDATE`, user[:], kind).Scan(&start, &used); err != nil {
			return err
		}
		if now.Sub(time.UnixMilli(start)) >= window {
			start, used = now.UnixMilli(), 0
		}
		if used >= int64(max) {
			return nil
		}
		ok = true
		_, err = tx.Exec(ctx, `UPDATE account_quotas SET window_start_ms = $3, used = $4
			WHERE user_id = $1 AND kind = $2`, user[:], kind, start, used+1)
		return err
	})
	return ok, err
}
