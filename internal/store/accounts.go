package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// ErrNameConfusable means a user name looks like another account's name:
// both have the same validate.NameKey (migration 2 keeps the key of every
// user name under a unique index). It wraps ErrNameTaken, so callers that
// only test for a taken name treat it as one.
var ErrNameConfusable = fmt.Errorf("%w: confusable with an existing name", ErrNameTaken)

// ErrLocked means the account is locked (PassAuth).
var ErrLocked = errors.New("store: account locked")

// AccountLimits are the settings of the account hardening (issue 8): the
// delay schedule for failed logins and the per-account creation limits.
// They live in their own single-row table (account_limits, migration 2).
type AccountLimits struct {
	// FreeFailures is how many failed logins an account, and an address,
	// may have before delays start.
	FreeFailures uint32
	// FirstDelay is the delay after the first failure beyond
	// FreeFailures; every further failure doubles it. 0 disables delays.
	FirstDelay time.Duration
	// MaxDelay caps the delay.
	MaxDelay time.Duration
	// ForgetAfter is how long an address must stay quiet before its failure
	// count starts again from zero (an account's count is kept until a
	// successful login or an unlock, because it drives the lock).
	ForgetAfter time.Duration

	// MaxChannelsPerUser bounds the channels one account owns (0: no limit).
	MaxChannelsPerUser uint32
	// MaxPendingInvites bounds the pending invitations of one channel
	// (0: no limit).
	MaxPendingInvites uint32
	// MaxRenames bounds the renames (channels, sub-channels, own user
	// name) one account makes per RenameWindow (0: no limit).
	MaxRenames   uint32
	RenameWindow time.Duration
}

// DefaultAccountLimits returns the limits a new database starts with.
func DefaultAccountLimits() AccountLimits {
	return AccountLimits{
		FreeFailures:       5,
		FirstDelay:         time.Second,
		MaxDelay:           5 * time.Minute,
		ForgetAfter:        time.Hour,
		MaxChannelsPerUser: 50,
		MaxPendingInvites:  200,
		MaxRenames:         20,
		RenameWindow:       time.Hour,
	}
}

// Delay returns how long after its last attempt an account or address
// that has failed failures times must wait before the next attempt.
func (l AccountLimits) Delay(failures uint32) time.Duration {
	if l.FirstDelay <= 0 || failures <= l.FreeFailures {
		return 0
	}
	d := l.FirstDelay
	for i := failures - l.FreeFailures; i > 1 && d < l.MaxDelay; i-- {
		d *= 2
	}
	if l.MaxDelay > 0 && d > l.MaxDelay {
		d = l.MaxDelay
	}
	return d
}

// AuthClaim describes one password answer about to be verified. The
// store counts it as a failure before it is verified (so answers given in
// parallel, on many prompts, all count), and takes it back when PassAuth
// reports it right.
type AuthClaim struct {
	User wire.UserID
	IP   string
	// PerIP counts the account's threshold per address (root: host.md
	// §4.6, an address is banned, the account never locked).
	PerIP bool
	// LockAbove locks the account once its counted failures exceed it;
	// 0 never locks.
	LockAbove uint32
	// Now is the time of the attempt.
	Now time.Time
	// Limits gives the delay schedule.
	Limits AccountLimits
}

// AuthVerdict is BeginAuth's answer.
type AuthVerdict int

// The verdicts of BeginAuth.
const (
	// AuthAllowed: verify the answer, then call PassAuth or FailAuth.
	AuthAllowed AuthVerdict = iota
	// AuthLocked: the account is locked; do not verify.
	AuthLocked
	// AuthDelayed: too many recent failures of the account or address;
	// do not verify, try again after RetryAfter.
	AuthDelayed
)

// AuthTicket is the result of BeginAuth.
type AuthTicket struct {
	Verdict    AuthVerdict
	RetryAfter time.Duration
}

// AuthResult is the state after FailAuth.
type AuthResult struct {
	// Failures counts the account's failures (for PerIP claims: from this
	// address), this one included.
	Failures uint32
	// Locked reports that the account is locked now.
	Locked bool
}

// AuthCounter is one failure counter (of an account, an address, or an
// account at an address) as the backends store it.
type AuthCounter struct {
	Failures uint32
	Last     time.Time // time of the last counted attempt
}

// Counter scopes and keys, shared by the backends.
const (
	ScopeUser   = "user"    // key: UserKey
	ScopeIP     = "ip"      // key: IPKey
	ScopeUserIP = "user_ip" // key: UserKey + " " + IPKey
)

// UserKey is the counter key of an account: its id in lower-case hex.
func UserKey(id wire.UserID) string { return hex.EncodeToString(id[:]) }

// IPKey is the counter key of an address.
func IPKey(ip string) string { return strings.ToLower(ip) }

// Decide is BeginAuth's policy, shared by the backends: given the
// account's lock flag and its (user) and the address's (ip) counters as
// stored, it returns the verdict and whether the account must be locked
// now. The address counter is forgotten after ForgetAfter of quiet.
func (c AuthClaim) Decide(locked bool, user, ip AuthCounter) (t AuthTicket, lock bool) {
	ip = c.Fresh(ip)
	switch {
	case locked:
		return AuthTicket{Verdict: AuthLocked}, false
	case c.LockAbove > 0 && user.Failures > c.LockAbove:
		return AuthTicket{Verdict: AuthLocked}, true
	}
	wait := max(user.Last.Add(c.Limits.Delay(user.Failures)).Sub(c.Now),
		ip.Last.Add(c.Limits.Delay(ip.Failures)).Sub(c.Now))
	if wait > 0 {
		return AuthTicket{Verdict: AuthDelayed, RetryAfter: wait}, false
	}
	return AuthTicket{Verdict: AuthAllowed}, false
}

// Fresh returns an address counter, or zero when it is older than
// ForgetAfter.
func (c AuthClaim) Fresh(ip AuthCounter) AuthCounter {
	if c.Limits.ForgetAfter > 0 && c.Now.Sub(ip.Last) > c.Limits.ForgetAfter {
		return AuthCounter{}
	}
	return ip
}
