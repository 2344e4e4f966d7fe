package host_test

import (
	"context"
	"strings"
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
