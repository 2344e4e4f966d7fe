package module

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/modsdk"
	"github.com/mrci/mrci/pkg/modsdk/modsdktest"
)

func TestMain(m *testing.M) {
	modsdktest.Main()
	goleak.VerifyTestMain(m)
}

// event is one call on the recording sink.
type event struct {
	kind    string // frame, async, exited
	t       wire.TypeID
	payload []byte
	id      wire.AsyncID
	err     error
}

func (e event) text() string { return wire.DecodeText(e.payload) }

// recSink records what an instance produces.
type recSink struct{ ch chan event }

func newSink() *recSink { return &recSink{ch: make(chan event, 200000)} }

func (s *recSink) Frame(t wire.TypeID, p []byte) { s.ch <- event{kind: "frame", t: t, payload: p} }
func (s *recSink) Async(mode wire.TypeID, id wire.AsyncID, d []byte) {
	s.ch <- event{kind: "async", t: mode, id: id, payload: d}
}
func (s *recSink) Exited(err error) { s.ch <- event{kind: "exited", err: err} }

// next returns the next event or fails after d.
func (s *recSink) next(t *testing.T, d time.Duration) event {
	t.Helper()
	select {
	case e := <-s.ch:
		return e
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
		return event{}
	}
}

// untilIdle collects frames up to and including IDLE.
func (s *recSink) untilIdle(t *testing.T) []event {
	t.Helper()
	var out []event
	for {
		e := s.next(t, 10*time.Second)
		out = append(out, e)
		if e.kind == "exited" {
			t.Fatalf("instance exited before IDLE: %v (events %v)", e.err, out)
		}
		if e.kind == "frame" && e.t == wire.TypeIdle {
			return out
		}
	}
}

// waitExited skips frames until Exited.
func (s *recSink) waitExited(t *testing.T, d time.Duration) (event, []event) {
	t.Helper()
	var seen []event
	deadline := time.Now().Add(d)
	for {
		e := s.next(t, time.Until(deadline))
		if e.kind == "exited" {
			return e, seen
		}
		seen = append(seen, e)
	}
}

func texts(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.kind == "frame" && (e.t == wire.TypeText || e.t == wire.TypeErr || e.t == wire.TypePrivText) {
			b.WriteString(e.text())
		}
	}
	return b.String()
}

// fakeSession is a SessionView with a settable snapshot.
type fakeSession struct {
	mu   sync.Mutex
	info *SessionInfo
}

func (f *fakeSession) Snapshot() *SessionInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info
}

func (f *fakeSession) set(info *SessionInfo) {
	f.mu.Lock()
	f.info = info
	f.mu.Unlock()
}

// debugLog collects debug messages.
type debugLog struct {
	mu   sync.Mutex
	msgs []string
}

func (d *debugLog) add(m string) {
	d.mu.Lock()
	d.msgs = append(d.msgs, m)
	d.mu.Unlock()
}

func (d *debugLog) has(sub string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func (d *debugLog) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.msgs, "\n")
}

// fixture is a runtime with fast timers, a debug log and a session.
type fixture struct {
	rt  *Runtime
	dbg *debugLog
	ses *fakeSession
	env Env
	cfg ExternalConfig
}

func newFixture(t *testing.T, tweak func(*ExternalConfig)) *fixture {
	t.Helper()
	f := &fixture{dbg: &debugLog{}, ses: &fakeSession{}}
	f.cfg = ExternalConfig{
		IdleTimeout: 20 * time.Second, KillGrace: 500 * time.Millisecond, ConnectTimeout: 5 * time.Second,
		ListQuiet: 2 * time.Second, ListTimeout: 5 * time.Second, Debug: f.dbg.add,
	}
	if tweak != nil {
		tweak(&f.cfg)
	}
	f.rt = NewRuntime(f.cfg)
	var sid wire.SessionID
	copy(sid[:], "session-id-for-module-tests!")
	f.ses.set(&SessionInfo{SessionID: sid, IP: "127.0.0.1", AppName: "test app", Dir: t.TempDir()})
	f.env = Env{Session: f.ses}
	t.Cleanup(func() {
		f.rt.Close()
		waitFor(t, 10*time.Second, "runtime directory removed", func() bool { return f.rt.Dir() == "" })
	})
	return f
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) module(t *testing.T, mode string) *External {
	return f.rt.NewExternal(modsdktest.Module(t, mode), nil)
}

func names(defs []Def) []string {
	var out []string
	for _, d := range defs {
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out
}

func (f *fixture) start(t *testing.T, e *External, name string) (Instance, *recSink) {
	t.Helper()
	sink := newSink()
	in, err := e.Start(context.Background(), name, f.env, sink)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return in, sink
}

func call(t *testing.T, in Instance, sink *recSink, args string) []event {
	t.Helper()
	if !in.Input(wire.TypeText, wire.EncodeText(args)) {
		t.Fatal("input refused")
	}
	return sink.untilIdle(t)
}

func TestExternalListings(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	ctx := context.Background()
	want := map[Category][]string{}
	for _, c := range modsdktest.Commands {
		for cat, letter := range map[Category]string{Public: "p", Exempt: "e", User: "u"} {
			if strings.Contains(c.Lists, letter) {
				want[cat] = append(want[cat], c.Name)
			}
		}
	}
	for _, cat := range []Category{Public, Exempt, User} {
		defs, err := e.List(ctx, cat, f.env)
		if err != nil {
			t.Fatalf("%v: %v", cat, err)
		}
		slices.Sort(want[cat])
		if got := names(defs); !slices.Equal(got, want[cat]) {
			t.Errorf("%v listing = %v, want %v", cat, got, want[cat])
		}
		for _, d := range defs {
			if d.Library != "modsdktest 1.0" || d.Summary != "test command "+d.Name || d.IO != "[text]/[text]" {
				t.Errorf("def %+v", d)
			}
		}
	}
	if e.listRuns != 3 {
		t.Fatalf("listing processes = %d, want 3", e.listRuns)
	}
	// Cached: concurrent sessions of a category share the answer.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.List(ctx, Public, f.env); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if e.listRuns != 3 {
		t.Fatalf("cached listing re-ran: %d processes", e.listRuns)
	}
	// Refresh (ENABLE_MOD) and a change on disk both re-list.
	e.Refresh()
	if _, err := e.List(ctx, Public, f.env); err != nil || e.listRuns != 4 {
		t.Fatalf("after Refresh: runs %d, err %v", e.listRuns, err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(e.Path(), later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := e.List(ctx, Public, f.env); err != nil || e.listRuns != 5 {
		t.Fatalf("after touching the file: runs %d, err %v", e.listRuns, err)
	}
	waitFor(t, 10*time.Second, "listing processes ended", func() bool { return e.Running() == 0 })
	if e.Disabled() {
		t.Fatal("clean listings disabled the module")
	}
}

func TestExternalBadListing(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.BadList)
	defs, err := e.List(context.Background(), Public, f.env)
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 || defs[0].Name != "good_cmd" || defs[0].Summary != "first" {
		t.Fatalf("defs = %+v, want only good_cmd (first announcement)", defs)
	}
	if !f.dbg.has("badlist: listing warning") {
		t.Fatalf("ERR frame not in the debug log:\n%s", f.dbg)
	}
}

func TestExternalSilentListing(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.ListQuiet = 200 * time.Millisecond; c.KillGrace = 200 * time.Millisecond })
	e := f.module(t, modsdktest.SilentList)
	start := time.Now()
	defs, err := e.List(context.Background(), User, f.env)
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 || defs[0].Name != "quiet_cmd" {
		t.Fatalf("defs = %+v", defs)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("listing took %v", d)
	}
	// It ignores KILL_CMD: force-killed after the grace period.
	waitFor(t, 5*time.Second, "silent listing process killed", func() bool { return e.Running() == 0 })
}

func TestExternalNeverConnects(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.ConnectTimeout = 300 * time.Millisecond })
	e := f.module(t, modsdktest.NeverConnect)
	if _, err := e.List(context.Background(), Public, f.env); err == nil || !strings.Contains(err.Error(), "did not connect") {
		t.Fatalf("List error = %v", err)
	}
	// The failure is remembered (FailureTTL): no second process.
	if _, err := e.List(context.Background(), Public, f.env); err == nil || e.listRuns != 1 {
		t.Fatalf("failed listing not cached: runs %d err %v", e.listRuns, err)
	}
	in, sink := f.start(t, e, "echo")
	in.Input(wire.TypeText, wire.EncodeText("hi"))
	ex, seen := sink.waitExited(t, 5*time.Second)
	if ex.err == nil || !strings.Contains(texts(seen), "failed to start") {
		t.Fatalf("exit %v, frames %q", ex.err, texts(seen))
	}
	waitFor(t, 5*time.Second, "processes ended", func() bool { return e.Running() == 0 })
}

func TestExternalRunMode(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	in, sink := f.start(t, e, "echo")
	if got := texts(call(t, in, sink, "one two")); got != "one two" {
		t.Fatalf("echo = %q", got)
	}
	if got := texts(call(t, in, sink, "three")); got != "three" {
		t.Fatalf("second call = %q", got)
	}

	// The process lives across calls.
	pin, psink := f.start(t, e, "pid")
	p1, p2 := texts(call(t, pin, psink, "")), texts(call(t, pin, psink, ""))
	if p1 == "" || p1 != p2 {
		t.Fatalf("pids %q %q: not the same process", p1, p2)
	}

	// Prompts: the answer is the next TEXT frame.
	ain, asink := f.start(t, e, "ask")
	ain.Input(wire.TypeText, nil)
	if ev := asink.next(t, 5*time.Second); ev.t != wire.TypeText || ev.text() != "name? " {
		t.Fatalf("prompt = %v %q", ev.t, ev.text())
	}
	if got := texts(call(t, ain, asink, "bob")); got != "hello bob\n" {
		t.Fatalf("answer = %q", got)
	}

	// stdout and stderr become TEXT and ERR frames.
	oin, osink := f.start(t, e, "out")
	evs := call(t, oin, osink, "")
	var sawOut, sawErr bool
	for _, ev := range evs {
		sawOut = sawOut || (ev.t == wire.TypeText && ev.text() == "to stdout\n")
		sawErr = sawErr || (ev.t == wire.TypeErr && ev.text() == "to stderr\n")
	}
	if !sawOut || !sawErr {
		// Output pipes are read concurrently with the IPC pipe; wait a little.
		deadline := time.After(5 * time.Second)
		for !sawOut || !sawErr {
			select {
			case ev := <-osink.ch:
				sawOut = sawOut || (ev.t == wire.TypeText && ev.text() == "to stdout\n")
				sawErr = sawErr || (ev.t == wire.TypeErr && ev.text() == "to stderr\n")
			case <-deadline:
				t.Fatalf("stdout/stderr frames missing: %v", evs)
			}
		}
	}

	// The working directory is the session's.
	din, dsink := f.start(t, e, "pwd")
	got := texts(call(t, din, dsink, ""))
	want, _ := filepath.EvalSymlinks(f.ses.Snapshot().Dir)
	if got != want {
		t.Fatalf("pwd = %q, want %q", got, want)
	}

	for _, i := range []Instance{in, pin, ain, oin, din} {
		i.Kill()
	}
	for _, s := range []*recSink{sink, psink, asink, osink, dsink} {
		if ex, _ := s.waitExited(t, 5*time.Second); ex.err != nil {
			t.Errorf("exit after Kill: %v", ex.err)
		}
	}
	waitFor(t, 5*time.Second, "processes ended", func() bool { return e.Running() == 0 })
}

func TestExternalSeveralBranches(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, sink := f.start(t, e, "loop")
			evs := call(t, in, sink, "-n 5")
			if got := strings.Count(texts(evs), "tick"); got != 5 {
				t.Errorf("branch %d: %d ticks", i, got)
			}
			in.Kill()
			sink.waitExited(t, 5*time.Second)
		}()
	}
	wg.Wait()
}

func TestExternalControlFrames(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	in, sink := f.start(t, e, "loop")
	in.Input(wire.TypeText, wire.EncodeText("-n 100000"))
	if ev := sink.next(t, 5*time.Second); ev.text() != "tick 1\n" {
		t.Fatalf("first = %q", ev.text())
	}
	// HALT stops the ticks, RESUME continues them.
	in.Input(wire.TypeHaltCmd, nil)
	time.Sleep(100 * time.Millisecond)
	drain(sink)
	time.Sleep(200 * time.Millisecond)
	if left := drain(sink); len(left) != 0 {
		t.Fatalf("ticks while halted: %d", len(left))
	}
	in.Input(wire.TypeResumeCmd, nil)
	if ev := sink.next(t, 5*time.Second); !strings.HasPrefix(ev.text(), "tick") {
		t.Fatalf("after resume = %v %q", ev.t, ev.text())
	}
	// TERM ends the call with IDLE; the process stays.
	in.Input(wire.TypeTermCmd, nil)
	sink.untilIdle(t)
	if got := texts(call(t, in, sink, "-n 1")); got != "tick 1\n" {
		t.Fatalf("call after TERM = %q", got)
	}
	// A client's KILL_CMD: IDLE if busy, then the process exits.
	in.Input(wire.TypeText, wire.EncodeText("-n 100000"))
	sink.next(t, 5*time.Second)
	in.Input(wire.TypeKillCmd, nil)
	ex, seen := sink.waitExited(t, 5*time.Second)
	if ex.err != nil || seen[len(seen)-1].t != wire.TypeIdle {
		t.Fatalf("after KILL_CMD: exit %v, last frame %v", ex.err, seen[len(seen)-1].t)
	}
}

func drain(s *recSink) []event {
	var out []event
	for {
		select {
		case e := <-s.ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestExternalKillGrace(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.KillGrace = 300 * time.Millisecond })
	e := f.module(t, modsdktest.Hang)
	for _, client := range []bool{false, true} {
		in, sink := f.start(t, e, "echo")
		in.Input(wire.TypeText, wire.EncodeText("x"))
		// The process says when it is connected; from then on it reads
		// nothing.
		if ev := sink.next(t, time.Minute); ev.text() != "hanging\n" {
			t.Fatalf("client=%v: first frame %v %q, want the module's \"hanging\"", client, ev.t, ev.text())
		}
		start := time.Now()
		if client {
			in.Input(wire.TypeKillCmd, nil)
		} else {
			in.Kill()
		}
		ex, _ := sink.waitExited(t, time.Minute)
		// It is killed once the grace has passed, never before.
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("client=%v: ended after %v, before the 300 ms grace", client, d)
		}
		if ex.err == nil || !strings.Contains(ex.err.Error(), "did not exit") {
			t.Fatalf("client=%v: exit error %v", client, ex.err)
		}
	}
}

func TestExternalIdleTimeoutAndKeepAlive(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) {
		c.IdleTimeout = 400 * time.Millisecond
		c.Env = []string{modsdktest.KeepAliveEnv + "=100ms"}
	})
	e := f.module(t, modsdktest.Normal)

	// An idle process is ended after the idle time, silently.
	in, sink := f.start(t, e, "echo")
	call(t, in, sink, "x")
	start := time.Now()
	ex, seen := sink.waitExited(t, 5*time.Second)
	if d := time.Since(start); ex.err != nil || len(seen) != 0 || d < 300*time.Millisecond {
		t.Fatalf("idle kill: after %v, err %v, frames %v", d, ex.err, seen)
	}
	// The session starts a new process for the next call.
	if !in.(Closer).Closed() || in.Input(wire.TypeText, nil) {
		t.Fatal("an ended instance still takes calls")
	}

	// A call waiting for input survives thanks to the SDK's keep-alive.
	win, wsink := f.start(t, e, "wait")
	win.Input(wire.TypeText, nil)
	select {
	case ev := <-wsink.ch:
		t.Fatalf("waiting call produced %v %q (keep-alives must not reach the session)", ev.kind, ev.text())
	case <-time.After(1500 * time.Millisecond):
	}
	win.Input(wire.TypeTermCmd, nil)
	wsink.untilIdle(t)
	win.Kill()
	wsink.waitExited(t, 5*time.Second)

	// Without keep-alives it is idle-killed while busy.
	cfg := f.rt.Config()
	cfg.Env = []string{modsdktest.KeepAliveEnv + "=-1s"}
	f.rt.SetConfig(cfg)
	nin, nsink := f.start(t, e, "wait")
	nin.Input(wire.TypeText, nil)
	ex, _ = nsink.waitExited(t, 5*time.Second)
	if ex.err != nil {
		t.Fatalf("idle kill of a busy call: %v (the host killed it: not a crash)", ex.err)
	}
}

func TestExternalCrashLimit(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.CrashLimit = 3; c.CrashWindow = time.Minute })
	disabled := make(chan *External, 1)
	e := f.rt.NewExternal(modsdktest.Module(t, modsdktest.Normal), func(x *External) { disabled <- x })
	for i := range 3 {
		in, sink := f.start(t, e, "crash")
		in.Input(wire.TypeText, nil)
		ex, _ := sink.waitExited(t, 5*time.Second)
		if ex.err == nil || !strings.Contains(ex.err.Error(), "without sending IDLE") {
			t.Fatalf("crash %d: %v", i, ex.err)
		}
	}
	select {
	case x := <-disabled:
		if x != e {
			t.Fatal("wrong module disabled")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("module not disabled after 3 crashes")
	}
	if _, err := e.Start(context.Background(), "echo", f.env, newSink()); !errors.Is(err, ErrModuleDisabled) {
		t.Fatalf("start after disable: %v", err)
	}
	if !f.dbg.has("disabled: 3 abnormal exits") {
		t.Fatalf("debug log:\n%s", f.dbg)
	}
}

func TestExternalCleanRunResetsCrashCount(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.CrashLimit = 2 })
	e := f.module(t, modsdktest.Normal)
	for range 3 {
		in, sink := f.start(t, e, "crash")
		in.Input(wire.TypeText, nil)
		sink.waitExited(t, 5*time.Second)
		in, sink = f.start(t, e, "echo")
		call(t, in, sink, "ok")
		in.Kill()
		sink.waitExited(t, 5*time.Second)
	}
	if e.Disabled() {
		t.Fatal("crashes separated by clean runs disabled the module")
	}
}

func TestExternalMalformedFrames(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.MaxFrame = 1 << 20 })
	for _, mode := range []string{modsdktest.Oversize, modsdktest.Truncated} {
		e := f.module(t, mode)
		in, sink := f.start(t, e, "echo")
		in.Input(wire.TypeText, nil)
		ex, _ := sink.waitExited(t, 5*time.Second)
		if ex.err == nil || !strings.Contains(ex.err.Error(), "malformed") {
			t.Fatalf("%s: exit %v", mode, ex.err)
		}
		if _, err := e.List(context.Background(), Public, f.env); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("%s listing: %v", mode, err)
		}
		waitFor(t, 5*time.Second, "processes ended", func() bool { return e.Running() == 0 })
	}
}

func TestExternalFlood(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	in, sink := f.start(t, e, "flood")
	evs := call(t, in, sink, "-n 20000")
	if len(evs) != 20001 {
		t.Fatalf("got %d frames", len(evs))
	}
	for i, ev := range evs[:20000] {
		if ev.text() != fmt.Sprintf("x%d\n", i) {
			t.Fatalf("frame %d = %q", i, ev.text())
		}
	}
	// Input beyond the queue bound is refused, never blocks.
	hin, _ := f.start(t, f.module(t, modsdktest.NeverConnect), "echo")
	refused := false
	for range f.rt.Config().InputFrames + 1 {
		refused = refused || !hin.Input(wire.TypeText, []byte("xx"))
	}
	if !refused {
		t.Fatal("unbounded input queue")
	}
	if !hin.Input(wire.TypeTermCmd, nil) {
		t.Fatal("control frame refused")
	}
	hin.Kill()
	in.Kill()
}

func TestExternalAsyncs(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	in, sink := f.start(t, e, "emit")
	evs := call(t, in, sink, "-id 44 -mode priv -text hello")
	if len(evs) != 2 || evs[0].kind != "async" || evs[0].t != wire.TypePrivIPC || evs[0].id != wire.AsyncDebugText || evs[0].text() != "hello" {
		t.Fatalf("events %+v", evs)
	}
	evs = call(t, in, sink, "-id 42 -mode priv")
	if len(evs) != 1 {
		t.Fatalf("keep-alive forwarded: %+v", evs)
	}
	in.Kill()
	sink.waitExited(t, 5*time.Second)
}

func TestExternalSessionData(t *testing.T) {
	f := newFixture(t, nil)
	e := f.module(t, modsdktest.Normal)
	base := *f.ses.Snapshot()
	f.rt.Publish(base.SessionID, &base)
	in, sink := f.start(t, e, "info")
	got := texts(call(t, in, sink, ""))
	if !strings.Contains(got, "user= rank=0") || !strings.Contains(got, "sid="+base.SessionID.String()) ||
		!strings.Contains(got, "app=test app") || !strings.Contains(got, "sessions=1") || !strings.Contains(got, "logged=false") {
		t.Fatalf("info = %q", got)
	}
	// A change reaches the running process at once.
	u := base
	u.LoggedIn, u.UserName, u.Rank, u.DisplayName = true, "alice", 7, "Alice A."
	u.UserID[0] = 1
	f.rt.Publish(u.SessionID, &u)
	got = texts(call(t, in, sink, ""))
	if !strings.Contains(got, "user=alice rank=7") || !strings.Contains(got, "logged=true disp=Alice A.") {
		t.Fatalf("info after login = %q", got)
	}
	in.Kill()
	sink.waitExited(t, 5*time.Second)
	f.rt.Publish(u.SessionID, nil)
	if f.rt.Sessions() != 0 {
		t.Fatalf("sessions = %d after end", f.rt.Sessions())
	}
}

func TestSessionBlockRoundTrip(t *testing.T) {
	info := &SessionInfo{IP: "2001:db8::1", AppName: "Cmdr 2.2.0", LoggedIn: true, UserName: "bob",
		DisplayName: "Bob ✓", Rank: 3, Active: true, OwnerOverride: true}
	copy(info.SessionID[:], "0123456789012345678901234567")
	copy(info.UserID[:], "abcdefghijklmnopqrstuvwxyz012345")
	for i := range 250 {
		info.Channels = append(info.Channels, uint64(i+1))
	}
	info.Open.Add(wire.SubChannel{Channel: 5, Sub: 2})
	info.Open.Add(wire.SubChannel{Channel: 9, Sub: 0})
	info.Writable.Add(wire.SubChannel{Channel: 9, Sub: 0})
	var peer wire.SessionID
	copy(peer[:], "peer-peer-peer-peer-peer-pee")
	info.P2PAccepted = []wire.SessionID{peer}
	info.P2PPendingIn = []wire.SessionID{peer, peer}

	dir := t.TempDir()
	m, err := createMapped(filepath.Join(dir, "s"), SessionFileSize)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	initSessionFile(m.mem)
	block := make([]byte, SessionBlockLen)
	encodeSessionBlock(block, info)
	writeSessionBlock(m.mem, block, make([]byte, SessionBlockLen))
	h, err := createMapped(filepath.Join(dir, "h"), HostFileSize)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	copy(h.mem[hostMagicOff:], hostMagic)
	storeU32(h.mem, 42)

	got, n, err := modsdk.ReadSessionFiles(m.path, h.path)
	if err != nil {
		t.Fatal(err)
	}
	if n != 42 || got.SessionID != info.SessionID || got.UserID != info.UserID || !got.LoggedIn ||
		got.IP != info.IP || got.AppName != info.AppName || got.UserName != "bob" || got.DisplayName != "Bob ✓" ||
		got.Rank != 3 || !got.Active || !got.OwnerOverride || len(got.Channels) != 200 ||
		len(got.Open) != 2 || got.Open[0] != (modsdk.SubChannel{Channel: 5, Sub: 2}) ||
		len(got.Writable) != 1 || len(got.Peers) != 1 || len(got.PendingPeers) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	// Offsets of modules.md §9.2.
	if string(m.mem[28:60]) != string(info.UserID[:]) || m.mem[388] != 1 || m.mem[389] != 1 ||
		wire.ReadFixed(m.mem[272:320]) != "bob" || m.mem[390] != 1 || m.mem[1990] != 5 || m.mem[1998] != 2 {
		t.Fatal("block not at the spec offsets")
	}
}

func TestPeerCheckRefusesStrangers(t *testing.T) {
	f := newFixture(t, func(c *ExternalConfig) { c.ConnectTimeout = 700 * time.Millisecond })
	e := f.module(t, modsdktest.NeverConnect)
	in, sink := f.start(t, e, "echo")
	var sock string
	waitFor(t, 5*time.Second, "socket", func() bool {
		m, _ := filepath.Glob(filepath.Join(f.rt.Dir(), "p*"))
		if len(m) > 0 {
			sock = m[0]
		}
		return sock != ""
	})
	if fi, err := os.Stat(f.rt.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("private dir mode: %v %v", fi.Mode(), err)
	}
	c, err := net.Dial("unix", sock)
	if err == nil {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a stranger's connection was served")
		}
		c.Close()
	}
	ex, _ := sink.waitExited(t, 5*time.Second)
	if ex.err == nil {
		t.Fatal("instance served by a stranger")
	}
	if err == nil && !f.dbg.has("refused a connection") {
		t.Fatalf("debug log:\n%s", f.dbg)
	}
	_ = in
}

func TestOutputWriter(t *testing.T) {
	var got []string
	w := &outputWriter{t: wire.TypeText, emit: func(_ wire.TypeID, p []byte) { got = append(got, wire.DecodeText(p)) }}
	euro := []byte("€") // 3 bytes
	w.Write(append([]byte("a"), euro[:1]...))
	w.Write(euro[1:2])
	w.Write(append(euro[2:], 'b'))
	w.Write([]byte{0xff, 'c'})
	w.Write(euro[:2])
	w.flush()
	if s := strings.Join(got, "|"); s != "a|€b|\uFFFDc|\uFFFD\uFFFD" && s != "a|€b|\uFFFDc|\uFFFD" {
		t.Fatalf("frames %q", s)
	}
	// Splitting keeps surrogate pairs whole and frames at most limit bytes.
	b := wire.EncodeText("ab😀cd")
	parts := splitUTF16(b, 7)
	var all []byte
	for _, p := range parts {
		if len(p) > 6 || len(p)%2 != 0 {
			t.Fatalf("part %d bytes", len(p))
		}
		all = append(all, p...)
	}
	if wire.DecodeText(all) != "ab😀cd" || wire.DecodeText(parts[0]) != "ab" || wire.DecodeText(parts[1]) != "😀c" {
		t.Fatalf("parts %q", parts)
	}
}
