package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// The browser tests drive Debian's chromium. Without it they are skipped,
// unless MRCI_WEB_REQUIRE_BROWSER is set (.ci/run sets it and installs
// chromium), so CI cannot pass without running them.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MRCI_WEB_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium not found and MRCI_WEB_REQUIRE_BROWSER is set")
	}
	t.Skip("chromium not installed (apt-get install -y chromium)")
	return ""
}

// browser starts a headless chromium for the test and returns its first
// tab. The deadline is only a safety net for a hung browser.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if _, err := chromedp.Run(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}

// newTab opens another tab in the same browser.
func newTab(t *testing.T, first context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(first)
	t.Cleanup(cancel)
	return tab
}

func run[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tab, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// waitJS waits until a JavaScript expression is truthy (a DOM condition).
func waitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	run(t, tab, "waiting for "+what, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingMutation()))
}

// waitText waits until the element's text contains s.
func waitText(t *testing.T, tab context.Context, sel, s string) {
	t.Helper()
	_, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").includes(%s)`, js(sel), js(s)),
		chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingMutation()))
	if err != nil {
		t.Fatalf("waiting for %s to contain %q: %v; it holds %q", sel, s, err, textOf(t, tab, sel))
	}
}

func textOf(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	return run(t, tab, "text of "+sel, chromedp.Evaluate[string](
		fmt.Sprintf(`document.querySelector(%s)?.textContent ?? ""`, js(sel))))
}

// screenshot saves the tab to docs/web/NAME.png when MRCI_WEB_SCREENSHOTS=1
// (so ordinary runs never rewrite the committed pictures).
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	if os.Getenv("MRCI_WEB_SCREENSHOTS") != "1" {
		return
	}
	png := run(t, tab, "screenshot", chromedp.CaptureScreenshot())
	dir := filepath.Join("..", "..", "docs", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// openConsole loads the page and waits for the login form and the
// anonymous command list (auth) from NEW_CMD.
func openConsole(t *testing.T, tab context.Context, c *console) {
	t.Helper()
	run(t, tab, "navigate", chromedp.Navigate(c.URL+"/"))
	run(t, tab, "login form", chromedp.WaitVisible("#login-user"))
	waitJS(t, tab, "the auth command", `[...document.querySelectorAll("#cmd-names option")].some(o => o.value === "auth")`)
}

// login logs in through the form; extra answers the prompts that follow
// the password (forced password or user-name change), in order.
func login(t *testing.T, tab context.Context, user, pw string, extra ...string) {
	t.Helper()
	run(t, tab, "user", chromedp.SendKeys("#login-user", user))
	run(t, tab, "password", chromedp.SendKeys("#login-pass", pw))
	run(t, tab, "submit", chromedp.Click("#login-submit"))
	for _, answer := range extra {
		run(t, tab, "login prompt", chromedp.WaitVisible("#login-answer"))
		run(t, tab, "answer", chromedp.SendKeys("#login-answer", answer+"\r"))
	}
	run(t, tab, "logged in", chromedp.WaitVisible("#chat-in"))
}

// openSub opens a sub-channel from the sidebar.
func openSub(t *testing.T, tab context.Context, ch, sub string) {
	t.Helper()
	run(t, tab, "channel", chromedp.SendKeys("#open-ch", ch))
	run(t, tab, "sub-channel", chromedp.SendKeys("#open-sub", sub))
	run(t, tab, "open", chromedp.Click("#open-submit"))
	waitText(t, tab, "#chat-log", "you opened "+ch+" / "+sub)
}

// say sends a chat line and waits until the page shows it as sent.
func say(t *testing.T, tab context.Context, text string) {
	t.Helper()
	run(t, tab, "type", chromedp.SendKeys("#chat-in", text))
	run(t, tab, "send", chromedp.Click("#chat-send"))
	waitJS(t, tab, "own line "+text, fmt.Sprintf(
		`[...document.querySelectorAll("#chat-log li.mine .text")].some(e => e.textContent === %s)`, js(text)))
}

// castFrames collects the text casts a TCP client receives.
func castTexts(ctx context.Context, c *client.Client, want ...string) error {
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	for len(missing) > 0 {
		select {
		case f := <-c.Async():
			if f.Cmd == uint16(wire.AsyncCast) && f.Type == wire.TypeText {
				delete(missing, wire.DecodeText(f.Payload))
			}
		case <-ctx.Done():
			return fmt.Errorf("casts not received: %v", missing)
		}
	}
	return nil
}

// Two browser tabs and one TCP client chat in the same sub-channel; the
// first tab logs in as a fresh account that must change its password, the
// second runs a command with a hidden prompt; a cast carrying markup is
// shown as text and its script never runs; host_info counts the browsers.
//
// Accounts are rank 2; the test gives rank 2 the channel commands it uses
// (a fresh host ranks them for root only) and root makes the sub-channel
// open to everybody (level 5), so no invitations are needed.
func TestBrowserChat(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	tabA := browser(t)
	tabB := newTab(t, tabA)

	ctx := hosttest.Ctx(t, 3*time.Minute)
	h.RankAll(t, 2, "open_sub_ch", "close_sub_ch", "cast", "ping_peers", "set_pw", "ls_open_chs")
	alice := h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	yes := true
	if err := h.Store.UpdateUser(ctx, alice.ID, store.UserUpdate{NewPasswordReq: &yes}); err != nil {
		t.Fatal(err)
	}
	h.CreateUser(t, "bobby", "Bobby-Pass-1", 2)
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	root := h.Root(t)
	for _, cmd := range [][2]string{
		{"add_ch", "-ch_name webchat"},
		{"add_sub_ch", "-ch_name webchat -sub_name lobby"},
		{"set_sub_ch_level", "-ch_name webchat -sub_name lobby -level 5"},
	} {
		res, err := root.Run(ctx, cmd[0], cmd[1])
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			t.Fatalf("%s %s: %v", cmd[0], cmd[1], err)
		}
	}

	// Tab A: a fresh account, forced to change its password at first login.
	openConsole(t, tabA, c)
	screenshot(t, tabA, "login")
	run(t, tabA, "user", chromedp.SendKeys("#login-user", "alice"))
	run(t, tabA, "password", chromedp.SendKeys("#login-pass", "Alice-Pass-1"))
	run(t, tabA, "submit", chromedp.Click("#login-submit"))
	run(t, tabA, "new password prompt", chromedp.WaitVisible("#login-answer"))
	if typ := run(t, tabA, "prompt type", chromedp.Evaluate[string](`document.querySelector("#login-answer").type`)); typ != "password" {
		t.Fatalf("the forced password prompt is an input of type %q, want password", typ)
	}
	waitText(t, tabA, "#login-prompt-label", "Enter a new password")
	run(t, tabA, "new password", chromedp.SendKeys("#login-answer", "Alice-New-Pass-2\r"))
	run(t, tabA, "logged in", chromedp.WaitVisible("#chat-in"))
	waitText(t, tabA, "#me", "alice")

	// Tab B and the TCP client.
	openConsole(t, tabB, c)
	login(t, tabB, "bobby", "Bobby-Pass-1")
	openSub(t, tabA, "webchat", "lobby")
	openSub(t, tabB, "webchat", "lobby")
	// bobby's PEER_STAT announces a session; his ping_peers names it.
	waitText(t, tabA, "#chat-log", " is bobby")

	carol := h.Login(t, "carol", "Carol-Pass-1")
	if res, err := carol.Run(ctx, "open_sub_ch", "-ch_name webchat -sub_name lobby"); err != nil || res.Err() != nil {
		t.Fatalf("carol open_sub_ch: %v %v", err, res.Err())
	}
	carolSID := carol.SessionID().String()[:8]
	waitText(t, tabA, "#chat-log", "session "+carolSID+" joined") // PEER_STAT

	say(t, tabA, "hello from alice")
	say(t, tabB, "hello from bobby")
	if res, err := carol.Run(ctx, "cast", "hello from carol"); err != nil || res.Err() != nil {
		t.Fatalf("carol cast: %v %v", err, res.Err())
	}
	waitText(t, tabA, "#chat-log", "hello from bobby")
	waitText(t, tabA, "#chat-log", "hello from carol")
	waitText(t, tabB, "#chat-log", "hello from alice")
	waitText(t, tabB, "#chat-log", "hello from carol")
	if err := castTexts(ctx, carol, "hello from alice", "hello from bobby"); err != nil {
		t.Fatal(err)
	}

	// Markup in a cast is text: the script does not run, no element is made.
	const evil = `<script>window.__mrciPwned = 1</script><img src=x onerror="window.__mrciPwned = 2">`
	if res, err := carol.Run(ctx, "cast", evil); err != nil || res.Err() != nil {
		t.Fatalf("carol cast: %v %v", err, res.Err())
	}
	waitText(t, tabA, "#chat-log", evil)
	pwned := run(t, tabA, "check", chromedp.Evaluate[string](
		`String(window.__mrciPwned) + " " + document.querySelectorAll("#chat-log script, #chat-log img").length`))
	if pwned != "undefined 0" {
		t.Fatalf("the cast's markup ran or became elements: %s", pwned)
	}
	// Any command from the console, output streamed in.
	run(t, tabA, "console", chromedp.SendKeys("#console-in", "my_info\r"))
	waitText(t, tabA, "#console-out", "alice@example.com")
	screenshot(t, tabA, "chat")

	// host_info counts both browser sessions: root, carol, two tabs, and
	// the root session loadLine opens.
	if got := loadLine(t, h); !strings.HasPrefix(got, "Load: 5/") {
		t.Fatalf("host_info %q, want Load: 5/...", got)
	}

	// A command with a hidden prompt in the console of tab B.
	run(t, tabB, "console", chromedp.SendKeys("#console-in", "set_pw\r"))
	run(t, tabB, "hidden prompt", chromedp.WaitVisible(`#console-in[type="password"]`))
	waitText(t, tabB, "#console-out", "Enter a new password")
	run(t, tabB, "answer", chromedp.SendKeys("#console-in", "Bobby-New-Pass-2\r"))
	waitJS(t, tabB, "set_pw to finish", `document.body.dataset.console === "command"`)
	if out := textOf(t, tabB, "#console-out"); strings.Contains(out, "Bobby-New-Pass-2") {
		t.Fatalf("the hidden answer was echoed: %q", out)
	}
	h.Login(t, "bobby", "Bobby-New-Pass-2") // fails the test if set_pw did not work

	// The TCP client leaves: the browsers show it (PEER_STAT disconnected).
	_ = carol.Close()
	waitText(t, tabB, "#chat-log", "session "+carolSID+" left")

	// Logging out ends alice's session (bobby sees her leave) and brings
	// back the login form on a fresh session.
	waitText(t, tabB, "#chat-log", "alice is here") // bobby's ping was answered
	run(t, tabA, "log out", chromedp.Click("#logout"))
	run(t, tabA, "login form again", chromedp.WaitVisible("#login-user"))
	waitText(t, tabB, "#chat-log", "alice left")

	// The host going away is shown, not silently ignored. (The reason is
	// "the host closed the session" when the close handshake completes;
	// only the disconnection itself is asserted.)
	h.Stop()
	waitText(t, tabB, "#status", "disconnected: ")
}
