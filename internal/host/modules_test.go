package host_test

// Tests of external modules under a real host: real module processes
// (the test binary re-executed as pkg/modsdk/modsdktest modules), real
// sessions and pkg/client clients.

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/modsdk/modsdktest"
)

func TestMain(m *testing.M) {
	modsdktest.Main()
	goleak.VerifyTestMain(m)
}

// modHost starts a host with the given test modules registered and fast
// module timers; tweak may change the module configuration.
func modHost(t *testing.T, tweak func(*module.ExternalConfig), modes ...string) (*hosttest.Host, []string) {
	t.Helper()
	var paths []string
	for _, m := range modes {
		paths = append(paths, modsdktest.Module(t, m))
	}
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		for _, p := range paths {
			if err := st.AddModule(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
	}})
	// The connect and listing timeouts are safety nets: a module process
	// (the race-enabled test binary) can take seconds to start on a
	// loaded machine.
	cfg := module.ExternalConfig{KillGrace: 500 * time.Millisecond, ConnectTimeout: 30 * time.Second,
		ListQuiet: time.Second, ListTimeout: 30 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	h.ConfigureModules(cfg)
	t.Cleanup(func() {
		h.Stop()
		for _, p := range paths {
			if e := h.ExternalModule(p); e != nil {
				waitUntil(t, 10*time.Second, "module processes ended", func() bool { return e.Running() == 0 })
			}
		}
		waitUntil(t, 10*time.Second, "module directory removed", func() bool { return h.ModuleRuntime().Dir() == "" })
	})
	return h, paths
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func modCtx(t *testing.T) context.Context { return hosttest.Ctx(t, 20*time.Second) }

// waitCmds waits until the client has all of want and none of absent.
func waitCmds(t *testing.T, c *client.Client, want, absent []string) {
	t.Helper()
	waitUntil(t, time.Minute, "command set "+strings.Join(want, ",")+" without "+strings.Join(absent, ","), func() bool {
		have := c.Commands()
		for _, n := range want {
			if _, ok := have[n]; !ok {
				return false
			}
		}
		for _, n := range absent {
			if _, ok := have[n]; ok {
				return false
			}
		}
		return true
	})
}

func runText(t *testing.T, c *client.Client, cmd, args string) string {
	t.Helper()
	res, err := c.Run(modCtx(t), cmd, args)
	if err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	return res.Text()
}

func TestModuleCommandsPerRank(t *testing.T) {
	h, paths := modHost(t, nil, modsdktest.Normal)
	mod := paths[0]

	anon := h.Dial(t)
	waitCmds(t, anon, []string{"pub_cmd", "echo", "auth"}, []string{"ex_cmd", "usr_cmd"})
	if got := runText(t, anon, "echo", "hi there"); got != "hi there" {
		t.Fatalf("echo = %q", got)
	}
	if nc, _ := anon.CommandInfo("echo"); nc.Library != "modsdktest 1.0" || nc.Summary != "test command echo" {
		t.Fatalf("announcement %+v", nc)
	}

	root := h.Root(t)
	waitCmds(t, root, []string{"ex_cmd", "usr_cmd", "echo", "add_mod"}, []string{"pub_cmd"})

	h.CreateUser(t, "bob", "Bob-Pass-1234", 2)
	bob := h.Login(t, "bob", "Bob-Pass-1234")
	waitCmds(t, bob, []string{"ex_cmd", "echo"}, []string{"usr_cmd", "pub_cmd", "add_mod"})
	if got := runText(t, bob, "ex_cmd", ""); got != "ex" {
		t.Fatalf("ex_cmd = %q", got)
	}

	// Rank changes while logged in: ASYNC_ADD_CMD / ASYNC_RM_CMD.
	runText(t, root, "add_ranked_cmd", "-mod "+mod+" -command USR_CMD -rank 2")
	waitCmds(t, bob, []string{"usr_cmd"}, nil)
	if got := runText(t, bob, "usr_cmd", ""); got != "usr" {
		t.Fatalf("usr_cmd = %q", got)
	}
	runText(t, root, "rm_ranked_cmd", "-mod "+mod+" -command usr_cmd")
	waitCmds(t, bob, nil, []string{"usr_cmd"})
	runText(t, root, "set_user_rank", "-user bob -rank 1")
	waitCmds(t, bob, []string{"usr_cmd", "add_mod"}, nil)

	// Logging out unloads the commands of the logged-in listings.
	if got := runText(t, root, "ls_ranked_cmds", ""); strings.Contains(got, "usr_cmd") {
		t.Fatalf("rank still listed:\n%s", got)
	}
}

func TestModuleBranchesAndControl(t *testing.T) {
	h, _ := modHost(t, nil, modsdktest.Normal)
	c := h.Root(t)
	waitCmds(t, c, []string{"loop"}, nil)
	ctx := modCtx(t)

	// Several branches of one command at once, each its own process.
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := runText(t, c, "loop", "-n 3"); got != "tick 1\ntick 2\ntick 3\n" {
				t.Errorf("loop = %q", got)
			}
		}()
	}
	wg.Wait()

	call, err := c.Start(ctx, "loop")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if err := call.SendText("-n 100000"); err != nil {
		t.Fatal(err)
	}
	next := func() wire.Frame {
		t.Helper()
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	next()
	// HALT / RESUME.
	if err := call.Send(wire.TypeHaltCmd, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	for { // drain ticks sent before the halt took effect
		tctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		_, err := call.Next(tctx)
		cancel()
		if err != nil {
			break
		}
	}
	if err := call.Send(wire.TypeResumeCmd, nil); err != nil {
		t.Fatal(err)
	}
	if f := next(); !strings.HasPrefix(wire.DecodeText(f.Payload), "tick") {
		t.Fatalf("after RESUME: %v", f.Type)
	}
	// TERM ends the round with IDLE.
	if err := call.Terminate(); err != nil {
		t.Fatal(err)
	}
	for f := next(); f.Type != wire.TypeIdle; f = next() {
	}
	// The same process answers the next round.
	res, err := call.Run(ctx, wire.TypeText, wire.EncodeText("-n 1"), nil)
	if err != nil || res.Text() != "tick 1\n" {
		t.Fatalf("after TERM: %q %v", res.Text(), err)
	}
	// KILL: IDLE, and the process is gone.
	if err := call.SendText("-n 100000"); err != nil {
		t.Fatal(err)
	}
	next()
	start := time.Now()
	if err := call.Send(wire.TypeKillCmd, nil); err != nil {
		t.Fatal(err)
	}
	for f := next(); f.Type != wire.TypeIdle; f = next() {
	}
	// A safety net only: a module that honours KILL_CMD ends at once.
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("KILL took %v", d)
	}
}

func TestModuleHangKilledAfterGrace(t *testing.T) {
	h, paths := modHost(t, nil, modsdktest.Hang)
	c := h.Root(t)
	waitCmds(t, c, []string{"echo"}, nil)
	ctx := modCtx(t)
	call, err := c.Start(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if err := call.SendText("x"); err != nil {
		t.Fatal(err)
	}
	// The process says when it is connected; from then on it reads nothing.
	if f, err := call.Next(ctx); err != nil || f.Type != wire.TypeText || wire.DecodeText(f.Payload) != "hanging\n" {
		t.Fatalf("first frame %v %q (%v), want the module's \"hanging\"", f.Type, f.Payload, err)
	}
	start := time.Now()
	if err := call.Send(wire.TypeKillCmd, nil); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == wire.TypeErr {
			errs = append(errs, wire.DecodeText(f.Payload))
		}
		if f.Type == wire.TypeIdle {
			break
		}
	}
	// Killed once the grace has passed, never before.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("ended after %v, before the 500 ms grace", d)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "stopped unexpectedly") {
		t.Fatalf("errors %q", errs)
	}
	// The session is unharmed.
	if got := runText(t, c, "my_info", ""); !strings.Contains(got, "root") {
		t.Fatalf("my_info = %q", got)
	}
	waitUntil(t, time.Minute, "hung process killed", func() bool { return h.ExternalModule(paths[0]).Running() == 0 })
}

// asyncFrames collects the async frames of a client in the background.
type asyncFrames struct {
	mu sync.Mutex
	fs []wire.Frame
}

func collectAsync(c *client.Client) *asyncFrames {
	a := &asyncFrames{}
	go func() {
		for f := range c.Async() {
			a.mu.Lock()
			a.fs = append(a.fs, f)
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *asyncFrames) has(match func(wire.Frame) bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.fs, match)
}

func rmCmdFrame(id uint16) func(wire.Frame) bool {
	return func(f wire.Frame) bool {
		return f.Cmd == uint16(wire.AsyncRmCmd) && f.Type == wire.TypeCmdID && len(f.Payload) == 2 &&
			binary.LittleEndian.Uint16(f.Payload) == id
	}
}

func TestModuleRemovedWhileRunning(t *testing.T) {
	h, paths := modHost(t, nil, modsdktest.Normal)
	mod := paths[0]
	user := h.Root(t)
	admin := h.Root(t)
	waitCmds(t, user, []string{"wait", "echo"}, nil)
	asyncs := collectAsync(user)
	ctx := modCtx(t)
	waitID, _ := user.CommandID("wait")
	echoID, _ := user.CommandID("echo")
	call, err := user.Start(ctx, "wait")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if err := call.SendText(""); err != nil {
		t.Fatal(err)
	}
	ext := h.ExternalModule(mod)
	waitUntil(t, 5*time.Second, "instance running", func() bool { return ext.Running() > 0 })

	if got := runText(t, admin, "ls_mods", ""); !strings.Contains(got, mod) {
		t.Fatalf("ls_mods:\n%s", got)
	}
	runText(t, admin, "rm_mod", "-mod_path "+mod)
	waitUntil(t, 5*time.Second, "ASYNC_RM_CMD for wait and echo", func() bool {
		return asyncs.has(rmCmdFrame(waitID)) && asyncs.has(rmCmdFrame(echoID))
	})
	// The running call is ended for the client: ERR, then IDLE.
	if f, err := call.Next(ctx); err != nil || f.Type != wire.TypeErr ||
		!strings.Contains(wire.DecodeText(f.Payload), "was removed from this session") {
		t.Fatalf("running call after removal: %v %v %q", err, f.Type, wire.DecodeText(f.Payload))
	}
	if f, err := call.Next(ctx); err != nil || f.Type != wire.TypeIdle {
		t.Fatalf("running call after removal: %v %v, want IDLE", err, f.Type)
	}
	waitUntil(t, 5*time.Second, "instance ended", func() bool { return ext.Running() == 0 })
	waitCmds(t, admin, nil, []string{"echo"})
	if got := runText(t, admin, "ls_mods", ""); strings.Contains(got, mod) {
		t.Fatalf("ls_mods after rm_mod:\n%s", got)
	}

	// add_mod brings it back everywhere.
	runText(t, admin, "add_mod", "-mod_path "+mod)
	waitCmds(t, user, []string{"wait", "echo"}, nil)
	if got := runText(t, user, "echo", "back"); got != "back" {
		t.Fatalf("echo = %q", got)
	}
}

func TestModuleCrashLimit(t *testing.T) {
	h, paths := modHost(t, func(c *module.ExternalConfig) { c.CrashLimit = 3 }, modsdktest.Normal)
	c := h.Root(t)
	waitCmds(t, c, []string{"crash", "echo"}, nil)
	asyncs := collectAsync(c)
	echoID, _ := c.CommandID("echo")
	for i := range 3 {
		res, err := c.Run(modCtx(t), "crash", "")
		if err != nil {
			t.Fatalf("crash %d: %v", i, err)
		}
		// The crash that reaches the limit may end the call either way:
		// the process's exit, or the module's removal, can come first.
		e := res.Err()
		if e == nil || !(strings.Contains(e.Error(), "stopped unexpectedly") ||
			(i == 2 && strings.Contains(e.Error(), "was removed from this session"))) {
			t.Fatalf("crash %d: error %v", i, e)
		}
	}
	waitUntil(t, 5*time.Second, "ASYNC_RM_CMD after the crash limit", func() bool { return asyncs.has(rmCmdFrame(echoID)) })
	waitCmds(t, c, []string{"my_info"}, []string{"echo", "crash"})
	if !h.ExternalModule(paths[0]).Disabled() {
		t.Fatal("module not disabled")
	}
	// The debug log is written in the background.
	waitUntil(t, 5*time.Second, "debug log entry", func() bool {
		return strings.Contains(runText(t, c, "ls_dbg", "-log_entry disabled"), "abnormal exits")
	})
	// New sessions do not list it either.
	c2 := h.Root(t)
	waitCmds(t, c2, []string{"my_info"}, []string{"echo"})
}

// TestModuleNeverConnects: a module that never connects to its pipe is
// reported to the session, and the other modules' commands still load.
//
// Only the broken module may be subject to the short connect timeout: the
// working module is listed first, with a timeout no loaded machine reaches
// (its successful listing stays cached), then the timeout is shortened only
// while the broken module is enabled and listed. So nothing depends on how fast a process
// starts (the old version of this test gave both modules 300 ms and failed
// when the working one started slowly; its failed listing then stayed
// cached for FailureTTL).
func TestModuleNeverConnects(t *testing.T) {
	h, _ := modHost(t, func(c *module.ExternalConfig) {
		c.ConnectTimeout, c.ListTimeout, c.ListQuiet = time.Minute, time.Minute, time.Minute
	}, modsdktest.Normal)
	c := h.Dial(t)
	asyncs := collectAsync(c)
	waitCmds(t, c, []string{"auth", "echo"}, nil)

	cfg := h.ModuleRuntime().Config()
	cfg.ConnectTimeout = 300 * time.Millisecond
	h.ConfigureModules(cfg)
	broken := modsdktest.Module(t, modsdktest.NeverConnect)
	if err := h.Store.AddModule(context.Background(), broken); err != nil {
		t.Fatal(err)
	}
	h.Bus().Publish(&bus.Message{ID: wire.AsyncEnableMod, Data: wire.EncodeText(broken)}, true)
	waitUntil(t, 30*time.Second, "module failure message", func() bool {
		return asyncs.has(func(f wire.Frame) bool {
			return f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeErr &&
				strings.Contains(wire.DecodeText(f.Payload), "A module failed to start")
		})
	})
	// Back to the long timeout before anything else starts a process (the
	// broken module's failed listing stays cached for FailureTTL).
	cfg.ConnectTimeout = time.Minute
	h.ConfigureModules(cfg)
	waitCmds(t, c, []string{"auth", "echo"}, nil)
	if got := runText(t, c, "echo", "ok"); got != "ok" {
		t.Fatalf("echo = %q", got)
	}
	// A new session gets the same: the working module's commands and the
	// report of the broken one.
	c2 := h.Dial(t)
	asyncs2 := collectAsync(c2)
	waitCmds(t, c2, []string{"auth", "echo"}, nil)
	waitUntil(t, 30*time.Second, "module failure message (second session)", func() bool {
		return asyncs2.has(func(f wire.Frame) bool {
			return f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeErr &&
				strings.Contains(wire.DecodeText(f.Payload), "A module failed to start")
		})
	})
	waitUntil(t, 30*time.Second, "broken module's process ended", func() bool { return h.ExternalModule(broken).Running() == 0 })
}

func TestModuleSessionDataAndAsyncs(t *testing.T) {
	h, _ := modHost(t, nil, modsdktest.Normal)
	anon := h.Dial(t)
	waitCmds(t, anon, []string{"info"}, nil)
	got := runText(t, anon, "info", "")
	if !strings.Contains(got, "logged=false") || !strings.Contains(got, "sid="+anon.SessionID().String()) ||
		!strings.Contains(got, "app=hosttest") {
		t.Fatalf("anonymous info = %q", got)
	}
	root := h.Root(t)
	waitCmds(t, root, []string{"info", "emit", "set_disp_name"}, nil)
	got = runText(t, root, "info", "")
	if !strings.Contains(got, "user=root rank=1") || !strings.Contains(got, "sessions=2") {
		t.Fatalf("root info = %q", got)
	}
	// A change of the session reaches the running module process.
	runText(t, root, "set_disp_name", "-new_name Rooty")
	if got = runText(t, root, "info", ""); !strings.Contains(got, "disp=Rooty") {
		t.Fatalf("info after rename = %q", got)
	}

	// Asyncs: the host checks what an untrusted module emits.
	runText(t, root, "emit", "-id 44 -mode priv -text hello-from-module")
	runText(t, root, "emit", "-id 15 -mode priv -uid") // USER_LOGIN: privileged
	waitUntil(t, 5*time.Second, "debug rows", func() bool {
		dbg := runText(t, root, "ls_dbg", "")
		return strings.Contains(dbg, "hello-from-module") && strings.Contains(dbg, "ASYNC_USER_LOGIN")
	})
	before, _ := root.MyInfo()
	asyncs := collectAsync(root)
	runText(t, root, "emit", "-id 18 -mode pubf -uid") // RW_MY_INFO for itself
	waitUntil(t, 5*time.Second, "MY_INFO", func() bool {
		return asyncs.has(func(f wire.Frame) bool { return f.Type == wire.TypeMyInfo })
	})
	_ = before
}

func TestModuleIdleTimeout(t *testing.T) {
	// Long enough that two calls in a row fit in it on a loaded machine
	// (300 ms did not, once), short enough to wait for.
	h, paths := modHost(t, func(c *module.ExternalConfig) { c.IdleTimeout = 3 * time.Second }, modsdktest.Normal)
	c := h.Root(t)
	waitCmds(t, c, []string{"pid"}, nil)
	first := runText(t, c, "pid", "")
	if again := runText(t, c, "pid", ""); again != first {
		t.Fatalf("calls within the idle time used processes %s and %s", first, again)
	}
	ext := h.ExternalModule(paths[0])
	waitUntil(t, time.Minute, "idle process ended", func() bool { return ext.Running() == 0 })
	if later := runText(t, c, "pid", ""); later == first {
		t.Fatal("the idle-killed process answered again")
	}
}

// TestInternalCommandsBeforeSlowModule: a module whose process does not
// connect holds up only its own commands. The internal module's commands
// (auth among them) reach a new client before the slow module's listing
// ends, which the client sees as NEW_CMD auth arriving before the report
// of the failed listing. (The session used to list every module before it
// announced any command, so a slowly starting module process kept clients
// from logging in: pkg/client gave up on "auth" after its settle time.)
func TestInternalCommandsBeforeSlowModule(t *testing.T) {
	h, _ := modHost(t, func(c *module.ExternalConfig) { c.ConnectTimeout = time.Second }, modsdktest.NeverConnect)
	c := h.Dial(t)
	ctx := hosttest.Ctx(t, 2*time.Minute)
	sawAuth := false
	for {
		var f wire.Frame
		select {
		case f = <-c.Async():
		case <-ctx.Done():
			t.Fatal("no report of the module that never connects")
		}
		if f.Cmd == uint16(wire.AsyncAddCmd) && f.Type == wire.TypeNewCmd {
			if nc, err := wire.ParseNewCmd(f.Payload); err == nil && nc.Name == "auth" {
				sawAuth = true
			}
		}
		if f.Cmd == uint16(wire.AsyncSysMsg) && strings.Contains(wire.DecodeText(f.Payload), "A module failed to start") {
			break
		}
	}
	if !sawAuth {
		t.Fatal("the failed listing of the slow module was reported before NEW_CMD auth: internal commands waited for it")
	}
}
