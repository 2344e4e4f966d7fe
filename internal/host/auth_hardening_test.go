package host_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// promptCall is an auth call waiting at its password prompt.
type promptCall struct {
	c    *client.Client
	call *client.Call
}

// untilPromptOrIdle reads a call's frames until a PRIV_TEXT prompt or IDLE
// and returns the TEXT and ERR frames' texts and whether it ended.
func untilPromptOrIdle(t *testing.T, ctx context.Context, call *client.Call) (texts []string, ended bool) {
	t.Helper()
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		switch f.Type {
		case wire.TypePrivText:
			return texts, false
		case wire.TypeIdle:
			return texts, true
		case wire.TypeText, wire.TypeErr:
			texts = append(texts, wire.DecodeText(f.Payload))
		}
	}
}

// TestOpenPromptsCannotBypassTheLock reproduces defect 2 of issue 8: many
// auth prompts are opened (on several sessions and branches) before the
// account is locked; wrong answers on some of them lock it; then the right
// password on any other open prompt must not log in.
func TestOpenPromptsCannotBypassTheLock(t *testing.T) {
	const threshold = 3
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		s, _ := st.Settings(context.Background())
		s.AutoLockThreshold = threshold
		_ = st.SaveSettings(context.Background(), s)
	}})
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	ctx := hosttest.Ctx(t, 60*time.Second)
	var prompts []promptCall
	for range 3 {
		c := h.Dial(t)
		for range 6 {
			call, err := c.Start(ctx, "auth")
			if err != nil {
				t.Fatal(err)
			}
			if err := call.SendText("-user carol"); err != nil {
				t.Fatal(err)
			}
			if texts, ended := untilPromptOrIdle(t, ctx, call); ended {
				t.Fatalf("auth ended before its prompt: %q", texts)
			}
			prompts = append(prompts, promptCall{c, call})
		}
	}
	// threshold+1 wrong answers: the last one exceeds the threshold.
	wrong := threshold + 1
	for i, p := range prompts[:wrong] {
		if err := p.call.SendText("Bad-Pass-11"); err != nil {
			t.Fatal(err)
		}
		texts, ended := untilPromptOrIdle(t, ctx, p.call)
		if i < threshold && (ended || len(texts) != 1 || texts[0] != "err: access denied\n") {
			t.Fatalf("wrong answer %d: %q, ended %v; want access denied and a new prompt", i+1, texts, ended)
		}
		if i == threshold && (!ended || len(texts) != 0) {
			t.Fatalf("wrong answer %d: %q, ended %v; want a silent end (locked)", i+1, texts, ended)
		}
	}
	u, err := h.Store.UserByName(context.Background(), "carol")
	if err != nil || !u.Locked {
		t.Fatalf("carol locked = %v (%v), want true", u.Locked, err)
	}
	// Every other prompt, opened before the lock, now gets the right
	// password and must refuse it.
	for i, p := range prompts[wrong:] {
		if err := p.call.SendText("Carol-Pass-1"); err != nil {
			t.Fatal(err)
		}
		texts, ended := untilPromptOrIdle(t, ctx, p.call)
		if !ended || len(texts) != 1 || texts[0] != "err: the account is locked\n" {
			t.Fatalf("right password on open prompt %d: %q, ended %v; want err: the account is locked", i, texts, ended)
		}
	}
	for _, p := range prompts {
		if mi, ok := p.c.MyInfo(); ok && mi.Peer.UserName != "" {
			t.Fatalf("a session logged in as %q", mi.Peer.UserName)
		}
	}
	if u, _ := h.Store.UserByName(context.Background(), "carol"); !u.Locked {
		t.Fatal("carol unlocked")
	}
	// The log holds threshold+1 counted failures and no accepted login.
	rows, err := h.Store.ListView(context.Background(), store.ViewAuthLog, nil, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if strings.Join(r.Cells[2:], " ") == "carol 1 0 1 1" {
			t.Fatalf("accepted login logged: %q", r.Cells)
		}
	}
}

// TestFailedLoginsAreDelayedFromLoopback reproduces defect 8 of issue 8:
// guesses from loopback (exempt from the IP ban) are rate-limited per
// address and per account with a growing delay. The delay is an hour here,
// so nothing depends on timing: a delayed answer is refused without being
// checked.
func TestFailedLoginsAreDelayedFromLoopback(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		l := store.DefaultAccountLimits()
		l.FreeFailures, l.FirstDelay, l.MaxDelay = 2, time.Hour, 8*time.Hour
		_ = st.SaveAccountLimits(context.Background(), l)
	}})
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	c := h.Dial(t)
	const delayed = "err: too many failed logins; try again in 3600 seconds\n"
	res := run(t, c, "auth", "-user root", "Bad-Pass-11", "Bad-Pass-22", "Bad-Pass-33", hosttest.RootPassword, "")
	errs := res.Errors()
	want := []string{"err: access denied\n", "err: access denied\n", "err: access denied\n", delayed}
	if strings.Join(errs, "") != strings.Join(want, "") {
		t.Fatalf("errors = %q, want %q", errs, want)
	}
	if strings.Contains(res.Text(), "Access granted.") {
		t.Fatal("root logged in during the delay")
	}
	// The address is delayed for every account, the right password too.
	res = run(t, c, "auth", "-user carol", "Carol-Pass-1", "")
	if errs := res.Errors(); len(errs) != 1 || errs[0] != delayed || strings.Contains(res.Text(), "Access granted.") {
		t.Fatalf("carol from the delayed address: %q %q", errs, res.Text())
	}
	// Nothing was banned (loopback) and nothing locked (root; carol never failed).
	if bans, _ := h.Store.Bans(context.Background()); len(bans) != 0 {
		t.Fatalf("bans = %v", bans)
	}
	if user(t, h, "carol").Locked {
		t.Fatal("carol locked")
	}
}

// openPrompts opens n auth prompts for user, each on its own session, and
// returns them waiting at the password prompt.
func openPrompts(t *testing.T, ctx context.Context, h *hosttest.Host, user string, n int) []promptCall {
	t.Helper()
	prompts := make([]promptCall, n)
	for i := range prompts {
		c := h.Dial(t)
		call, err := c.Start(ctx, "auth")
		if err != nil {
			t.Fatal(err)
		}
		if err := call.SendText("-user " + user); err != nil {
			t.Fatal(err)
		}
		if texts, ended := untilPromptOrIdle(t, ctx, call); ended {
			t.Fatalf("auth ended before its prompt: %q", texts)
		}
		prompts[i] = promptCall{c, call}
	}
	return prompts
}

// promptResult is what one answer got: the TEXT and ERR texts and whether
// the call ended (otherwise it prompts again).
type promptResult struct {
	texts []string
	ended bool
}

// answerAll sends every prompt its answer at once and collects the results.
func answerAll(t *testing.T, ctx context.Context, prompts []promptCall, answer string) []promptResult {
	t.Helper()
	res := make([]promptResult, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Go(func() {
			if err := p.call.SendText(answer); err != nil {
				t.Error(err)
				return
			}
			for {
				f, err := p.call.Next(ctx)
				if err != nil {
					t.Errorf("prompt %d: %v", i, err)
					return
				}
				switch f.Type {
				case wire.TypePrivText:
					return
				case wire.TypeIdle:
					res[i].ended = true
					return
				case wire.TypeText, wire.TypeErr:
					res[i].texts = append(res[i].texts, wire.DecodeText(f.Payload))
				}
			}
		})
	}
	wg.Wait()
	return res
}

// TestConcurrentRightLoginsAllSucceed reproduces the regression of the
// claim-in-advance fix: correct answers given at once to one account (and
// from one address) were counted as failures while they were verified, so
// the sixth was refused with "too many failed logins". The delay here is
// an hour after two failures: an answer counted as a failure before it is
// verified would refuse the third, whatever the timing.
func TestConcurrentRightLoginsAllSucceed(t *testing.T) {
	ctx := hosttest.Ctx(t, 120*time.Second)
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		l := store.DefaultAccountLimits()
		l.FreeFailures, l.FirstDelay, l.MaxDelay = 2, time.Hour, 8*time.Hour
		_ = st.SaveAccountLimits(context.Background(), l)
	}})
	if l, err := h.Store.AccountLimits(ctx); err != nil || l.FirstDelay != time.Hour || l.FreeFailures != 2 {
		t.Fatalf("limits in force = %+v, %v; want a 1 h delay after 2 failures", l, err)
	}
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	const n = 20 // the default lock threshold: all may be pending at once
	for _, acct := range []struct{ user, pw string }{{"carol", "Carol-Pass-1"}, {"root", hosttest.RootPassword}} {
		prompts := openPrompts(t, ctx, h, acct.user, n)
		for i, r := range answerAll(t, ctx, prompts, acct.pw) {
			if !r.ended || len(r.texts) != 1 || r.texts[0] != "Access granted.\n" {
				t.Errorf("%s, login %d of %d: %q, ended %v; want Access granted.", acct.user, i+1, n, r.texts, r.ended)
			}
		}
		for i, p := range prompts {
			if mi, ok := p.c.MyInfo(); !ok || mi.Peer.UserName != acct.user {
				t.Errorf("%s, session %d: logged in as %q", acct.user, i+1, mi.Peer.UserName)
			}
		}
	}
	// Failures still delay: two are free, the third delays the next answer.
	c := h.Dial(t)
	res := run(t, c, "auth", "-user carol", "Bad-Pass-11", "Bad-Pass-22", "Bad-Pass-33", "Carol-Pass-1", "")
	want := "err: access denied\nerr: access denied\nerr: access denied\nerr: too many failed logins; try again in 3600 seconds\n"
	if got := strings.Join(res.Errors(), ""); got != want {
		t.Fatalf("errors after the logins = %q, want %q", got, want)
	}
}

// TestConcurrentWrongAnswersStillLock: wrong answers given at once on many
// prompts still get exactly threshold+1 answers verified and lock the
// account; the answers beyond them are refused unverified (busy: they
// might be right, so they do not lock), and the right password on any of
// those prompts afterwards is refused because the account is locked.
func TestConcurrentWrongAnswersStillLock(t *testing.T) {
	const threshold, n = 3, 16
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		s, _ := st.Settings(context.Background())
		s.AutoLockThreshold = threshold
		_ = st.SaveSettings(context.Background(), s)
	}})
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	ctx := hosttest.Ctx(t, 120*time.Second)
	prompts := openPrompts(t, ctx, h, "carol", n)
	const (
		denied = "err: access denied\n"
		busy   = "err: too many logins in progress for this account or address; try again\n"
		locked = "err: the account is locked\n"
	)
	verified, open := 0, []promptCall{}
	for i, r := range answerAll(t, ctx, prompts, "Bad-Pass-11") {
		switch {
		case !r.ended && len(r.texts) == 1 && r.texts[0] == denied:
			verified++
		case r.ended && len(r.texts) == 0: // the answer that locked
			verified++
		case !r.ended && len(r.texts) == 1 && r.texts[0] == busy:
		case r.ended && len(r.texts) == 1 && r.texts[0] == locked:
			continue
		default:
			t.Fatalf("wrong answer %d: %q, ended %v", i+1, r.texts, r.ended)
		}
		if !r.ended {
			open = append(open, prompts[i])
		}
	}
	if verified != threshold+1 {
		t.Fatalf("%d wrong answers verified, want %d", verified, threshold+1)
	}
	if u, err := h.Store.UserByName(context.Background(), "carol"); err != nil || !u.Locked {
		t.Fatalf("carol locked = %v (%v), want true", u.Locked, err)
	}
	for i, r := range answerAll(t, ctx, open, "Carol-Pass-1") {
		if !r.ended || len(r.texts) != 1 || r.texts[0] != locked {
			t.Fatalf("right password on open prompt %d: %q, ended %v; want %q", i+1, r.texts, r.ended, locked)
		}
	}
	for _, p := range prompts {
		if mi, ok := p.c.MyInfo(); ok && mi.Peer.UserName != "" {
			t.Fatalf("a session logged in as %q", mi.Peer.UserName)
		}
	}
	rows, err := h.Store.ListView(context.Background(), store.ViewAuthLog,
		[]store.Filter{{Column: "count_to_threshold", Value: "1", Exact: true}}, store.Page{Limit: 100})
	if err != nil || len(rows) != threshold+1 {
		t.Fatalf("%d counted failures in the auth log (%v), want %d", len(rows), err, threshold+1)
	}
}
