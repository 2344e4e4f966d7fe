package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/mail/mailtest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/web"
	"github.com/mrci/mrci/pkg/client"
)

// gate is the host as the console sees it, with a hand on the browsers'
// connections: it can stop reading a connection after a number of bytes
// (so a transfer is certainly mid-way when the test cancels it) and cut
// every connection (a network blip, server side).
type gate struct {
	h     *host.Host
	mu    sync.Mutex
	conns []*gateConn
}

func (g *gate) ServeConn(ctx context.Context, conn net.Conn, remote netip.AddrPort, secured bool) error {
	gc := &gateConn{Conn: conn, closed: make(chan struct{})}
	g.mu.Lock()
	g.conns = append(g.conns, gc)
	g.mu.Unlock()
	return g.h.ServeConn(ctx, gc, remote, secured)
}

// last returns the newest browser connection.
func (g *gate) last(t *testing.T) *gateConn {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.conns) == 0 {
		t.Fatal("no browser connection yet")
	}
	return g.conns[len(g.conns)-1]
}

// valve counts the bytes through one direction of a connection and can
// stop them at a given count until released.
type valve struct {
	mu      sync.Mutex
	n       int64
	limit   int64         // stop at this many bytes (0: no limit)
	reached chan struct{} // closed when the limit is reached
	open    chan struct{} // closed to go on
}

// hold stops the flow after n more bytes; the returned channel closes when
// that point is reached.
func (v *valve) hold(n int64) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.limit = v.n + n
	v.reached = make(chan struct{})
	v.open = make(chan struct{})
	return v.reached
}

// release lets the bytes flow again.
func (v *valve) release() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.open != nil {
		close(v.open)
		v.open = nil
		v.limit = 0
	}
}

// allow returns how many of want bytes may pass now, waiting while the
// valve is shut; false when closed ends the wait.
func (v *valve) allow(want int, closed <-chan struct{}) (int, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for v.limit > 0 && v.n >= v.limit {
		open, reached := v.open, v.reached
		select {
		case <-reached:
		default:
			close(reached)
		}
		v.mu.Unlock()
		select {
		case <-open:
		case <-closed:
			v.mu.Lock()
			return 0, false
		}
		v.mu.Lock()
	}
	if v.limit > 0 && int64(want) > v.limit-v.n {
		want = int(v.limit - v.n)
	}
	return want, true
}

func (v *valve) add(n int) {
	v.mu.Lock()
	v.n += int64(n)
	v.mu.Unlock()
}

// gateConn is one browser connection seen by the host: in is what the
// host reads from the browser, out what it writes to it.
type gateConn struct {
	net.Conn
	in, out valve
	closed  chan struct{}
	once    sync.Once
}

func (c *gateConn) Read(p []byte) (int, error) {
	n, ok := c.in.allow(len(p), c.closed)
	if !ok {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p[:n])
	c.in.add(n)
	return n, err
}

func (c *gateConn) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		n, ok := c.out.allow(len(p), c.closed)
		if !ok {
			return total, net.ErrClosed
		}
		n, err := c.Conn.Write(p[:n])
		c.out.add(n)
		total += n
		p = p[n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (c *gateConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// startGatedConsole serves the console of h through a gate.
func startGatedConsole(t *testing.T, h *hosttest.Host) (*console, *gate) {
	t.Helper()
	g := &gate{h: h.Host}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, ln, g, nil, nil) }()
	t.Cleanup(func() {
		g.mu.Lock()
		for _, c := range g.conns {
			c.in.release()
			c.out.release()
		}
		g.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("web.Serve: %v", err)
		}
	})
	return &console{URL: "http://" + ln.Addr().String(), host: h}, g
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(2 * time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	run(t, tab, "click "+sel, chromedp.Click(sel))
}

func ok(t *testing.T, c *client.Client, cmd, args string) string {
	t.Helper()
	res, err := c.Run(hosttest.Ctx(t, 30*time.Second), cmd, args)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	return res.Text()
}

// noPwned checks that no markup the test planted ran or became elements.
func noPwned(t *testing.T, tab context.Context, where string) {
	t.Helper()
	got := run(t, tab, "pwned check", chromedp.Evaluate[string](
		`String(window.__mrciPwned) + " " + document.querySelectorAll("main script, main img, main b, main i").length`))
	if got != "undefined 0" {
		t.Fatalf("%s: planted markup ran or became elements: %s", where, got)
	}
}

// mrcicDownload builds mrcic, downloads remote with it as root and checks
// the saved bytes.
func mrcicDownload(t *testing.T, addr, remote string, want []byte) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mrcic")
	build := exec.Command("go", "build", "-o", bin, "github.com/mrci/mrci/cmd/mrcic")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build mrcic: %v\n%s", err, out)
	}
	home := t.TempDir()
	local := filepath.Join(home, "saved.bin")
	ctx := hosttest.Ctx(t, 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin, "--addr", addr, "--user", "root", "download", "--quiet", remote, local)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Stdin = strings.NewReader(hosttest.RootPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mrcic download: %v\n%s", err, out)
	}
	got, err := os.ReadFile(local)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("mrcic saved %d bytes (err %v), want the %d uploaded in the browser", len(got), err, len(want))
	}
}

const evilName = `<img src=x onerror="window.__mrciPwned=3"><b>x`

// Files: a file uploaded in the browser is cancelled mid-way (the host is
// held after 3 MiB, so the cancel certainly lands mid-way), leaving a
// partial file; Resume sends the rest with -offset; pkg/client and mrcic
// download it byte-identical. The browser downloads it too (saved by chromium, same
// bytes). A file whose name is markup is listed as text.
func TestBrowserFiles(t *testing.T) {
	h := hosttest.Start(t)
	c, g := startGatedConsole(t, h)
	tab := browser(t)
	root := h.Root(t)

	const size = 16<<20 + 12345
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	evilSrc := filepath.Join(t.TempDir(), evilName)
	if err := os.WriteFile(evilSrc, []byte("markup"), 0o644); err != nil {
		t.Fatal(err)
	}

	openConsole(t, tab, c)
	login(t, tab, "root", hosttest.RootPassword)
	click(t, tab, "#nav-files")
	waitText(t, tab, "#files-cwd", "/")

	// Upload; the host stops reading 3 MiB in, the page is told to cancel.
	reached := g.last(t).in.hold(3 << 20)
	run(t, tab, "pick file", chromedp.SetUploadFiles("#file-pick", []string{src}))
	wait(t, reached, "the upload to reach 3 MiB")
	clickLive(t, tab, `#transfers li[data-name="big.bin"] button.cancel`)
	g.last(t).in.release()
	waitJS(t, tab, "the upload to be cancelled", `document.querySelector('#transfers li[data-name="big.bin"]')?.dataset.state === "cancelled"`)
	remote := filepath.Join(h.DataDir, "files", "big.bin")
	fi, err := os.Stat(remote)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 || fi.Size() >= size {
		t.Fatalf("after the cancel the host file has %d bytes, want a part of %d", fi.Size(), size)
	}
	partial := fi.Size()
	t.Logf("cancelled with %d of %d bytes on the host", partial, size)
	screenshot(t, tab, "files")

	// Resume completes it.
	clickLive(t, tab, `#transfers li[data-name="big.bin"] button.resume`)
	waitJS(t, tab, "the upload to finish", `document.querySelector('#transfers li[data-name="big.bin"]')?.dataset.state === "done"`)
	var got bytes.Buffer
	n, err := root.Download(hosttest.Ctx(t, time.Minute), "big.bin", &got, client.TransferOptions{})
	if err != nil {
		t.Fatalf("download with pkg/client: %v", err)
	}
	if n != size || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("downloaded %d bytes (sha256 %x), want the %d uploaded (sha256 %x); resumed after %d",
			n, sha256.Sum256(got.Bytes()), size, sha256.Sum256(data), partial)
	}
	// And with mrcic, as a user at a terminal would (password at the
	// prompt, SHA-256 verification through fs_hash on by default).
	mrcicDownload(t, h.Addr, "big.bin", data)

	// A file dropped on the pane is uploaded; its markup name is text.
	dropFiles(t, tab, "#files-drop", evilSrc)
	waitJS(t, tab, "the markup file listed", fmt.Sprintf(
		`[...document.querySelectorAll("#files-list tr")].some(r => r.dataset.name === %s)`, js(evilName)))
	waitText(t, tab, "#files-list", "big.bin")
	noPwned(t, tab, "files pane")

	// The browser downloads it: chromium saves the same bytes.
	dir := t.TempDir()
	progress := chromedp.Events(tab, cdpbrowser.DownloadProgress)
	run(t, tab, "download behaviour", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		yes := true
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes,
		})
		return err
	}))
	// The host's writes stop 5 MiB in; the download is cancelled there,
	// then resumed from the bytes the tab holds (-offset).
	reached = g.last(t).out.hold(5 << 20)
	clickLive(t, tab, `#files-list tr[data-name="big.bin"] button.download`)
	wait(t, reached, "the download to reach 5 MiB")
	clickLive(t, tab, `#transfers li[data-kind="down"][data-name="big.bin"] button.cancel`)
	g.last(t).out.release()
	waitJS(t, tab, "the download to be cancelled", `document.querySelector('#transfers li[data-kind="down"][data-name="big.bin"]')?.dataset.state === "cancelled"`)
	clickLive(t, tab, `#transfers li[data-kind="down"][data-name="big.bin"] button.resume`)
	waitJS(t, tab, "the download to finish", `document.querySelector('#transfers li[data-kind="down"][data-name="big.bin"]')?.dataset.state === "done"`)
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download events: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("chromium cancelled the download")
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			continue
		}
		saved, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(saved, data) {
			t.Fatalf("the browser saved %d bytes that differ from the %d uploaded", len(saved), size)
		}
		break
	}
}

// dropFiles drags files from the desktop onto the element, as a user does.
func dropFiles(t *testing.T, tab context.Context, sel string, paths ...string) {
	t.Helper()
	box := run(t, tab, "drop target", chromedp.Evaluate[[]float64](fmt.Sprintf(
		`(() => { const r = document.querySelector(%s).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2] })()`, js(sel))))
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: paths, DragOperationsMask: 1}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		run(t, tab, "drag "+string(typ), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: box[0], Y: box[1], Data: data})
			return err
		}))
	}
}

// globalAddr returns a non-loopback IPv4 address of this machine, so a TCP
// client can come from an address that may be banned.
func globalAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := host.InterfaceAddrs()
	if err != nil {
		t.Fatalf("interface addresses: %v", err)
	}
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this machine has no non-loopback IPv4 address")
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return netip.Addr{}
}

// The admin pages, for root: a ban added on the Bans page refuses a TCP
// client from that address and lifting it there lets it in again; a setting
// changed on the Settings page (Max Sessions, host_config option 3) is what
// host_info shows a TCP client; an invalid value is refused with the
// host's message. A user name holding markup is shown as text.
func TestBrowserAdmin(t *testing.T) {
	ip := globalAddr(t)
	h := hosttest.StartWith(t, hosttest.Options{ListenAddr: "0.0.0.0:0"})
	c := startConsole(t, h, nil)
	tab := browser(t)
	h.CreateUser(t, `<i>mal`, "Mal-Pass-1234", 2)
	for i := range 55 { // more than one viewer page (50 rows)
		h.CreateUser(t, fmt.Sprintf("user%03d", i), "User-Pass-1234", 2)
	}

	_, port, _ := net.SplitHostPort(h.Addr)
	outside := net.JoinHostPort(ip.String(), port)
	dialOutside := func() (*client.Client, error) {
		cl, err := client.Dial(hosttest.Ctx(t, 30*time.Second), outside,
			client.Options{PinnedCert: string(h.Cert.CertPEM), AppName: "admin test", CommonName: "localhost"})
		if err == nil {
			_ = cl.Close()
		}
		return cl, err
	}
	if _, err := dialOutside(); err != nil {
		t.Fatalf("before the ban: %v", err)
	}

	openConsole(t, tab, c)
	login(t, tab, "root", hosttest.RootPassword)
	run(t, tab, "admin tab", chromedp.WaitVisible("#nav-admin"))
	click(t, tab, "#nav-admin")
	waitText(t, tab, "#admin-table", "root")
	waitText(t, tab, "#admin-table", `<i>mal`)
	noPwned(t, tab, "users page")
	// The page answered the viewer's "next page" question: all 57 rows.
	waitJS(t, tab, "every user", `document.querySelectorAll("#admin-table tbody tr").length === 57`)
	// Page 2 is parsed with its own column positions: exact cells.
	waitJS(t, tab, "user054's row", `[...document.querySelectorAll("#admin-table tbody tr")].some(r => r.cells[1].textContent === "user054" && r.cells[2].textContent === "2" && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(r.cells[0].textContent))`)
	screenshot(t, tab, "admin")

	// Adding a user: the page answers add_acct's hidden password prompt.
	run(t, tab, "new user", chromedp.SendKeys(`form[data-cmd="add_acct"] input[name="-name"]`, "newbie"))
	run(t, tab, "new e-mail", chromedp.SendKeys(`form[data-cmd="add_acct"] input[name="-email"]`, "newbie@example.com\r"))
	run(t, tab, "password prompt", chromedp.WaitVisible(`#admin-answer[type="password"]`))
	run(t, tab, "password", chromedp.SendKeys("#admin-answer", "Newbie-Pass-1\r"))
	waitJS(t, tab, "newbie listed", `[...document.querySelectorAll("#admin-table td")].some(td => td.textContent === "newbie")`)
	if strings.Contains(textOf(t, tab, "#admin-view"), "Newbie-Pass-1") {
		t.Fatal("the hidden answer is shown")
	}
	h.Login(t, "newbie", "Newbie-Pass-1")

	// Every page shows its viewer (a table or "no rows").
	for _, p := range []string{"ranks", "certs", "mods"} {
		click(t, tab, "#admin-tab-"+p)
		waitJS(t, tab, p+" page", `document.querySelector("#admin-view").dataset.page === `+js(p)+
			` && !!document.querySelector("#admin-table thead th, #admin-table caption")`)
	}

	// Bans.
	click(t, tab, "#admin-tab-bans")
	run(t, tab, "ban form", chromedp.WaitVisible(`form[data-cmd="add_ban"] input[name="-ip"]`))
	run(t, tab, "ban address", chromedp.SendKeys(`form[data-cmd="add_ban"] input[name="-ip"]`, ip.String()+"/32\r"))
	waitText(t, tab, "#admin-table", ip.String())
	if cl, err := dialOutside(); err == nil {
		t.Fatalf("a TCP client from the banned %s got session %v", ip, cl.SessionID())
	}
	clickLive(t, tab, `#admin-table button[data-cmd="rm_ban"]`)
	waitJS(t, tab, "the ban lifted", fmt.Sprintf(`!document.querySelector("#admin-table").textContent.includes(%s)`, js(ip.String())))
	if _, err := dialOutside(); err != nil {
		t.Fatalf("after lifting the ban: %v", err)
	}

	// Settings: an invalid value is refused, a valid one applies.
	click(t, tab, "#admin-tab-settings")
	waitText(t, tab, "#settings-table", "Max Sessions")
	run(t, tab, "option", chromedp.SetValue("#settings-option", "3"))
	run(t, tab, "bad value", chromedp.SendKeys("#settings-value", "many\r"))
	waitText(t, tab, "#settings-error", "invalid 32-bit unsigned integer")
	run(t, tab, "clear value", chromedp.Evaluate[bool](`(document.querySelector("#settings-value").value = "") === ""`))
	run(t, tab, "value", chromedp.SendKeys("#settings-value", "77\r"))
	waitJS(t, tab, "Max Sessions 77", `[...document.querySelectorAll("#settings-table tr")].some(r => r.cells[0]?.textContent === "Max Sessions" && r.cells[1]?.textContent.trim() === "77")`)
	if got := loadLine(t, h); !strings.HasSuffix(got, "/77") {
		t.Fatalf("host_info over TCP says %q, want the limit 77 set in the browser", got)
	}

	// Logs: the activity log names the changes with who made them.
	click(t, tab, "#admin-tab-logs")
	waitText(t, tab, "#admin-table", "ban added: "+ip.String()+" (by root)")

	// The console pages a table viewer with buttons.
	click(t, tab, "#nav-chat")
	run(t, tab, "console", chromedp.SendKeys("#console-in", "ls_users\r"))
	run(t, tab, "pager", chromedp.WaitVisible("#console-next"))
	if out := textOf(t, tab, "#console-out"); strings.Contains(out, "user054") {
		t.Fatal("the second page was shown before it was asked for")
	}
	click(t, tab, "#console-next")
	waitText(t, tab, "#console-out", "user054")
	waitJS(t, tab, "ls_users to finish", `document.body.dataset.console === "command" && document.querySelector("#console-pager").hidden`)

	// On a phone the admin and files pages do not scroll sideways either.
	run(t, tab, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	click(t, tab, "#nav-admin")
	click(t, tab, "#admin-tab-users")
	waitJS(t, tab, "users on the phone", `document.querySelectorAll("#admin-table tbody tr").length === 58`)
	noHorizontalScroll(t, tab, "users page on a phone")
	click(t, tab, "#admin-tab-settings")
	waitText(t, tab, "#settings-table", "Max Sessions")
	noHorizontalScroll(t, tab, "settings page on a phone")
	click(t, tab, "#nav-files")
	waitText(t, tab, "#files-cwd", "/")
	noHorizontalScroll(t, tab, "files page on a phone")
}

// clickJS clicks the button found by a JavaScript expression (for rows
// found by their text, which CSS cannot select).
func clickJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	waitJS(t, tab, what, expr)
	run(t, tab, "click "+what, chromedp.Evaluate[bool](`(() => { const b = `+expr+`; b.click(); return true })()`))
}

// clickLive clicks an element of a list the page redraws when the host
// sends events (the sidebar): finding and clicking happen in one step in
// the page, so a redraw in between cannot detach the node.
func clickLive(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	clickJS(t, tab, sel, `document.querySelector(`+js(sel)+`)`)
}

// chatRanks are the commands the rank-2 accounts of the chat tests need (a
// fresh host ranks them for root only).
var chatRanks = []string{"ls_chs", "ls_sub_chs", "ls_open_chs", "open_sub_ch", "close_sub_ch", "cast", "ping_peers",
	"accept_ch", "decline_ch", "p2p_request", "p2p_open", "p2p_close", "to_peer", "ls_p2p", "set_disp_name"}

// The sidebar follows the channel events: an invitation arrives live and
// is accepted (another is declined), sub-channels added and renamed by the
// owner appear and change without a reload, the active-update flag shows;
// a seventh sub-channel is refused by the page with a clear message;
// PEER_STAT/PEER_INFO give join, name and rename lines; a private (P2P)
// conversation is requested, accepted and carries lines both ways; a
// channel name holding markup is text.
func TestBrowserChannels(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	tabA := browser(t)
	tabB := newTab(t, tabA)
	h.RankAll(t, 2, chatRanks...)
	h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	h.CreateUser(t, "bobby", "Bobby-Pass-1", 2)
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	root := h.Root(t)
	const team = `<b>team`
	ok(t, root, "add_ch", "-ch_name "+client.QuoteArg(team))
	ok(t, root, "add_ch", "-ch_name spam")
	ok(t, root, "add_sub_ch", "-ch_name "+client.QuoteArg(team)+" -sub_name general")
	ok(t, root, "set_active_flag", "-ch_name "+client.QuoteArg(team)+" -sub_name general -state 1")
	for i := 1; i <= 6; i++ {
		ok(t, root, "add_sub_ch", fmt.Sprintf("-ch_name %s -sub_name extra%d", client.QuoteArg(team), i))
	}

	openConsole(t, tabA, c)
	login(t, tabA, "alice", "Alice-Pass-1")
	openConsole(t, tabB, c)
	login(t, tabB, "bobby", "Bobby-Pass-1")
	waitText(t, tabA, "#chans-note", "no channels yet")

	// Invitations arrive live; alice accepts one and declines the other.
	ok(t, root, "invite_to_ch", "-ch_name "+client.QuoteArg(team)+" -user alice")
	ok(t, root, "invite_to_ch", "-ch_name spam -user alice")
	ok(t, root, "invite_to_ch", "-ch_name "+client.QuoteArg(team)+" -user bobby")
	run(t, tabA, "invitation", chromedp.WaitVisible(`#invites li[data-ch="spam"] button.decline`))
	clickLive(t, tabA, `#invites li[data-ch="spam"] button.decline`)
	run(t, tabA, "invitation", chromedp.WaitVisible(`#invites li[data-ch="<b>team"] button.accept`))
	clickLive(t, tabA, `#invites li[data-ch="<b>team"] button.accept`)
	run(t, tabA, "channel listed", chromedp.WaitVisible(`#chans li.sub[data-ch="<b>team"][data-sub="general"]`))
	waitJS(t, tabA, "spam gone", `!document.querySelector('#invites li[data-ch="spam"]') && !document.querySelector('#chans li[data-ch="spam"]')`)
	if got := textOf(t, tabA, `#chans li.sub[data-sub="general"] .badge`); got != "live" {
		t.Fatalf("the active-update sub-channel is marked %q, want live", got)
	}
	noPwned(t, tabA, "channel list")
	run(t, tabB, "invitation", chromedp.WaitVisible(`#invites li[data-ch="<b>team"] button.accept`))
	clickLive(t, tabB, `#invites li[data-ch="<b>team"] button.accept`)

	// The owner adds and renames a sub-channel: the sidebar follows.
	ok(t, root, "add_sub_ch", "-ch_name "+client.QuoteArg(team)+" -sub_name news")
	run(t, tabA, "new sub-channel", chromedp.WaitVisible(`#chans li.sub[data-sub="news"]`))
	ok(t, root, "rename_sub_ch", "-ch_name "+client.QuoteArg(team)+" -sub_name news -new_name headlines")
	run(t, tabA, "renamed sub-channel", chromedp.WaitVisible(`#chans li.sub[data-sub="headlines"]`))
	waitJS(t, tabA, "old name gone", `!document.querySelector('#chans li.sub[data-sub="news"]')`)

	// Both open general from the sidebar and see each other arrive.
	clickLive(t, tabA, `#chans li.sub[data-sub="general"] button.open`)
	waitText(t, tabA, "#chat-log", "you opened <b>team / general")
	clickLive(t, tabB, `#chans li.sub[data-sub="general"] button.open`)
	waitText(t, tabA, "#chat-log", " is bobby")
	waitText(t, tabB, "#chat-log", "alice is here")

	// A TCP client joins, names itself, and renames: join, name, rename lines.
	carol := h.Login(t, "carol", "Carol-Pass-1")
	if _, err := root.Run(hosttest.Ctx(t, 30*time.Second), "invite_to_ch", "-ch_name "+client.QuoteArg(team)+" -user carol"); err != nil {
		t.Fatal(err)
	}
	ok(t, carol, "accept_ch", "-ch_name "+client.QuoteArg(team))
	ok(t, carol, "open_sub_ch", "-ch_name "+client.QuoteArg(team)+" -sub_name general")
	sid := carol.SessionID().String()[:8]
	waitText(t, tabA, "#chat-log", "session "+sid+" joined")
	ok(t, carol, "ping_peers", "")
	waitText(t, tabA, "#chat-log", "session "+sid+" is carol")
	ok(t, carol, "set_disp_name", "-new_name Caroline")
	waitText(t, tabA, "#chat-log", "carol is now Caroline (carol)")
	_ = carol.Close()
	waitText(t, tabA, "#chat-log", "Caroline (carol) left")

	// Private conversation: alice asks, bobby accepts, lines go both ways.
	clickJS(t, tabA, "bobby's private button", `[...document.querySelectorAll("#people li")].find(l => l.textContent.includes("bobby"))?.querySelector("button.private")`)
	clickJS(t, tabB, "the request's accept button", `[...document.querySelectorAll("#p2p-requests li")].find(l => l.textContent.includes("alice"))?.querySelector("button.accept")`)
	waitText(t, tabA, "#chat-log", "accepted: private conversation open")
	sendPrivate := func(tab context.Context, to, text string) {
		t.Helper()
		waitJS(t, tab, "private recipient", `[...document.querySelector("#chat-to").options].some(o => o.textContent.includes(`+js(to)+`))`)
		run(t, tab, "choose recipient", chromedp.Evaluate[bool](`(() => { const s = document.querySelector("#chat-to");
			s.value = [...s.options].find(o => o.textContent.includes(`+js(to)+`)).value; s.dispatchEvent(new Event("change")); return true })()`))
		run(t, tab, "type", chromedp.SendKeys("#chat-in", text+"\r"))
	}
	sendPrivate(tabA, "bobby", "psst bobby")
	waitJS(t, tabB, "the private line", `[...document.querySelectorAll("#chat-log li.private")].some(l => l.textContent.includes("alice (private)psst bobby"))`)
	sendPrivate(tabB, "alice", "hi alice, privately")
	waitJS(t, tabA, "the private answer", `[...document.querySelectorAll("#chat-log li.private")].some(l => l.textContent.includes("bobby (private)hi alice, privately"))`)
	screenshot(t, tabA, "chat-private")

	// Six sub-channels at most: the seventh is refused by the page.
	for i := 1; i <= 5; i++ {
		sel := fmt.Sprintf(`#chans li.sub[data-sub="extra%d"] button.open`, i)
		run(t, tabA, "open", chromedp.WaitVisible(sel))
		clickLive(t, tabA, sel)
		waitText(t, tabA, "#chat-log", fmt.Sprintf("you opened <b>team / extra%d", i))
	}
	clickLive(t, tabA, `#chans li.sub[data-sub="extra6"] button.open`)
	waitText(t, tabA, "#open-error", "At most 6 sub-channels can be open at once")
	if n := run(t, tabA, "count", chromedp.Evaluate[int](`document.querySelectorAll("#subchs li").length`)); n != 6 {
		t.Fatalf("%d sub-channels listed as open, want 6", n)
	}

	// Keyboard: Alt+2 selects the second open sub-channel, Alt+W closes it.
	run(t, tabA, "focus", chromedp.Focus("#chat-in"))
	run(t, tabA, "Alt+2", chromedp.KeyEvent("2", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	waitText(t, tabA, "#chat-current", "<b>team / extra1")
	run(t, tabA, "Alt+W", chromedp.KeyEvent("w", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	waitText(t, tabA, "#chat-log", "you closed <b>team / extra1")
	noPwned(t, tabA, "chat")
}

// noHorizontalScroll fails when the page is wider than the viewport.
func noHorizontalScroll(t *testing.T, tab context.Context, where string) {
	t.Helper()
	got := run(t, tab, "widths", chromedp.Evaluate[string](
		`document.documentElement.scrollWidth + " " + document.body.scrollWidth + " " + window.innerWidth`))
	var doc, body, win int
	if _, err := fmt.Sscan(got, &doc, &body, &win); err != nil {
		t.Fatal(err)
	}
	if doc > win || body > win {
		t.Fatalf("%s: the page is %d (body %d) px wide in a %d px viewport: it scrolls sideways", where, doc, body, win)
	}
}

// On a 390x844 phone: no sideways scrolling, the sidebar starts collapsed
// and opens with the menu button. The host cuts the WebSocket (the
// session's connection closed server side): the page reconnects, asks
// before logging in again (the password was kept in the tab's memory at
// the user's request, never in storage or the URL), and re-opens both
// sub-channels, which a TCP client's cast proves. The host closing is
// shown.
func TestBrowserReconnectPhone(t *testing.T) {
	h := hosttest.Start(t)
	c, g := startGatedConsole(t, h)
	tab := browser(t)
	h.RankAll(t, 2, chatRanks...)
	h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	h.CreateUser(t, "carol", "Carol-Pass-1", 2)
	h.CreateUser(t, "bobby", "Bobby-Pass-1", 2)
	root := h.Root(t)
	ok(t, root, "add_ch", "-ch_name webchat")
	for _, sub := range []string{"lobby", "annex"} {
		ok(t, root, "add_sub_ch", "-ch_name webchat -sub_name "+sub)
		ok(t, root, "set_sub_ch_level", "-ch_name webchat -sub_name "+sub+" -level 5")
	}

	run(t, tab, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)))
	openConsole(t, tab, c)
	noHorizontalScroll(t, tab, "login")
	click(t, tab, "#login-keep")
	login(t, tab, "alice", "Alice-Pass-1")
	if hidden := run(t, tab, "sidebar", chromedp.Evaluate[bool](`document.querySelector("#sidebar").hidden`)); !hidden {
		t.Fatal("the sidebar is open at first on a phone")
	}
	noHorizontalScroll(t, tab, "chat")
	click(t, tab, "#menu")
	run(t, tab, "sidebar shown", chromedp.WaitVisible("#open-ch"))
	openSub(t, tab, "webchat", "lobby")
	run(t, tab, "clear", chromedp.Evaluate[bool](`(document.querySelector("#open-ch").value = document.querySelector("#open-sub").value = "") === ""`))
	openSub(t, tab, "webchat", "annex")
	say(t, tab, "a long line from a small screen that has to wrap instead of widening the page: "+strings.Repeat("x", 120))
	noHorizontalScroll(t, tab, "chat with the sidebar")
	screenshot(t, tab, "phone")
	click(t, tab, "#menu")
	run(t, tab, "sidebar hidden", chromedp.WaitNotVisible("#open-ch"))

	stored := run(t, tab, "storage", chromedp.Evaluate[string](
		`localStorage.length + " " + sessionStorage.length + " " + location.href.includes("Alice-Pass") + " " + document.cookie.length`))
	if stored != "0 0 false 0" {
		t.Fatalf("storage, URL, cookies: %s; want nothing stored", stored)
	}

	// A network blip: the host side closes the session's connection.
	if err := g.last(t).Close(); err != nil {
		t.Fatal(err)
	}
	run(t, tab, "reconnect question", chromedp.WaitVisible("#reconnect-yes"))
	waitText(t, tab, "#reconnect-text", "Log in again as alice and re-open 2 sub-channels (webchat / lobby, webchat / annex)?")
	if hidden := run(t, tab, "password field", chromedp.Evaluate[bool](`document.querySelector("#reconnect-pass-label").hidden`)); !hidden {
		t.Fatal("the page asks for the password it was told to keep")
	}
	click(t, tab, "#reconnect-yes")
	waitJS(t, tab, "both sub-channels re-opened", `document.querySelectorAll("#subchs li").length === 2`)
	waitText(t, tab, "#subchs", "webchat / annex")
	carol := h.Login(t, "carol", "Carol-Pass-1")
	ok(t, carol, "open_sub_ch", "-ch_name webchat -sub_name annex")
	ok(t, carol, "cast", "after the blip")
	waitText(t, tab, "#chat-log", "after the blip")

	// Without "keep", the page asks for the password again.
	tab2 := newTab(t, tab)
	openConsole(t, tab2, c)
	login(t, tab2, "bobby", "Bobby-Pass-1")
	openSub(t, tab2, "webchat", "lobby")
	if err := g.last(t).Close(); err != nil {
		t.Fatal(err)
	}
	run(t, tab2, "password asked", chromedp.WaitVisible("#reconnect-pass"))
	run(t, tab2, "password", chromedp.SendKeys("#reconnect-pass", "Bobby-Pass-1\r"))
	waitText(t, tab2, "#subchs", "webchat / lobby")
	ok(t, carol, "open_sub_ch", "-ch_name webchat -sub_name lobby")
	ok(t, carol, "cast", "to the lobby")
	waitText(t, tab2, "#chat-log", "to the lobby")
	if v := run(t, tab2, "field", chromedp.Evaluate[string](`document.querySelector("#reconnect-pass").value`)); v != "" {
		t.Fatal("the reconnect password field keeps the password")
	}

	// The host closing is shown.
	h.Stop()
	waitText(t, tab, "#banner", "The host is closing: The host is shutting down")
	waitText(t, tab, "#status", "disconnected: ")
}

// Account recovery from the login page: the temporary password mailed by
// request_pw_reset (read from a real SMTP server) is typed into recover_acct's
// hidden prompt with a new password, and the new password logs in.
func TestBrowserRecover(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true})
	h := hosttest.StartWith(t, hosttest.Options{
		Setup: func(st store.Store) {
			es := store.DefaultEmailSettings()
			es.SMTPHost, es.SMTPPort, es.SMTPFrom = srv.Host, uint16(srv.Port), "host@example.com"
			if err := st.SaveEmailSettings(context.Background(), es); err != nil {
				t.Fatal(err)
			}
		},
		Email: host.EmailConfig{RootCAs: srv.CA},
	})
	h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	c := startConsole(t, h, nil)
	tab := browser(t)
	openConsole(t, tab, c)
	run(t, tab, "recovery link", chromedp.WaitVisible("#recover summary"))
	click(t, tab, "#recover summary")
	run(t, tab, "who", chromedp.SendKeys("#recover-who", "bob"))
	click(t, tab, "#recover-request")
	waitText(t, tab, "#login-log", "a temporary password was sent")
	m := srv.Next(t)
	_, rest, _ := strings.Cut(m.Body, "as follows:\n\n")
	temp, _, _ := strings.Cut(rest, "\n")
	if temp == "" {
		t.Fatalf("no temporary password in the mail %q", m.Body)
	}
	click(t, tab, "#recover-have")
	for _, answer := range []string{temp, "New-Bob-Pass-2"} {
		run(t, tab, "recovery prompt", chromedp.WaitVisible(`#login-answer[type="password"]`))
		run(t, tab, "answer", chromedp.SendKeys("#login-answer", answer+"\r"))
	}
	waitText(t, tab, "#login-log", "Your password was changed")
	if strings.Contains(textOf(t, tab, "#login-view"), temp) {
		t.Fatal("the temporary password is shown on the page")
	}
	login(t, tab, "bob", "New-Bob-Pass-2")
	waitText(t, tab, "#me", "bob")
}
