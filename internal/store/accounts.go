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

// AuthClaim describes one password answer about to be verified. BeginAuth
// counts it as pending on the account's and the address's counters before
// it is verified (so answers given in parallel, on many prompts, all count
// toward the lock), FailAuth turns the pending claim into a failure and
// PassAuth removes it.
type AuthClaim struct {
	User wire.UserID
	IP   string
	// PerIP counts the account's threshold per address (root: host.md
	// §4.6, an address is banned, the account never locked).
	PerIP bool
	// LockAbove locks the account once its failures exceed it; failures
	// and pending claims together never exceed it by more than one
	// (claims beyond it are refused with AuthBusy). 0 never locks.
	LockAbove uint32
	// BanAbove, for PerIP claims, bounds the failures plus pending claims
	// of the account at this address the same way (the caller bans the
	// address once its failures exceed it). 0: no bound.
	BanAbove uint32
	// Now is the time of the attempt.
	Now time.Time
	// Limits gives the delay schedule.
	Limits AccountLimits
}

// MaxPendingClaims bounds the answers being verified at once for one
// account and for one address: a claim beyond it is refused with AuthBusy.
// Delays count confirmed failures only, so without this bound an attacker
// could have any number of guesses verified in parallel between two
// delays.
const MaxPendingClaims = 32

// PendingClaimTTL is how long a counter's pending claims stay counted
// after its latest claim: a claim whose session died before FailAuth or
// PassAuth (a crash, a store error) expires then instead of counting for
// ever.
const PendingClaimTTL = 2 * time.Minute

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
	// AuthBusy: too many answers for the account or the address are being
	// verified at once (pending claims); do not verify, try again soon.
	AuthBusy
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
	Failures uint32    // confirmed failures (FailAuth)
	Pending  uint32    // claims not yet answered by FailAuth or PassAuth
	Last     time.Time // time of the latest claim
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
// account's lock flag and the counters as stored (user: the account's, ip:
// the address's, userIP: the account's at the address, read for PerIP
// claims only), it returns the verdict and whether the account must be
// locked now.
//
// The lock and ban thresholds count failures and pending claims, so many
// prompts answered at once never get more than LockAbove+1 answers
// verified; the delays count confirmed failures only, so concurrent right
// answers do not delay each other.
func (c AuthClaim) Decide(locked bool, user, ip, userIP AuthCounter) (t AuthTicket, lock bool) {
	user, ip, userIP = c.Live(user), c.Fresh(ip), c.Live(userIP)
	switch {
	case locked:
		return AuthTicket{Verdict: AuthLocked}, false
	case c.LockAbove > 0 && user.Failures > c.LockAbove:
		return AuthTicket{Verdict: AuthLocked}, true
	}
	wait := max(c.wait(user), c.wait(ip))
	switch {
	case wait > 0:
		return AuthTicket{Verdict: AuthDelayed, RetryAfter: wait}, false
	case c.LockAbove > 0 && user.Failures+user.Pending > c.LockAbove,
		c.PerIP && c.BanAbove > 0 && userIP.Failures <= c.BanAbove && userIP.Failures+userIP.Pending > c.BanAbove,
		user.Pending >= MaxPendingClaims, ip.Pending >= MaxPendingClaims:
		return AuthTicket{Verdict: AuthBusy}, false
	}
	return AuthTicket{Verdict: AuthAllowed}, false
}

// wait returns how long the claim must still wait because of a counter's
// failures. Without a delay due there is no wait, even when the counter's
// latest claim is later than c.Now (a concurrent claim stamped after this
// one committed first).
func (c AuthClaim) wait(n AuthCounter) time.Duration {
	d := c.Limits.Delay(n.Failures)
	if d <= 0 {
		return 0
	}
	return n.Last.Add(d).Sub(c.Now)
}

// Claimed returns a counter after an allowed claim: one more pending
// claim (stale ones forgotten) at c.Now. Backends store it for the
// account, the address (after Fresh) and, for PerIP claims, the account at
// the address.
func (c AuthClaim) Claimed(n AuthCounter) AuthCounter {
	n = c.Live(n)
	n.Pending++
	if c.Now.After(n.Last) { // a concurrent claim stamped later may have committed first
		n.Last = c.Now
	}
	return n
}

// Live returns a counter without its pending claims when its latest claim
// is older than PendingClaimTTL (they belong to sessions that never
// answered them).
func (c AuthClaim) Live(n AuthCounter) AuthCounter {
	if c.Now.Sub(n.Last) > PendingClaimTTL {
		n.Pending = 0
	}
	return n
}

// Fresh returns an address counter, or zero when it is older than
// ForgetAfter.
func (c AuthClaim) Fresh(ip AuthCounter) AuthCounter {
	if c.Limits.ForgetAfter > 0 && c.Now.Sub(ip.Last) > c.Limits.ForgetAfter {
		return AuthCounter{}
	}
	return c.Live(ip)
}
