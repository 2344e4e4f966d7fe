package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// answers replies to prompts (PRIV_TEXT, and TEXT frames ending in a
// question) with the given answers in order.
func answers(list ...string) client.TextPrompter {
	i := 0
	p := client.PromptFunc(func(ctx context.Context, f wire.Frame) (string, error) {
		if i >= len(list) {
			return "", fmt.Errorf("unexpected prompt %q", wire.DecodeText(f.Payload))
		}
		i++
		return list[i-1], nil
	})
	return client.TextPrompts(p, func(f wire.Frame) bool {
		s := wire.DecodeText(f.Payload)
		return strings.HasSuffix(s, ": ") || strings.HasSuffix(s, "? ")
	})
}

func run(t *testing.T, c *client.Client, name, args string, replies ...string) *client.Result {
	t.Helper()
	res, err := c.RunInteractive(hosttest.Ctx(t, 20*time.Second), name, args, answers(replies...))
	if err != nil {
		t.Fatalf("%s %s: %v", name, args, err)
	}
	return res
}

func wantErr(t *testing.T, res *client.Result, want string) {
	t.Helper()
	errs := res.Errors()
	if len(errs) == 0 || errs[0] != "err: "+want+"\n" {
		t.Fatalf("errors = %q, want %q", errs, "err: "+want+"\n")
	}
}

func wantOK(t *testing.T, res *client.Result) {
	t.Helper()
	if err := res.Err(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func user(t *testing.T, h *hosttest.Host, name string) store.User {
	t.Helper()
	u, err := h.Store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u
}

// nextAsync waits for the next async frame with the given id.
func nextAsync(t *testing.T, c *client.Client, id wire.AsyncID, typ wire.TypeID) wire.Frame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.Async():
			if f.Cmd == uint16(id) && f.Type == typ {
				return f
			}
		case <-timeout:
			t.Fatalf("no %v frame of type %v", id, typ)
		}
	}
}

func TestAuthPromptsAndMyInfo(t *testing.T) {
	h := hosttest.Start(t)
	h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	c := h.Dial(t)
	// Wrong password: access denied, asked again; blank answer cancels.
	res := run(t, c, "auth", "-user alice", "Wrong-Pass-1", "")
	wantErr(t, res, "access denied")
	if n := countType(res, wire.TypePrivText); n != 2 {
		t.Fatalf("%d password prompts, want 2", n)
	}
	wantErr(t, run(t, c, "auth", "-user nobody"), "no such user")
	wantErr(t, run(t, c, "auth", ""), "-user/-email missing, empty or invalid")
	// Log in by e-mail.
	res = run(t, c, "auth", "-email alice@example.com", "Alice-Pass-1")
	wantOK(t, res)
	if !strings.Contains(res.Text(), "Access granted.") {
		t.Fatalf("auth output %q", res.Text())
	}
	info := nextAsync(t, c, wire.AsyncSysMsg, wire.TypeMyInfo)
	mi, _ := wire.ParseMyInfo(info.Payload)
	alice := user(t, h, "alice")
	if len(info.Payload) != wire.MyInfoLen || mi.Peer.UserName != "alice" || mi.Peer.UserID != alice.ID ||
		mi.Rank != 2 || mi.Email != "alice@example.com" || mi.Peer.SessionID != c.SessionID() || mi.Peer.AppName != "hosttest" {
		t.Fatalf("MY_INFO = %+v", mi)
	}
	out := run(t, c, "my_info", "").Text()
	for _, want := range []string{"User Name:      alice\n", "Host Rank:      2\n", "User id:        " + alice.ID.String(), "Email Verified: false\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("my_info lacks %q:\n%s", want, out)
		}
	}
	// A rank-2 account gets the exempt commands only.
	if _, ok := c.CommandID("set_pw"); !ok {
		t.Fatal("exempt command set_pw not loaded")
	}
	if _, ok := c.CommandID("ls_users"); ok {
		t.Fatal("unranked user command ls_users loaded for rank 2")
	}
	// auth_log rows: one failed (now uncounted) and one accepted.
	n, err := h.Store.CountFailedAuth(context.Background(), alice.ID, "")
	if err != nil || n != 0 {
		t.Fatalf("counted failures after success = %d, %v", n, err)
	}
}

func countType(res *client.Result, t wire.TypeID) int {
	n := 0
	for _, f := range res.Frames {
		if f.Type == t {
			n++
		}
	}
	return n
}

func TestForcedPasswordAndUserNameChange(t *testing.T) {
	h := hosttest.Start(t)
	h.CreateUser(t, "bob", "Bob-Pass-123", 2)
	h.CreateUser(t, "taken", "Taken-Pass-1", 2)
	root := h.Root(t)
	wantOK(t, run(t, root, "request_new_pw", "-user bob -req 1"))
	wantOK(t, run(t, root, "request_new_user_name", "-user bob -req 1"))
	c := h.Dial(t)
	// New password prompt: an invalid one is refused; then the name prompt
	// refuses an existing name and accepts a free one.
	res := run(t, c, "auth", "-user bob", "Bob-Pass-123", "short", "New-Pass-456", "taken", "robert")
	if errs := res.Errors(); len(errs) != 2 || !strings.HasPrefix(errs[0], "err: invalid password") || errs[1] != "err: user name already exists\n" {
		t.Fatalf("errors = %q", errs)
	}
	if !strings.Contains(res.Text(), "Access granted.") {
		t.Fatalf("not granted: %q", res.Text())
	}
	u := user(t, h, "robert")
	if u.NewPasswordReq || u.NewNameReq {
		t.Fatalf("flags not cleared: %+v", u)
	}
	if ok, _ := password.Verify("New-Pass-456", u.PasswordHash); !ok {
		t.Fatal("new password not stored")
	}
	// Blank at the forced change cancels the login.
	wantOK(t, run(t, root, "request_new_pw", "-user robert -req 1"))
	c2 := h.Dial(t)
	res = run(t, c2, "auth", "-user robert", "New-Pass-456", "")
	if strings.Contains(res.Text(), "Access granted.") {
		t.Fatal("login completed although the forced change was cancelled")
	}
}

func TestFailedLoginsLockAccountAndRootIsNotBannedFromLoopback(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		s, _ := st.Settings(context.Background())
		s.AutoLockThreshold, s.AutoBanThreshold = 2, 1
		_ = st.SaveSettings(context.Background(), s)
	}})
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	c := h.Dial(t)
	// Failures 1 and 2 are denied; the 3rd exceeds the threshold: locked, silently.
	res := run(t, c, "auth", "-user carol", "Bad-Pass-11", "Bad-Pass-22", "Bad-Pass-33")
	if errs := res.Errors(); len(errs) != 2 {
		t.Fatalf("errors = %q, want 2 denials", errs)
	}
	if !user(t, h, "carol").Locked {
		t.Fatal("account not locked after exceeding the threshold")
	}
	wantErr(t, run(t, c, "auth", "-user carol"), "the account is locked")
	// Unlocking resets the counters: one more failure does not re-lock.
	root := h.Root(t)
	wantOK(t, run(t, root, "lock_acct", "-user carol -state 0"))
	run(t, c, "auth", "-user carol", "Bad-Pass-44", "")
	if user(t, h, "carol").Locked {
		t.Fatal("re-locked by a single failure after unlock")
	}
	// Root failures from loopback end the prompt but never ban 127.0.0.1.
	run(t, c, "auth", "-user root", "Bad-Pass-11", "Bad-Pass-22")
	bans, _ := h.Store.Bans(context.Background())
	if len(bans) != 0 {
		t.Fatalf("loopback banned: %v", bans)
	}
	h.Root(t)
}

func TestOwnAccountCommandsUpdateEverySessionOfTheUser(t *testing.T) {
	h := hosttest.Start(t)
	h.CreateUser(t, "dave", "Dave-Pass-1", 2)
	a := h.Login(t, "dave", "Dave-Pass-1")
	b := h.Login(t, "dave", "Dave-Pass-1")
	drain(a)
	drain(b)

	wantOK(t, run(t, a, "set_user_name", "-new_name david"))
	for _, c := range []*client.Client{a, b} {
		mi, _ := wire.ParseMyInfo(nextAsync(t, c, wire.AsyncSysMsg, wire.TypeMyInfo).Payload)
		if mi.Peer.UserName != "david" {
			t.Fatalf("MY_INFO user name = %q", mi.Peer.UserName)
		}
	}
	wantErr(t, run(t, a, "set_user_name", "-new_name root"), "user name already exists")
	wantErr(t, run(t, a, "set_user_name", "-new_name x"), "invalid user name (2-24 chars, no spaces)")

	wantOK(t, run(t, a, "set_disp_name", `-new_name "Dave the Brave"`))
	mi, _ := wire.ParseMyInfo(nextAsync(t, b, wire.AsyncSysMsg, wire.TypeMyInfo).Payload)
	if mi.Peer.DisplayName != "Dave the Brave" || user(t, h, "david").DisplayName != "Dave the Brave" {
		t.Fatalf("display name = %q", mi.Peer.DisplayName)
	}
	wantErr(t, run(t, a, "set_disp_name", `-new_name "`+strings.Repeat("x", 33)+`"`), "display name too long or contains a line break (limit 32)")

	wantOK(t, run(t, a, "set_email", "-new_email dave@new.example"))
	mi, _ = wire.ParseMyInfo(nextAsync(t, b, wire.AsyncSysMsg, wire.TypeMyInfo).Payload)
	if mi.Email != "dave@new.example" || mi.EmailVerified {
		t.Fatalf("MY_INFO after set_email = %+v", mi)
	}
	wantErr(t, run(t, a, "set_email", "-new_email nope"), "invalid email address")
	wantErr(t, run(t, a, "set_email", ""), "-new_email missing")
	if got := run(t, a, "is_email_verified", "").Text(); got != "false\n" {
		t.Fatalf("is_email_verified = %q", got)
	}

	wantOK(t, run(t, a, "set_pw", "", "Dave-Pass-2!"))
	h.Login(t, "david", "Dave-Pass-2!")
}

func drain(c *client.Client) {
	for {
		select {
		case <-c.Async():
		default:
			return
		}
	}
}

func TestUserAdministrationAndRankRules(t *testing.T) {
	h := hosttest.Start(t)
	admin := []string{"add_acct", "rm_acct", "lock_acct", "set_user_rank", "force_set_email",
		"request_new_pw", "request_new_user_name", "ls_users"}
	h.RankAll(t, 2, admin...)
	h.CreateUser(t, "mod", "Mod-Pass-123", 2)
	h.CreateUser(t, "peer", "Peer-Pass-123", 2)
	h.CreateUser(t, "pleb", "Pleb-Pass-123", 3)
	m := h.Login(t, "mod", "Mod-Pass-123")
	target := h.Login(t, "pleb", "Pleb-Pass-123")

	// A rank never modifies an equal or better one.
	wantErr(t, run(t, m, "lock_acct", "-user peer -state 1"), "target out-ranks or equals you")
	wantErr(t, run(t, m, "lock_acct", "-user root -state 1"), "target out-ranks or equals you")
	wantErr(t, run(t, m, "set_user_rank", "-user pleb -rank 1"), "cannot assign a rank higher than your own")
	wantErr(t, run(t, m, "set_user_rank", "-user root -rank 5"), "cannot change the rank of protected user root")
	wantErr(t, run(t, m, "set_user_rank", "-user pleb -rank 0"), "rank 0 is invalid")
	wantErr(t, run(t, m, "set_user_rank", "-user pleb -rank x"), "invalid 32-bit unsigned rank")
	wantErr(t, run(t, m, "force_set_email", "-user peer -new_email p@x.org"), "access denied")
	wantErr(t, run(t, m, "request_new_pw", "-user peer -req 1"), "target out-ranks or equals you")
	wantErr(t, run(t, m, "lock_acct", "-user pleb -state 2"), "-state must be 0 or 1")
	wantErr(t, run(t, m, "lock_acct", "-user pleb"), "-state missing")
	wantErr(t, run(t, m, "rm_acct", "-name peer -force"), "target out-ranks you")
	wantErr(t, run(t, m, "rm_acct", "-name ROOT -force"), "cannot delete protected user root")
	if u := user(t, h, "peer"); u.Locked || u.NewPasswordReq || u.Email != "peer@example.com" {
		t.Fatalf("denied commands changed peer: %+v", u)
	}

	// Allowed on a worse rank; the target's session follows (MY_INFO, commands).
	drain(target)
	wantOK(t, run(t, m, "set_user_rank", "-user pleb -rank 2"))
	mi, _ := wire.ParseMyInfo(nextAsync(t, target, wire.AsyncSysMsg, wire.TypeMyInfo).Payload)
	if mi.Rank != 2 || user(t, h, "pleb").Rank != 2 {
		t.Fatalf("rank after set_user_rank = %d", mi.Rank)
	}
	if _, err := target.WaitCommand(hosttest.Ctx(t, 5*time.Second), "ls_users"); err != nil {
		t.Fatalf("rank-2 command not announced after the rank change: %v", err)
	}
	wantOK(t, run(t, h.Root(t), "set_user_rank", "-user pleb -rank 3"))
	rm := nextAsync(t, target, wire.AsyncRmCmd, wire.TypeCmdID)
	if len(rm.Payload) != 2 {
		t.Fatalf("RM_CMD payload % x", rm.Payload)
	}
	waitGone(t, target, "ls_users")

	wantOK(t, run(t, m, "force_set_email", "-user pleb -new_email pleb@new.org"))
	wantOK(t, run(t, m, "request_new_user_name", "-user pleb -req 1"))
	wantOK(t, run(t, m, "lock_acct", "-user pleb -state 1"))
	if u := user(t, h, "pleb"); u.Email != "pleb@new.org" || !u.NewNameReq || !u.Locked {
		t.Fatalf("pleb = %+v", u)
	}

	// add_acct with its password prompt; then rm_acct with a confirmation.
	wantErr(t, run(t, m, "add_acct", "-name newbie"), "-email missing")
	wantErr(t, run(t, m, "add_acct", "-name mod -email z@z.org"), "user name already exists")
	wantOK(t, run(t, m, "add_acct", `-name newbie -email newbie@x.org -disp "New Bie"`, "Newbie-Pass-1"))
	nb := user(t, h, "newbie")
	if nb.Rank != 2 || nb.DisplayName != "New Bie" {
		t.Fatalf("new account %+v", nb)
	}
	wantOK(t, run(t, h.Root(t), "set_user_rank", "-user newbie -rank 3"))
	newbie := h.Login(t, "newbie", "Newbie-Pass-1")
	wantOK(t, run(t, m, "rm_acct", "-name newbie", "n"))
	user(t, h, "newbie")
	wantOK(t, run(t, m, "rm_acct", "-name newbie", "maybe", "y"))
	if _, err := h.Store.UserByName(context.Background(), "newbie"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("newbie still exists: %v", err)
	}
	del := nextAsync(t, newbie, wire.AsyncUserDeleted, wire.TypeText)
	if string(del.Payload) != string(nb.ID[:]) {
		t.Fatalf("USER_DELETED payload % x", del.Payload)
	}
	waitGone(t, newbie, "set_pw")
	if _, ok := newbie.CommandID("auth"); !ok {
		t.Fatal("public commands missing after forced logout")
	}
	wantOK(t, run(t, m, "rm_acct", "-name pleb -force"))
	if _, err := h.Store.UserByName(context.Background(), "pleb"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("-force did not delete")
	}
}

// waitGone waits until the client's command table no longer has name.
func waitGone(t *testing.T, c *client.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := c.CommandID(name); !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("command %s still loaded", name)
}

func TestLsUsersPagesOf50(t *testing.T) {
	h := hosttest.Start(t)
	for i := range 60 {
		h.CreateUser(t, fmt.Sprintf("user%02d", i), "User-Pass-123", 3)
	}
	root := h.Root(t)
	res := run(t, root, "ls_users", "", "y")
	out := res.Text()
	if n := strings.Count(out, "-------"); n != 8 { // two pages x 4 columns
		t.Fatalf("separator cells = %d, want 8\n%s", n, out)
	}
	for _, want := range []string{"root", "user00", "user59"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %s", want)
		}
	}
	lines := strings.Split(strings.TrimSpace(wire.DecodeText(res.Frames[0].Payload)), "\n")
	if len(lines) != 52 || !strings.HasPrefix(lines[0], "time_stamp") {
		t.Fatalf("first page has %d lines (want 2 + 50), header %q", len(lines), lines[0])
	}
	// Filters are substring matches on displayed columns.
	out = run(t, root, "ls_users", "-user_name user5").Text()
	if strings.Count(out, "user5") != 10 || strings.Contains(out, "root") {
		t.Fatalf("filtered listing:\n%s", out)
	}
	if strings.Contains(run(t, root, "ls_users", "-user_name \"x' OR '1'='1\"").Text(), "root") {
		t.Fatal("filter value was interpreted as SQL")
	}
}

func TestBranchesRunIndependentlyAndTermEndsAPrompt(t *testing.T) {
	h := hosttest.Start(t)
	root := h.Root(t)
	ctx := hosttest.Ctx(t, 10*time.Second)
	one, err := root.Start(ctx, "add_acct")
	if err != nil {
		t.Fatal(err)
	}
	two, err := root.Start(ctx, "add_acct")
	if err != nil {
		t.Fatal(err)
	}
	if one.Branch() == two.Branch() {
		t.Fatal("same branch for two calls")
	}
	_ = one.SendText("-name first -email first@x.org")
	_ = two.SendText("-name second -email second@x.org")
	for _, call := range []*client.Call{one, two} {
		if f, err := call.Next(ctx); err != nil || f.Type != wire.TypePrivText {
			t.Fatalf("prompt: %v %v", f.Type, err)
		}
	}
	_ = two.SendText("Second-Pass-1")
	if f, err := two.Next(ctx); err != nil || f.Type != wire.TypeIdle {
		t.Fatalf("second call end: %v %v", f.Type, err)
	}
	_ = one.Terminate()
	if f, err := one.Next(ctx); err != nil || f.Type != wire.TypeIdle {
		t.Fatalf("TERM_CMD answer: %v %v", f.Type, err)
	}
	user(t, h, "second")
	if _, err := h.Store.UserByName(ctx, "first"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("terminated call created its account")
	}
}

func TestPublicRegistrationSettingAddsAddAcct(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		s, _ := st.Settings(context.Background())
		s.AllowPublicRegistrations = true
		_ = st.SaveSettings(context.Background(), s)
	}})
	c := h.Dial(t)
	wantOK(t, run(t, c, "add_acct", "-name guest -email guest@x.org", "Guest-Pass-1"))
	if user(t, h, "guest").Rank != 2 {
		t.Fatal("initial host rank not applied")
	}
	h.Login(t, "guest", "Guest-Pass-1")
}

func TestHostInfo(t *testing.T) {
	h := hosttest.Start(t)
	out := run(t, h.Root(t), "host_info", "").Text()
	for _, want := range []string{"Application:    MRCI v2.0.2 64Bit\n", "Load:           1/100\n", "Stored Port:    35516\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("host_info lacks %q:\n%s", want, out)
		}
	}
}

func TestRootIsProtectedByIDNotByName(t *testing.T) {
	h := hosttest.Start(t)
	h.RankAll(t, 2, "rm_acct", "set_user_rank")
	root := h.Root(t)
	wantOK(t, run(t, root, "set_user_name", "-new_name boss"))
	h.CreateUser(t, "root", "Fake-Root-Pass1", 3)
	h.CreateUser(t, "admin2", "Admin-Pass-123", 2)
	a := h.Login(t, "admin2", "Admin-Pass-123")
	// The renamed root keeps its protection (and out-ranks admin2 anyway).
	wantErr(t, run(t, root, "rm_acct", "-name boss -force"), "cannot delete protected user root")
	wantErr(t, run(t, root, "set_user_rank", "-user boss -rank 2"), "cannot change the rank of protected user root")
	// An account that merely took the name "root" has no protection.
	wantOK(t, run(t, a, "set_user_rank", "-user root -rank 4"))
	wantOK(t, run(t, a, "rm_acct", "-name root -force"))
	if _, err := h.Store.UserByName(context.Background(), "root"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("impostor root not deleted")
	}
}
