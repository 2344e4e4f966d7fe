// Package modsdktest provides module programs for tests of hosts and of
// the module protocol: a well-behaved SDK module with a set of test
// commands, and misbehaving modules (that never connect, crash, hang,
// send malformed frames or broken listings).
//
// The modules are the test binary itself: call Main first in TestMain,
//
//	func TestMain(m *testing.M) {
//		modsdktest.Main()
//		os.Exit(m.Run())
//	}
//
// and use Module to get an executable path (a small shell wrapper that
// re-executes the test binary in the wanted mode) to register with a host.
package modsdktest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/modsdk"
)

// envMode selects the module a re-executed test binary runs.
const envMode = "MRCI_MODSDKTEST_MODE"

// Modes of the test module.
const (
	// Normal is an SDK module; see Commands for what it offers.
	Normal = "normal"
	// NeverConnect starts and never connects to its pipe.
	NeverConnect = "neverconnect"
	// CrashAlways exits with status 1 at once, in every mode.
	CrashAlways = "crash"
	// Oversize connects and announces a frame of 16,777,215 bytes that
	// never comes, then waits (use a host MaxFrame below that).
	Oversize = "oversize"
	// Truncated connects, sends half a frame and exits.
	Truncated = "truncated"
	// BadList answers listings with short, invalid and duplicate NEW_CMD
	// frames plus an ERR; its only valid command is "good_cmd".
	BadList = "badlist"
	// SilentList announces "quiet_cmd", never sends IDLE and ignores
	// KILL_CMD (listing mode); run mode behaves like Normal.
	SilentList = "silentlist"
	// Hang answers listings like Normal, but in run mode connects, sends
	// one TEXT frame "hanging\n" (so a test knows it is connected), then
	// never reads and ignores KILL_CMD.
	Hang = "hang"
)

// Commands lists the commands of the Normal module: name, listings
// (p = public, e = exempt, u = user) and behaviour.
var Commands = []struct{ Name, Lists, Does string }{
	{"pub_cmd", "p", `prints "pub"`},
	{"ex_cmd", "e", `prints "ex"`},
	{"usr_cmd", "u", `prints "usr"`},
	{"echo", "peu", "prints its arguments"},
	{"ask", "peu", `prompts "name? " and prints "hello <answer>"`},
	{"loop", "peu", `prints "tick <n>" every 20 ms (-n count, default 1000), honours HALT/RESUME/TERM`},
	{"wait", "peu", "waits for input without prompting until terminated"},
	{"crash", "peu", "exits with status 3 while the call runs"},
	{"info", "peu", "prints the session data: user, rank, sid, app, sessions, logged"},
	{"emit", "peu", "emits async -id with -mode priv|pub|pubf and -text as data"},
	{"out", "peu", `writes "to stdout" / "to stderr" on the process's own stdout and stderr`},
	{"flood", "peu", "sends -n TEXT frames (default 10000)"},
	{"pid", "peu", "prints the process id"},
	{"pwd", "peu", "prints the working directory"},
}

// Main runs the test module and exits when the process was started as one;
// otherwise it returns at once.
func Main() {
	mode := os.Getenv(envMode)
	if mode == "" {
		return
	}
	os.Exit(run(mode, os.Args[1:]))
}

// Module writes an executable wrapper that starts the running test binary
// as the test module in the given mode, in a new temporary directory of t,
// and returns its path.
func Module(t testing.TB, mode string) string {
	t.Helper()
	p, err := WriteModule(t.TempDir(), mode, mode)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteModule writes the wrapper as dir/name and returns its path.
func WriteModule(dir, name, mode string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("modsdktest: %w", err)
	}
	p := filepath.Join(dir, name)
	// A race-enabled test binary sleeps 1 s at exit unless told not to,
	// which would turn every clean exit into a forced kill.
	script := fmt.Sprintf("#!/bin/sh\nGORACE=\"$GORACE atexit_sleep_ms=0\" %s=%s exec '%s' \"$@\"\n", envMode, mode, exe)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("modsdktest: %w", err)
	}
	return p, nil
}

// KeepAliveEnv, when set in the host's environment to a duration, is the
// Normal module's keep-alive interval (default: the SDK's, 30 s).
const KeepAliveEnv = "MRCI_MODSDKTEST_KEEPALIVE"

func run(mode string, args []string) int {
	o, err := modsdk.ParseOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	listing := o.Mode != modsdk.RunCommand
	switch {
	case mode == NeverConnect:
		time.Sleep(time.Hour)
		return 0
	case mode == CrashAlways:
		return 1
	case mode == Oversize:
		return raw(o.Pipe, func(c net.Conn) {
			c.Write([]byte{byte(wire.TypeText), 0xff, 0xff, 0xff, 1, 2, 3})
			time.Sleep(time.Hour)
		})
	case mode == Truncated:
		return raw(o.Pipe, func(c net.Conn) { c.Write([]byte{byte(wire.TypeText), 100, 0, 0, 1, 2, 3, 4}) })
	case mode == BadList && listing:
		return raw(o.Pipe, badList)
	case mode == SilentList && listing:
		return raw(o.Pipe, func(c net.Conn) {
			nc := wire.NewCmd{Name: "quiet_cmd", Library: "silent"}
			f, _ := wire.AppendIPCFrame(nil, wire.TypeNewCmd, nc.Marshal())
			c.Write(f)
			time.Sleep(time.Hour)
		})
	case mode == Hang && !listing:
		return raw(o.Pipe, func(c net.Conn) {
			f, _ := wire.AppendIPCFrame(nil, wire.TypeText, wire.EncodeText("hanging\n"))
			c.Write(f)
			time.Sleep(time.Hour)
		})
	}
	m := normal()
	if err := m.Run(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// raw connects to the pipe and runs f on the connection.
func raw(pipe string, f func(net.Conn)) int {
	c, err := net.Dial("unix", pipe)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	f(c)
	return 0
}

func badList(c net.Conn) {
	send := func(t wire.TypeID, p []byte) {
		f, _ := wire.AppendIPCFrame(nil, t, p)
		c.Write(f)
	}
	newCmd := func(name, summary string) []byte {
		nc := wire.NewCmd{Name: name, Library: "badlist", Summary: summary}
		return nc.Marshal()
	}
	send(wire.TypeNewCmd, newCmd("short_cmd", "")[:200]) // under 259 bytes
	send(wire.TypeNewCmd, newCmd("bad name", "space"))
	send(wire.TypeNewCmd, newCmd("", "empty"))
	send(wire.TypeNewCmd, newCmd("tab\tname", "control character"))
	send(wire.TypeNewCmd, newCmd("  Good_Cmd  ", "first"))
	send(wire.TypeNewCmd, newCmd("good_cmd", "duplicate"))
	send(wire.TypeErr, wire.EncodeText("badlist: listing warning"))
	send(wire.TypeBytes, []byte{1, 2, 3})
	r := wire.NewIPCReader(c, 0)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := r.ReadFrame(); err == nil && f.Type == wire.TypeHostVer {
		send(wire.TypeIdle, nil)
	}
}

func normal() *modsdk.Module {
	m := &modsdk.Module{Library: "modsdktest 1.0"}
	if d, err := time.ParseDuration(os.Getenv(KeepAliveEnv)); err == nil {
		m.KeepAlive = d
	}
	lists := map[string]string{}
	for _, c := range Commands {
		lists[c.Name] = c.Lists
	}
	add := func(name string, run func(ctx context.Context, c *modsdk.Call) error) {
		l := lists[name]
		m.Add(&modsdk.Command{
			Name: name, Summary: "test command " + name, IO: "[text]/[text]", Long: "modsdktest command",
			Public: strings.Contains(l, "p"), Exempt: strings.Contains(l, "e"), User: strings.Contains(l, "u"),
			Run: run,
		})
	}
	text := func(s string) func(context.Context, *modsdk.Call) error {
		return func(_ context.Context, c *modsdk.Call) error { return c.Text(s) }
	}
	add("pub_cmd", text("pub"))
	add("ex_cmd", text("ex"))
	add("usr_cmd", text("usr"))
	add("echo", func(_ context.Context, c *modsdk.Call) error { return c.Text(c.Args) })
	add("ask", func(ctx context.Context, c *modsdk.Call) error {
		name, err := c.Prompt(ctx, "name? ")
		if err != nil {
			return err
		}
		return c.Text("hello " + name + "\n")
	})
	add("loop", func(ctx context.Context, c *modsdk.Call) error {
		n := 1000
		if v, err := strconv.Atoi(c.Param("-n")); err == nil {
			n = v
		}
		for i := 1; i <= n; i++ {
			if err := c.WaitResumed(ctx); err != nil {
				return err
			}
			if err := c.Text(fmt.Sprintf("tick %d\n", i)); err != nil {
				return err
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	add("wait", func(ctx context.Context, c *modsdk.Call) error {
		for {
			if _, err := c.Recv(ctx); err != nil {
				return err
			}
		}
	})
	add("crash", func(context.Context, *modsdk.Call) error { os.Exit(3); return nil })
	add("info", func(_ context.Context, c *modsdk.Call) error {
		s, err := c.Session()
		if err != nil {
			return err
		}
		n, err := c.HostSessions()
		if err != nil {
			return err
		}
		return c.Text(fmt.Sprintf("user=%s rank=%d sid=%s app=%s sessions=%d logged=%v disp=%s\n",
			s.UserName, s.Rank, s.SessionIDHex(), s.AppName, n, s.LoggedIn, s.DisplayName))
	})
	add("emit", func(_ context.Context, c *modsdk.Call) error {
		id, err := strconv.Atoi(c.Param("-id"))
		if err != nil {
			return fmt.Errorf("bad -id")
		}
		mode := map[string]modsdk.TypeID{"priv": modsdk.TypePrivIPC, "pub": modsdk.TypePubIPC, "pubf": modsdk.TypePubIPCFeedback}[c.Param("-mode")]
		if mode == 0 {
			mode = modsdk.TypePrivIPC
		}
		data := modsdk.EncodeText(c.Param("-text"))
		if c.Flag("-uid") {
			s, _ := c.Session()
			data = s.UserID[:]
		}
		return c.Emit(mode, modsdk.AsyncID(id), data)
	})
	add("out", func(_ context.Context, c *modsdk.Call) error {
		fmt.Fprint(os.Stdout, "to stdout\n")
		fmt.Fprint(os.Stderr, "to stderr\n")
		return nil
	})
	add("flood", func(_ context.Context, c *modsdk.Call) error {
		n := 10000
		if v, err := strconv.Atoi(c.Param("-n")); err == nil {
			n = v
		}
		for i := range n {
			if err := c.Text(fmt.Sprintf("x%d\n", i)); err != nil {
				return err
			}
		}
		return nil
	})
	add("pid", func(_ context.Context, c *modsdk.Call) error { return c.Text(strconv.Itoa(os.Getpid())) })
	add("pwd", func(_ context.Context, c *modsdk.Call) error {
		d, err := os.Getwd()
		if err != nil {
			return err
		}
		return c.Text(d)
	})
	return m
}
