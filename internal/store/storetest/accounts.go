package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
)

// accountTests are the conformance tests of the account hardening (issue
// 8, migration 2).
var accountTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"AccountLimits", testAccountLimits},
	{"AuthLockoutIsPerAccount", testAuthLockout},
	{"AuthParallelClaims", testAuthParallelClaims},
	{"AuthParallelRightAnswers", testAuthParallelRightAnswers},
	{"AuthPendingBounds", testAuthPendingBounds},
	{"AuthPendingExpire", testAuthPendingExpire},
	{"AuthDelays", testAuthDelays},
	{"AuthPerIPAccount", testAuthPerIP},
	{"AuthResetFailures", testAuthReset},
	{"NameKeys", testNameKeys},
	{"CreationCounts", testCreationCounts},
	{"TakeQuota", testTakeQuota},
}

// runAccountTests runs accountTests as subtests of Run.
func runAccountTests(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range accountTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testAccountLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	l, err := s.AccountLimits(ctx)
	if err != nil || l != store.DefaultAccountLimits() {
		t.Fatalf("AccountLimits = %+v, %v; want the defaults", l, err)
	}
	l = store.AccountLimits{FreeFailures: 1, FirstDelay: 2 * time.Millisecond, MaxDelay: 3 * time.Second,
		ForgetAfter: 4 * time.Minute, MaxChannelsPerUser: 5, MaxPendingInvites: 6, MaxRenames: 7, RenameWindow: 8 * time.Hour}
	if err := s.SaveAccountLimits(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AccountLimits(ctx); err != nil || got != l {
		t.Fatalf("AccountLimits = %+v, %v; want %+v", got, err, l)
	}
}

// noDelays are limits without delays, for the lockout tests.
var noDelays = store.AccountLimits{FreeFailures: 1000}

func mustBegin(t *testing.T, s store.Store, c store.AuthClaim, want store.AuthVerdict) store.AuthTicket {
	t.Helper()
	tk, err := s.BeginAuth(context.Background(), c)
	if err != nil || tk.Verdict != want {
		t.Fatalf("BeginAuth(%s at %v) = %+v, %v; want verdict %v", c.IP, c.Now, tk, err, want)
	}
	return tk
}

func testAuthLockout(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, 1, "alice", "a@x.y")
	c := store.AuthClaim{User: u.ID, IP: "10.0.0.1", LockAbove: 3, Now: t0, Limits: noDelays}
	// 4 failures are allowed; the 4th exceeds 3 and locks.
	for i := range 4 {
		mustBegin(t, s, c, store.AuthAllowed)
		r, err := s.FailAuth(ctx, c)
		if err != nil || r.Failures != uint32(i+1) || r.Locked != (i == 3) {
			t.Fatalf("FailAuth #%d = %+v, %v", i+1, r, err)
		}
	}
	mustBegin(t, s, c, store.AuthLocked)
	if got, _ := s.UserByID(ctx, u.ID); !got.Locked {
		t.Fatal("account not locked in the database")
	}
	if err := s.PassAuth(ctx, c); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("PassAuth of a locked account = %v, want ErrLocked", err)
	}
	// Unknown account.
	c.User = uid(99)
	if _, err := s.BeginAuth(ctx, c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BeginAuth of a missing account = %v, want ErrNotFound", err)
	}
}

// parallelClaims runs n claims at once and counts the verdicts.
func parallelClaims(t *testing.T, s store.Store, c store.AuthClaim, n int) map[store.AuthVerdict]int {
	t.Helper()
	verdicts := make([]store.AuthVerdict, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tk, err := s.BeginAuth(context.Background(), c)
			if err != nil {
				t.Error(err)
			}
			verdicts[i] = tk.Verdict
		})
	}
	wg.Wait()
	count := map[store.AuthVerdict]int{}
	for _, v := range verdicts {
		count[v]++
	}
	return count
}

// parallelSettle answers n claims at once with FailAuth (fail) or PassAuth.
func parallelSettle(t *testing.T, s store.Store, c store.AuthClaim, n int, fail bool) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var err error
			if fail {
				_, err = s.FailAuth(context.Background(), c)
			} else {
				err = s.PassAuth(context.Background(), c)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// testAuthParallelClaims opens many claims before any is answered (many
// prompts at once): they count as pending toward the lock threshold, so
// only LockAbove+1 of them are ever allowed (the others are refused as
// busy, without locking: they might be right); once the allowed ones are
// answered wrong the account is locked, and a right answer cannot log in.
func testAuthParallelClaims(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, 1, "alice", "a@x.y")
	c := store.AuthClaim{User: u.ID, IP: "10.0.0.1", LockAbove: 5, Now: t0, Limits: noDelays}
	const n = 40
	got := parallelClaims(t, s, c, n)
	if got[store.AuthAllowed] != 6 || got[store.AuthBusy] != n-6 {
		t.Fatalf("verdicts of %d parallel claims = %v, want 6 allowed and %d busy", n, got, n-6)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.Locked {
		t.Fatal("account locked by pending claims (they may be right)")
	}
	parallelSettle(t, s, c, 6, true)
	if got, _ := s.UserByID(ctx, u.ID); !got.Locked {
		t.Fatal("account not locked after LockAbove+1 wrong answers")
	}
	mustBegin(t, s, c, store.AuthLocked)
	if err := s.PassAuth(ctx, c); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("PassAuth after the lock = %v, want ErrLocked", err)
	}
	rows, err := s.ListView(ctx, store.ViewAuthLog, []store.Filter{{Column: "count_to_threshold", Value: "1", Exact: true}}, store.Page{Limit: 100})
	if err != nil || len(rows) != 6 {
		t.Fatalf("%d counted rows in the log (%v), want 6", len(rows), err)
	}
}

// testAuthParallelRightAnswers reproduces the regression of the
// claim-in-advance design: right answers given at once (one account, one
// address) must not delay or refuse each other. The delay is an hour after
// two failures, so a pending claim counted as a failure would refuse the
// third claim whatever the timing.
func testAuthParallelRightAnswers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, 1, "alice", "a@x.y")
	lim := store.AccountLimits{FreeFailures: 2, FirstDelay: time.Hour, MaxDelay: 4 * time.Hour, ForgetAfter: 24 * time.Hour}
	c := store.AuthClaim{User: u.ID, IP: "127.0.0.1", LockAbove: store.DefaultAutoLockThreshold, Now: t0, Limits: lim}
	const n = store.DefaultAutoLockThreshold
	for round := range 3 { // pending claims are released, so every round passes
		if got := parallelClaims(t, s, c, n); got[store.AuthAllowed] != n {
			t.Fatalf("round %d: verdicts of %d parallel claims = %v, want all allowed", round, n, got)
		}
		parallelSettle(t, s, c, n, false)
	}
	// Root's claims count per address as well; the same holds.
	root := mustUser(t, s, 2, "root", "r@x.y")
	cr := store.AuthClaim{User: root.ID, IP: "127.0.0.1", PerIP: true, Now: t0, Limits: lim}
	if got := parallelClaims(t, s, cr, n); got[store.AuthAllowed] != n {
		t.Fatalf("root: verdicts of %d parallel claims = %v, want all allowed", n, got)
	}
	parallelSettle(t, s, cr, n, false)
	// Failures still count and delay: two are free, the third delays.
	for range 3 {
		mustBegin(t, s, c, store.AuthAllowed)
		if _, err := s.FailAuth(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if tk := mustBegin(t, s, c, store.AuthDelayed); tk.RetryAfter != time.Hour {
		t.Fatalf("RetryAfter = %v, want 1h", tk.RetryAfter)
	}
}

// testAuthPendingBounds: root is never locked, but its pending claims
// from an address are bounded by BanAbove like the lock threshold; and
// every account and address has at most store.MaxPendingClaims answers
// verified at once.
func testAuthPendingBounds(t *testing.T, s store.Store) {
	ctx := context.Background()
	root := mustUser(t, s, 1, "root", "r@x.y")
	c := store.AuthClaim{User: root.ID, IP: "10.0.0.1", PerIP: true, BanAbove: 3, Now: t0, Limits: noDelays}
	if got := parallelClaims(t, s, c, 10); got[store.AuthAllowed] != 4 || got[store.AuthBusy] != 6 {
		t.Fatalf("root from 10.0.0.1, BanAbove 3: verdicts = %v, want 4 allowed, 6 busy", got)
	}
	parallelSettle(t, s, c, 4, true)
	// Past the threshold (the caller bans), the next answer may fail again.
	mustBegin(t, s, c, store.AuthAllowed)
	if r, err := s.FailAuth(ctx, c); err != nil || r.Failures != 5 || r.Locked {
		t.Fatalf("FailAuth = %+v, %v; want 5 failures, not locked", r, err)
	}
	// Without a ban threshold (loopback): MaxPendingClaims.
	c.IP, c.BanAbove = "127.0.0.1", 0
	n := store.MaxPendingClaims + 8
	if got := parallelClaims(t, s, c, n); got[store.AuthAllowed] != store.MaxPendingClaims || got[store.AuthBusy] != 8 {
		t.Fatalf("root from loopback: verdicts of %d claims = %v, want %d allowed", n, got, store.MaxPendingClaims)
	}
	// The address's bound holds across accounts.
	u := mustUser(t, s, 2, "alice", "a@x.y")
	mustBegin(t, s, store.AuthClaim{User: u.ID, IP: "127.0.0.1", Now: t0, Limits: noDelays}, store.AuthBusy)
	mustBegin(t, s, store.AuthClaim{User: u.ID, IP: "10.0.0.9", Now: t0, Limits: noDelays}, store.AuthAllowed)
}

// testAuthPendingExpire: claims whose sessions never answered them stop
// counting store.PendingClaimTTL after the counter's latest claim.
func testAuthPendingExpire(t *testing.T, s store.Store) {
	u := mustUser(t, s, 1, "alice", "a@x.y")
	c := store.AuthClaim{User: u.ID, IP: "10.0.0.1", LockAbove: 2, Now: t0, Limits: noDelays}
	for range 3 {
		mustBegin(t, s, c, store.AuthAllowed)
	}
	c.Now = t0.Add(store.PendingClaimTTL)
	mustBegin(t, s, c, store.AuthBusy)
	// A second later the three stale claims are forgotten: three new ones
	// fit under the threshold again, a fourth does not.
	c.Now = t0.Add(store.PendingClaimTTL + time.Second)
	for range 3 {
		mustBegin(t, s, c, store.AuthAllowed)
	}
	mustBegin(t, s, c, store.AuthBusy)
	if got, _ := s.UserByID(context.Background(), u.ID); got.Locked {
		t.Fatal("account locked by pending claims")
	}
}

func testAuthDelays(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustUser(t, s, 1, "alice", "a@x.y")
	b := mustUser(t, s, 2, "bob", "b@x.y")
	lim := store.AccountLimits{FreeFailures: 2, FirstDelay: time.Hour, MaxDelay: 4 * time.Hour, ForgetAfter: 24 * time.Hour}
	c := store.AuthClaim{User: a.ID, IP: "127.0.0.1", Now: t0, Limits: lim}
	for range 2 {
		mustBegin(t, s, c, store.AuthAllowed)
		if _, err := s.FailAuth(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Third attempt: two failures are free, the third waits an hour.
	mustBegin(t, s, c, store.AuthAllowed)
	if _, err := s.FailAuth(ctx, c); err != nil {
		t.Fatal(err)
	}
	tk := mustBegin(t, s, c, store.AuthDelayed)
	if tk.RetryAfter != time.Hour {
		t.Fatalf("RetryAfter = %v, want 1h", tk.RetryAfter)
	}
	// The address is delayed for every account (loopback included).
	cb := c
	cb.User = b.ID
	mustBegin(t, s, cb, store.AuthDelayed)
	// Another address and account is not.
	cb.IP = "10.0.0.2"
	mustBegin(t, s, cb, store.AuthAllowed)
	// The account is delayed from any address.
	ca := c
	ca.IP = "10.0.0.3"
	mustBegin(t, s, ca, store.AuthDelayed)
	// After the delay, one more attempt; its failure doubles the delay.
	c.Now = t0.Add(time.Hour)
	mustBegin(t, s, c, store.AuthAllowed)
	if _, err := s.FailAuth(ctx, c); err != nil {
		t.Fatal(err)
	}
	if tk := mustBegin(t, s, c, store.AuthDelayed); tk.RetryAfter != 2*time.Hour {
		t.Fatalf("RetryAfter = %v, want 2h", tk.RetryAfter)
	}
	// A right answer forgets the account's failures and takes its own
	// advance count back from the address.
	c.Now = t0.Add(3 * time.Hour)
	mustBegin(t, s, c, store.AuthAllowed)
	if err := s.PassAuth(ctx, c); err != nil {
		t.Fatal(err)
	}
	ca.Now = c.Now
	mustBegin(t, s, ca, store.AuthAllowed) // from another address: account counter is clean
	// The address keeps its failures (4, plus bob's attempt from 10.0.0.2
	// elsewhere) until it stays quiet for ForgetAfter.
	cb = c
	cb.User = b.ID
	mustBegin(t, s, cb, store.AuthDelayed)
	cb.Now = c.Now.Add(25 * time.Hour)
	mustBegin(t, s, cb, store.AuthAllowed)
}

func testAuthPerIP(t *testing.T, s store.Store) {
	ctx := context.Background()
	root := mustUser(t, s, 1, "root", "r@x.y")
	c := store.AuthClaim{User: root.ID, IP: "10.0.0.1", PerIP: true, Now: t0, Limits: noDelays}
	for i := range 3 {
		mustBegin(t, s, c, store.AuthAllowed)
		r, err := s.FailAuth(ctx, c)
		if err != nil || r.Failures != uint32(i+1) || r.Locked {
			t.Fatalf("FailAuth = %+v, %v", r, err)
		}
	}
	c2 := c
	c2.IP = "10.0.0.2"
	mustBegin(t, s, c2, store.AuthAllowed)
	if r, err := s.FailAuth(ctx, c2); err != nil || r.Failures != 1 {
		t.Fatalf("FailAuth from a second address = %+v, %v; want 1 failure", r, err)
	}
	// Success from the second address un-counts only its failures.
	mustBegin(t, s, c2, store.AuthAllowed)
	if err := s.PassAuth(ctx, c2); err != nil {
		t.Fatal(err)
	}
	mustBegin(t, s, c, store.AuthAllowed)
	if r, err := s.FailAuth(ctx, c); err != nil || r.Failures != 4 {
		t.Fatalf("FailAuth from the first address = %+v, %v; want 4 failures", r, err)
	}
	rows, err := s.ListView(ctx, store.ViewAuthLog, []store.Filter{{Column: "count_to_threshold", Value: "1", Exact: true}}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d counted rows in the log, want 4 (from the first address)", len(rows))
	}
}

func testAuthReset(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, 1, "alice", "a@x.y")
	c := store.AuthClaim{User: u.ID, IP: "10.0.0.1", LockAbove: 2, Now: t0, Limits: noDelays}
	for range 3 {
		mustBegin(t, s, c, store.AuthAllowed)
		if _, err := s.FailAuth(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	unlocked := false
	if err := s.UpdateUser(ctx, u.ID, store.UserUpdate{Locked: &unlocked}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetAuthFailures(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	mustBegin(t, s, c, store.AuthAllowed)
	if r, err := s.FailAuth(ctx, c); err != nil || r.Failures != 1 || r.Locked {
		t.Fatalf("FailAuth after reset = %+v, %v; want 1 failure, unlocked", r, err)
	}
}

func testNameKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	root := mustUser(t, s, 1, "root", "r@x.y")
	for _, name := range []string{"rооt", "ROOT", "r00t"} {
		err := s.CreateUser(ctx, user(2, name, "o@x.y"))
		if !errors.Is(err, store.ErrNameTaken) {
			t.Errorf("CreateUser(%q) = %v, want ErrNameTaken/ErrNameConfusable", name, err)
		}
	}
	if err := s.CreateUser(ctx, user(2, "rооt", "o@x.y")); !errors.Is(err, store.ErrNameConfusable) {
		t.Errorf("CreateUser(Cyrillic rооt) = %v, want ErrNameConfusable", err)
	}
	bob := mustUser(t, s, 3, "bob", "b@x.y")
	name := "Rооt"
	if err := s.UpdateUser(ctx, bob.ID, store.UserUpdate{Name: &name}); !errors.Is(err, store.ErrNameConfusable) {
		t.Errorf("rename to a look-alike = %v, want ErrNameConfusable", err)
	}
	got, err := s.UserByNameKey(ctx, validate.NameKey("ｒｏｏｔ"))
	if err != nil || got.ID != root.ID {
		t.Fatalf("UserByNameKey = %v, %v; want root", got.ID, err)
	}
	name = "robert"
	if err := s.UpdateUser(ctx, bob.ID, store.UserUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByNameKey(ctx, validate.NameKey("ROBERT")); err != nil || got.ID != bob.ID {
		t.Fatalf("UserByNameKey after rename = %v, %v; want bob", got.ID, err)
	}
	if _, err := s.UserByNameKey(ctx, validate.NameKey("bob")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByNameKey of the old name = %v, want ErrNotFound", err)
	}
}

func testCreationCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustUser(t, s, 1, "alice", "a@x.y")
	b := mustUser(t, s, 2, "bob", "b@x.y")
	var last store.Channel
	for _, n := range []string{"chan1", "chan2", "chan3"} {
		ch, err := s.CreateChannel(ctx, n, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		last = ch
	}
	if n, err := s.CountOwnedChannels(ctx, a.ID); err != nil || n != 3 {
		t.Fatalf("CountOwnedChannels = %d, %v; want 3", n, err)
	}
	if err := s.AddMember(ctx, store.Member{ChannelID: last.ID, UserID: b.ID, Pending: true, Level: 4}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountOwnedChannels(ctx, b.ID); err != nil || n != 0 {
		t.Fatalf("CountOwnedChannels(bob) = %d, %v; want 0", n, err)
	}
	if n, err := s.CountPendingInvites(ctx, last.ID); err != nil || n != 1 {
		t.Fatalf("CountPendingInvites = %d, %v; want 1", n, err)
	}
}

func testTakeQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustUser(t, s, 1, "alice", "a@x.y")
	take := func(now time.Time, kind string, want bool) {
		t.Helper()
		ok, err := s.TakeQuota(ctx, a.ID, kind, 2, time.Hour, now)
		if err != nil || ok != want {
			t.Fatalf("TakeQuota(%s, %v) = %v, %v; want %v", kind, now, ok, err, want)
		}
	}
	take(t0, "rename", true)
	take(t0.Add(time.Minute), "rename", true)
	take(t0.Add(2*time.Minute), "rename", false)
	take(t0.Add(2*time.Minute), "other", true)
	take(t0.Add(time.Hour), "rename", true)
	if _, err := s.TakeQuota(ctx, uid(77), "rename", 2, time.Hour, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeQuota of a missing account = %v, want ErrNotFound", err)
	}
}
