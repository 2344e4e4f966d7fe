package store

import (
	"testing"
	"time"
)

// TestDecide checks BeginAuth's policy on counters as the backends read
// them.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lim := AccountLimits{FreeFailures: 2, FirstDelay: time.Hour, MaxDelay: 4 * time.Hour, ForgetAfter: 24 * time.Hour}
	later := now.Add(5 * time.Millisecond) // a concurrent claim stamped after this one
	for _, tc := range []struct {
		name           string
		claim          AuthClaim
		locked         bool
		user, ip, uip  AuthCounter
		want           AuthVerdict
		wantRetry      time.Duration
		wantLockedHere bool
	}{
		{name: "clean", want: AuthAllowed},
		{name: "a later concurrent claim is no delay (the '1 seconds' refusal)",
			user: AuthCounter{Failures: 2, Pending: 5, Last: later}, ip: AuthCounter{Pending: 5, Last: later}, want: AuthAllowed},
		{name: "pending claims do not delay",
			user: AuthCounter{Pending: 19, Last: now}, ip: AuthCounter{Pending: 19, Last: now}, want: AuthAllowed},
		{name: "confirmed failures delay",
			user: AuthCounter{Failures: 3, Last: now}, want: AuthDelayed, wantRetry: time.Hour},
		{name: "address failures delay",
			ip: AuthCounter{Failures: 4, Last: now.Add(-time.Hour)}, want: AuthDelayed, wantRetry: time.Hour},
		{name: "failures and pending above the lock threshold: busy, not locked",
			claim: AuthClaim{LockAbove: 5}, user: AuthCounter{Failures: 2, Pending: 4, Last: now}, want: AuthBusy},
		{name: "failures above the lock threshold lock",
			claim: AuthClaim{LockAbove: 5}, user: AuthCounter{Failures: 6, Last: now.Add(-5 * time.Hour)}, want: AuthLocked, wantLockedHere: true},
		{name: "locked", locked: true, want: AuthLocked},
		{name: "stale pending claims expire",
			claim: AuthClaim{LockAbove: 5}, user: AuthCounter{Pending: 6, Last: now.Add(-PendingClaimTTL - time.Second)}, want: AuthAllowed},
		{name: "per-address ban bound",
			claim: AuthClaim{PerIP: true, BanAbove: 3}, uip: AuthCounter{Failures: 1, Pending: 3, Last: now}, want: AuthBusy},
		{name: "past the ban threshold the caller bans again",
			claim: AuthClaim{PerIP: true, BanAbove: 3}, uip: AuthCounter{Failures: 4, Pending: 3, Last: now}, want: AuthAllowed},
		{name: "account in-flight bound",
			user: AuthCounter{Pending: MaxPendingClaims, Last: now}, want: AuthBusy},
		{name: "address in-flight bound",
			ip: AuthCounter{Pending: MaxPendingClaims, Last: now}, want: AuthBusy},
		{name: "a quiet address is forgotten",
			ip: AuthCounter{Failures: 40, Pending: MaxPendingClaims, Last: now.Add(-25 * time.Hour)}, want: AuthAllowed},
	} {
		c := tc.claim
		c.Now, c.Limits = now, lim
		got, lock := c.Decide(tc.locked, tc.user, tc.ip, tc.uip)
		if got.Verdict != tc.want || got.RetryAfter != tc.wantRetry || lock != tc.wantLockedHere {
			t.Errorf("%s: Decide = %+v, lock %v; want verdict %v, retry %v, lock %v",
				tc.name, got, lock, tc.want, tc.wantRetry, tc.wantLockedHere)
		}
	}
}

// TestClaimed: a claim adds one pending answer and never moves the time of
// the latest claim backwards.
func TestClaimed(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := AuthClaim{Now: now}
	if got := c.Claimed(AuthCounter{Failures: 1, Pending: 2, Last: now.Add(-time.Second)}); got != (AuthCounter{Failures: 1, Pending: 3, Last: now}) {
		t.Errorf("Claimed = %+v", got)
	}
	later := now.Add(time.Millisecond)
	if got := c.Claimed(AuthCounter{Pending: 2, Last: later}); got != (AuthCounter{Pending: 3, Last: later}) {
		t.Errorf("Claimed after a later claim = %+v", got)
	}
	if got := c.Claimed(AuthCounter{Pending: 9, Last: now.Add(-PendingClaimTTL - time.Second)}); got.Pending != 1 {
		t.Errorf("Claimed over stale claims = %+v, want 1 pending", got)
	}
}
