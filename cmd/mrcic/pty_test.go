package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
)

// ptyTerm is mrcic running on a pseudo-terminal: the test types into it and
// reads the screen output (ANSI sequences and carriage returns removed).
type ptyTerm struct {
	t    *testing.T
	name string
	pty  *os.File
	cmd  *exec.Cmd

	mu      sync.Mutex
	out     bytes.Buffer // cleaned output
	all     bytes.Buffer // everything, escape sequences included
	raw     []byte       // an incomplete escape sequence
	mark    int          // expect searches from here
	changed chan struct{}
	exited  chan struct{}
	err     error
}

// safety is the deadline of every wait: a safety net, never a timing
// assertion.
const safety = 30 * time.Second

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z~]|\x1b[()][A-Z0-9]|\r`)

// startTerm runs mrcic (this test binary, see TestMain) with args on a new
// pseudo-terminal of 200×50.
func startTerm(t *testing.T, name string, env []string, args ...string) *ptyTerm {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "MRCIC_TEST_MAIN=1", "TERM=xterm"), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatalf("start mrcic on a pty: %v", err)
	}
	tm := &ptyTerm{t: t, name: name, pty: f, cmd: cmd, changed: make(chan struct{}, 1), exited: make(chan struct{})}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.all.Write(buf[:n])
			tm.raw = append(tm.raw, buf[:n]...)
			clean := tm.raw
			// keep a trailing partial escape sequence for the next read
			if i := bytes.LastIndexByte(clean, 0x1b); i >= 0 && i > len(clean)-16 && !ansiRE.Match(clean[i:]) {
				clean, tm.raw = clean[:i], append([]byte(nil), clean[i:]...)
			} else {
				tm.raw = nil
			}
			tm.out.Write(ansiRE.ReplaceAll(clean, nil))
			tm.mu.Unlock()
			select {
			case tm.changed <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		tm.err = cmd.Wait()
		close(tm.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("MRCIC_TEST_QUIT") != "" {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-tm.exited:
			case <-time.After(5 * time.Second):
			}
		}
		_ = cmd.Process.Kill()
		<-tm.exited
		_ = f.Close()
		<-readerDone
		if t.Failed() {
			t.Logf("%s screen:\n%s", name, tm.screen())
		}
	})
	return tm
}

func (tm *ptyTerm) screen() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// typeText types s (use "\r" for Enter).
func (tm *ptyTerm) typeText(s string) {
	tm.t.Helper()
	if _, err := tm.pty.Write([]byte(s)); err != nil {
		tm.t.Fatalf("%s: typing: %v", tm.name, err)
	}
}

// expect waits until the output after the mark contains want and moves
// the mark past it.
func (tm *ptyTerm) expect(want string) {
	tm.t.Helper()
	deadline := time.NewTimer(safety)
	defer deadline.Stop()
	for {
		tm.mu.Lock()
		s := tm.out.String()
		i := strings.Index(s[tm.mark:], want)
		if i >= 0 {
			tm.mark += i + len(want)
		}
		tm.mu.Unlock()
		if i >= 0 {
			return
		}
		select {
		case <-tm.changed:
		case <-tm.exited:
			// drain what the process printed last
			select {
			case <-tm.changed:
				continue
			case <-time.After(100 * time.Millisecond): // output after exit is read by now
			}
			if !strings.Contains(tm.screen()[tm.mark:], want) {
				tm.t.Fatalf("%s exited (%v) without printing %q", tm.name, tm.err, want)
			}
		case <-deadline.C:
			tm.t.Fatalf("%s: %q did not appear", tm.name, want)
		}
	}
}

// wait waits for mrcic to exit and returns its exit code.
func (tm *ptyTerm) wait() int {
	tm.t.Helper()
	select {
	case <-tm.exited:
	case <-time.After(safety):
		tm.t.Fatalf("%s did not exit", tm.name)
	}
	var ee *exec.ExitError
	if errors.As(tm.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// chatHost is a host with the default rank policy and two fresh accounts.
func chatHost(t *testing.T) (*hosttest.Host, map[string]string) {
	t.Helper()
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		if err := host.InstallDefaultRanks(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}})
	pw := map[string]string{"root": writeFile(t, "root.pw", hosttest.RootPassword+"\n")}
	for _, u := range []string{"alice", "bob"} {
		h.CreateUser(t, u, "Pass-of-"+u+"-1", store.DefaultInitialHostRank)
		pw[u] = writeFile(t, u+".pw", "Pass-of-"+u+"-1\n")
	}
	return h, pw
}

func loginTerm(t *testing.T, h *hosttest.Host, pw map[string]string, user string, extra ...string) *ptyTerm {
	t.Helper()
	args := append([]string{"--addr", h.Addr, "--user", user, "--password-file", pw[user],
		"--history", "", "--known-hosts", ""}, extra...)
	tm := startTerm(t, user, nil, args...)
	tm.expect(user + "@" + h.Addr + "> ")
	return tm
}

// TestTerminalChat: two users on pseudo-terminals create a channel,
// invite, accept, join a sub-channel and chat; each sees the other's lines
// and the channel events.
func TestTerminalChat(t *testing.T) {
	h, pw := chatHost(t)
	alice := loginTerm(t, h, pw, "alice")
	bob := loginTerm(t, h, pw, "bob")

	alice.typeText("add_ch -ch_name team\r")
	alice.expect("* channel #team created, owner alice")
	alice.typeText("add_sub_ch -ch_name team -sub_name general\r")
	alice.expect("* sub-channel #team/general created")
	alice.typeText("invite_to_ch -ch_name team -user bob\r")
	alice.expect("* bob was invited to #team")
	bob.expect("* bob was invited to #team")
	bob.typeText("accept_ch -ch_name team\r")
	alice.expect("* bob joined #team")

	alice.typeText("/join team general\r")
	alice.expect("* joined #team/general")
	alice.expect("alice@" + h.Addr + " [#team/general]> ")
	bob.typeText("/join team general\r")
	bob.expect("* joined #team/general")

	alice.typeText("hello bob, how are you?\r")
	bob.expect("<cast> hello bob, how are you?")
	bob.typeText("fine, alice\r")
	alice.expect("<cast> fine, alice")

	// /cmd runs a command in chat mode.
	bob.typeText("/cmd ls_open_chs\r")
	bob.expect("sub_channel_name")
	bob.typeText("/part\r")
	bob.expect("bob@" + h.Addr + "> ")
	bob.typeText("/quit\r")
	if code := bob.wait(); code != 0 {
		t.Fatalf("bob exit %d", code)
	}
}

// TestTerminalHelpAndCompletion: help lists the session's commands, help
// CMD shows the NEW_CMD details, Tab completes names and switches.
func TestTerminalHelpAndCompletion(t *testing.T) {
	h, pw := chatHost(t)
	// A channel that exists before mrcic starts: its names come from
	// ls_chs and ls_sub_chs.
	c := h.Login(t, "alice", "Pass-of-alice-1")
	ctx := hosttest.Ctx(t, safety)
	for _, cmd := range [][2]string{{"add_ch", "-ch_name harbour"}, {"add_sub_ch", "-ch_name harbour -sub_name dock"}} {
		if res, err := c.Run(ctx, cmd[0], cmd[1]); err != nil || res.Err() != nil {
			t.Fatalf("%s: %v %v", cmd[0], err, res.Err())
		}
	}
	alice := loginTerm(t, h, pw, "alice")
	alice.typeText("ls_sub_chs -ch_name har\t")
	alice.expect("ls_sub_chs -ch_name harbour ")
	alice.typeText("\r")
	alice.expect("dock")
	alice.typeText("/join harbour d\t")
	alice.expect("/join harbour dock ")
	alice.typeText("\r")
	alice.expect("* joined #harbour/dock")
	alice.typeText("/part\r")
	alice.expect("alice@" + h.Addr + "> ")
	alice.typeText("help\r")
	alice.expect("commands of this session (help CMD for details):")
	alice.expect("open_sub_ch")
	alice.expect("/join CHANNEL SUB-CHANNEL")
	alice.typeText("help open_sub_ch\r")
	alice.expect("usage:   open_sub_ch [-ch_name (text) -sub_name (text)]/[text]")
	alice.expect("options: -ch_name -sub_name")
	alice.typeText("help add_acct\r")
	alice.expect("add_acct: not available to this account (your rank is 2")

	alice.typeText("add_c\t")
	alice.expect("add_ch ")
	alice.typeText("-c\t")
	alice.expect("add_ch -ch_name ")
	alice.typeText("lounge\r")
	alice.expect("* channel #lounge created, owner alice")
	alice.typeText("add_sub_ch -ch_name lou\t")
	alice.expect("add_sub_ch -ch_name lounge ")
	alice.typeText("-s\t")
	alice.expect("-sub_name ")
	alice.typeText("main\r")
	alice.expect("* sub-channel #lounge/main created")
	alice.typeText("/join lounge m\t")
	alice.expect("/join lounge main ")
	alice.typeText("\r")
	alice.expect("* joined #lounge/main")
}

// TestTerminalPaste: a 300 KB line pasted (bracketed paste) in chat mode
// goes through as one cast.
func TestTerminalPaste(t *testing.T) {
	h, pw := chatHost(t)
	alice := loginTerm(t, h, pw, "alice")
	bob := loginTerm(t, h, pw, "bob")
	alice.typeText("add_ch -ch_name team\r")
	alice.expect("* channel #team created")
	alice.typeText("add_sub_ch -ch_name team -sub_name general\r")
	alice.expect("* sub-channel #team/general created")
	alice.typeText("invite_to_ch -ch_name team -user bob\r")
	bob.expect("* bob was invited to #team")
	bob.typeText("accept_ch -ch_name team\r")
	alice.expect("* bob joined #team")
	alice.typeText("/join team general\r")
	alice.expect("* joined #team/general")
	bob.typeText("/join team general\r")
	bob.expect("* joined #team/general")

	body := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-", 300<<10/64)
	start := time.Now()
	alice.typeText("\x1b[200~BEGIN" + body + "END\x1b[201~\r")
	bob.expect("<cast> BEGIN" + body[:1000])
	bob.expect("END")
	t.Logf("300 KB paste: typed to received by the peer in %v", time.Since(start))
}

// TestTerminalCtrlC: Ctrl-C cancels the login password prompt at once, and
// a command's hidden prompt; hidden answers never reach the history file,
// which is private.
func TestTerminalCtrlC(t *testing.T) {
	h, pw := chatHost(t)
	tm := startTerm(t, "root", nil, "--addr", h.Addr, "--user", "root", "--history", "", "--known-hosts", "")
	tm.expect("Password for root: ")
	tm.typeText("half-typed\x03")
	tm.expect("login cancelled")
	if code := tm.wait(); code != 2 {
		t.Fatalf("exit %d after Ctrl-C at the password prompt, want 2", code)
	}

	// The same in scripting mode, where no console runs.
	tm = startTerm(t, "root -c", nil, "--addr", h.Addr, "--user", "root", "--known-hosts", "", "-c", "my_info")
	tm.expect("Password for root: ")
	tm.typeText("abc\x03")
	tm.expect("login cancelled")
	if code := tm.wait(); code != 2 {
		t.Fatalf("-c: exit %d after Ctrl-C at the password prompt, want 2", code)
	}

	hist := writeFile(t, "history", "")
	if err := os.Remove(hist); err != nil {
		t.Fatal(err)
	}
	root := startTerm(t, "root", nil, "--addr", h.Addr, "--user", "root", "--password-file", pw["root"], "--history", hist, "--known-hosts", "")
	root.expect("root@" + h.Addr + "> ")
	root.typeText("set_pw\r")
	root.expect("Enter a new password (leave blank to cancel): ")
	root.typeText("Typed-Secret-1\x03")
	root.expect("^C (terminating set_pw)")
	root.expect("root@" + h.Addr + "> ")
	root.typeText("set_pw\r")
	root.expect("Enter a new password (leave blank to cancel): ")
	root.typeText("short\r")
	root.expect("err:")
	root.expect("Enter a new password (leave blank to cancel): ")
	root.typeText("\x03")
	root.expect("root@" + h.Addr + "> ")
	root.typeText("my_info\r")
	root.expect("User Name:      root")
	root.typeText("\x04")
	if code := root.wait(); code != 0 {
		t.Fatalf("exit %d after Ctrl-D", code)
	}
	st, err := os.Stat(hist)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("history file %v %v, want mode 0600", st, err)
	}
	b, _ := os.ReadFile(hist)
	if string(b) != "set_pw\nmy_info\n" {
		t.Fatalf("history %q", b)
	}
}

// TestTerminalReconnect: after the host restarts, mrcic says why the
// connection ended, reconnects, logs in again and re-opens the joined
// sub-channel.
func TestTerminalReconnect(t *testing.T) {
	h, pw := chatHost(t)
	alice := loginTerm(t, h, pw, "alice")
	alice.typeText("add_ch -ch_name team\r")
	alice.expect("* channel #team created")
	alice.typeText("add_sub_ch -ch_name team -sub_name general\r")
	alice.expect("* sub-channel #team/general created")
	alice.typeText("/join team general\r")
	alice.expect("* joined #team/general")

	h2 := h.Restart(t)
	alice.expect("* " + hostClosing)
	alice.expect("connection lost")
	alice.expect("reconnecting in")
	alice.expect("reconnected to " + h.Addr)
	alice.expect("* re-joined #team/general")
	alice.expect("alice@" + h.Addr + " [#team/general]> ")

	// The re-opened sub-channel works: a cast from another session arrives.
	c := h2.Login(t, "alice", "Pass-of-alice-1")
	ctx := hosttest.Ctx(t, safety)
	if res, err := c.Run(ctx, "open_sub_ch", "-ch_name team -sub_name general"); err != nil || res.Err() != nil {
		t.Fatalf("open_sub_ch: %v %v", err, res.Err())
	}
	call, err := c.Start(ctx, "cast")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if res, err := call.Run(ctx, 2, []byte("h\x00i\x00"), nil); err != nil || res.Err() != nil {
		t.Fatalf("cast: %v %v", err, res.Err())
	}
	alice.expect("<cast> hi")
}

// TestTerminalColours: prompts and events are coloured on a terminal, not
// with NO_COLOR.
func TestTerminalColours(t *testing.T) {
	h, pw := chatHost(t)
	for _, noColor := range []bool{false, true} {
		var env []string
		if noColor {
			env = []string{"NO_COLOR=1"}
		}
		tm := startTerm(t, "alice", env, "--addr", h.Addr, "--user", "alice", "--password-file", pw["alice"], "--history", "", "--known-hosts", "")
		tm.expect("alice@" + h.Addr + "> ")
		tm.typeText("add_acct -name x -email x@example.org\r")
		tm.expect("not available to this account")
		tm.typeText("/quit\r")
		tm.wait()
		tm.mu.Lock()
		raw := tm.all.String()
		tm.mu.Unlock()
		coloured := strings.Contains(raw, colGreen+"alice@") && strings.Contains(raw, colRed+"add_acct: not available")
		if coloured == noColor {
			t.Errorf("NO_COLOR=%v: coloured output %v: %q", noColor, coloured, raw)
		}
	}
}
