package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHost is the smallest session.Host: default settings, no accounts,
// the given modules.
type fakeHost struct {
	mods  []module.Module
	debug func(string) // called by Debug (ASYNC_DEBUG_TEXT) if set
}

func (h *fakeHost) Settings(context.Context) (store.Settings, error) {
	return store.DefaultSettings(), nil
}
func (h *fakeHost) SessionCount() int                           { return 1 }
func (h *fakeHost) PasswordHash(string) (string, error)         { return "", errors.New("no accounts") }
func (h *fakeHost) VerifyPassword(string, string) (bool, error) { return false, nil }
func (h *fakeHost) ProductVersion() string                      { return "test" }
func (h *fakeHost) Modules() []module.Module                    { return h.mods }
func (h *fakeHost) Ranks(context.Context) ([]store.CommandRank, error) {
	return nil, nil
}
func (h *fakeHost) Trusted(module.Module) bool { return false }
func (h *fakeHost) Exit()                      {}
func (h *fakeHost) Restart()                   {}
func (h *fakeHost) SetMaxSessions(uint32)      {}
func (h *fakeHost) ReloadBans()                {}
func (h *fakeHost) Debug(msg string) {
	if h.debug != nil {
		h.debug(msg)
	}
}

// countingStream counts the bytes the session has read from its socket.
type countingStream struct {
	io.ReadWriter
	read atomic.Int64
}

func (c *countingStream) Read(b []byte) (int, error) {
	n, err := c.ReadWriter.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// testClient is the client end of a session under test, over real TCP on
// 127.0.0.1.
type testClient struct {
	t      *testing.T
	conn   net.Conn
	r      *wire.Reader
	s      *Session
	stream *countingStream
	cmds   map[string]uint16
}

// public makes an in-process public command.
func public(name string, inline bool, run func(ctx context.Context, c *module.Call) error) *module.Command {
	return &module.Command{
		Def:     module.Def{Name: name, Summary: name},
		In:      func(cat module.Category, _ store.Settings) bool { return cat == module.Public },
		Run:     run,
		Inline:  inline,
		MaxArgs: -1,
	}
}

// startSession runs a session with the given limits and public commands
// and returns its client once every command is announced. hook, if set,
// runs on the session before it starts.
func startSession(t *testing.T, lim Limits, hook func(*Session), cmds ...*module.Command) *testClient {
	return startSessionWith(t, &fakeHost{}, nil, lim, hook, cmds...)
}

func startSessionWith(t *testing.T, host *fakeHost, m *metrics.Metrics, lim Limits, hook func(*Session), cmds ...*module.Command) *testClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	_ = ln.Close()
	if srv == nil {
		t.Fatal("accept failed")
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if host.mods == nil { // a host shared by sessions keeps its module
		host.mods = []module.Module{module.NewInProcess("test", cmds)}
	}
	stream := &countingStream{ReadWriter: srv}
	s := New(Config{
		Conn: srv, Stream: stream, IP: "127.0.0.1", AppName: "test", Bus: bus.New(),
		Host:    host,
		Log:     slog.New(slog.DiscardHandler),
		Limits:  lim,
		Metrics: m,
	})
	if hook != nil {
		hook(s)
	}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(context.Background())
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		s.Close()
		<-ran
	})
	c := &testClient{t: t, conn: conn, r: wire.NewReader(conn, 0), s: s, stream: stream, cmds: map[string]uint16{}}
	for len(c.cmds) < len(cmds) {
		f := c.frame()
		if f.Cmd == uint16(wire.AsyncAddCmd) {
			nc, err := wire.ParseNewCmd(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			c.cmds[nc.Name] = nc.ID
		}
	}
	return c
}

func (c *testClient) frame() wire.Frame {
	c.t.Helper()
	f, err := c.r.ReadFrame()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *testClient) send(t wire.TypeID, cmd, branch uint16, payload []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(wire.EncodeFrame(wire.Frame{Type: t, Cmd: cmd, Branch: branch, Payload: payload})); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// reply reads frames up to the next one on (cmd, branch).
func (c *testClient) reply(cmd, branch uint16) wire.Frame {
	c.t.Helper()
	for {
		f := c.frame()
		if f.Cmd == cmd && f.Branch == branch {
			return f
		}
	}
}

func echo(_ context.Context, c *module.Call) error {
	c.Text(c.Args)
	return nil
}

func TestOversizePayloadBeforeLoginIsAnsweredAndSkipped(t *testing.T) {
	lim := DefaultLimits
	lim.LoggedOutPayload = 1000
	c := startSession(t, lim, nil, public("echo", false, echo))
	id := c.cmds["echo"]
	c.send(wire.TypeText, id, 1, make([]byte, 1002))
	f := c.reply(id, 1)
	if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "of 1002 bytes exceeds this host's limit of 1000 bytes before login") {
		t.Fatalf("oversize reply = %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	if f := c.reply(id, 1); f.Type != wire.TypeIdle {
		t.Fatalf("after the error: %v, want IDLE", f.Type)
	}
	// The stream stayed in step: the next frame is served.
	c.send(wire.TypeText, id, 2, wire.EncodeText("still here"))
	if f := c.reply(id, 2); f.Type != wire.TypeText || wire.DecodeText(f.Payload) != "still here" {
		t.Fatalf("next call = %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	// A payload at the limit is accepted.
	c.send(wire.TypeText, id, 3, wire.EncodeText(strings.Repeat("x", 500)))
	if f := c.reply(id, 3); f.Type != wire.TypeText {
		t.Fatalf("payload at the limit: %v %q", f.Type, wire.DecodeText(f.Payload))
	}
}

// TestFullTransitBudgetStopsReadingTheSocket blocks the loop (an inline
// command that waits) and floods the session: the reader must stop reading
// once InputTransit bytes are waiting, instead of buffering what the client
// sends; afterwards every frame is served.
func TestFullTransitBudgetStopsReadingTheSocket(t *testing.T) {
	const transit = 256 << 10
	lim := DefaultLimits
	lim.LoggedOutPayload = 64 << 10
	lim.InputTransit = transit
	gate := make(chan struct{})
	waiting := make(chan struct{})
	var once sync.Once
	c := startSession(t, lim, func(s *Session) {
		s.transit.onWait = func() { once.Do(func() { close(waiting) }) }
	}, public("block", true, func(ctx context.Context, call *module.Call) error {
		<-gate
		return nil
	}))
	id := c.cmds["block"]
	const frames = 128 // 8 MiB in all
	sent := make(chan error, 1)
	go func() {
		payload := make([]byte, 64<<10-wire.FrameHeaderLen)
		for i := range frames {
			b := wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: id, Branch: uint16(i), Payload: payload})
			if _, err := c.conn.Write(b); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case <-waiting:
	case err := <-sent:
		t.Fatalf("the reader never waited for the budget (write result %v)", err)
	}
	// What was read: the frames waiting in the budget, one more header and
	// the read buffer; the old reader took up to 64 frames (4 MiB) here.
	if n := c.stream.read.Load(); n > transit+2*readBufferSize+(64<<10) {
		t.Fatalf("the session read %d bytes with a transit budget of %d", n, transit)
	}
	close(gate)
	for i := range frames {
		if f := c.reply(id, uint16(i)); f.Type != wire.TypeIdle {
			t.Fatalf("branch %d: %v, want IDLE", i, f.Type)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestInputQueueBoundedByBytes floods a command that never reads its
// input: frames over InputQueued bytes are refused with ERR, the queued
// bytes stay under the limit, and they are returned when the command is
// killed.
func TestInputQueueBoundedByBytes(t *testing.T) {
	const queued = 100 << 10
	lim := DefaultLimits
	lim.LoggedOutPayload = 32 << 10
	lim.InputQueued = queued
	started := make(chan struct{}, 1)
	c := startSession(t, lim, nil, public("sink", false, func(ctx context.Context, call *module.Call) error {
		started <- struct{}{}
		<-ctx.Done()
		return nil
	}))
	id := c.cmds["sink"]
	c.send(wire.TypeText, id, 0, nil)
	<-started
	payload := make([]byte, 30<<10)
	const floods = 20 // 600 KiB
	for range floods {
		c.send(wire.TypeText, id, 0, payload)
	}
	refused := 0
	for refused < floods-3 { // 3 frames (90 KiB) fit in 100 KiB
		f := c.reply(id, 0)
		if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "input queue is full") {
			t.Fatalf("reply %v %q, want the input-queue-full error", f.Type, wire.DecodeText(f.Payload))
		}
		refused++
	}
	if used := c.s.queued.Used(); used != 3*frameCost(len(payload)) {
		t.Fatalf("queued bytes = %d, want 3 frames (%d)", used, 3*frameCost(len(payload)))
	}
	c.send(wire.TypeKillCmd, id, 0, nil)
	if f := c.reply(id, 0); f.Type != wire.TypeIdle {
		t.Fatalf("after KILL_CMD: %v, want IDLE", f.Type)
	}
	waitFor(t, "queued bytes returned", func() bool { return c.s.queued.Used() == 0 })
}

func TestTooManyInstancesRefused(t *testing.T) {
	lim := DefaultLimits
	lim.MaxInstances = 2
	started := make(chan struct{}, 2)
	c := startSession(t, lim, nil, public("wait", false, func(ctx context.Context, call *module.Call) error {
		started <- struct{}{}
		<-ctx.Done()
		return nil
	}))
	id := c.cmds["wait"]
	c.send(wire.TypeText, id, 1, nil)
	c.send(wire.TypeText, id, 2, nil)
	<-started
	<-started
	c.send(wire.TypeText, id, 3, nil)
	f := c.reply(id, 3)
	if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "Too many commands are running in this session (limit 2)") {
		t.Fatalf("third instance: %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	if f := c.reply(id, 3); f.Type != wire.TypeIdle {
		t.Fatalf("after the refusal: %v, want IDLE", f.Type)
	}
}

func TestUnknownCommandRefused(t *testing.T) {
	c := startSession(t, DefaultLimits, nil, public("echo", false, echo))
	c.send(wire.TypeText, 9999, 4, nil)
	f := c.reply(9999, 4)
	if f.Type != wire.TypeErr || wire.DecodeText(f.Payload) != "err: No such command id: 9999." {
		t.Fatalf("reply = %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	if f := c.reply(9999, 4); f.Type != wire.TypeIdle {
		t.Fatalf("after the refusal: %v, want IDLE", f.Type)
	}
}

// TestMailboxOverflowEndsSession: a session whose mailbox overflows is
// ended (dropping state changes would leave it inconsistent).
func TestMailboxOverflowEndsSession(t *testing.T) {
	lim := DefaultLimits
	lim.Mailbox = 4
	gate, running := make(chan struct{}), make(chan struct{})
	c := startSession(t, lim, nil, public("block", true, func(ctx context.Context, call *module.Call) error {
		close(running)
		<-gate
		return nil
	}))
	defer close(gate)
	c.send(wire.TypeText, c.cmds["block"], 0, nil)
	<-running // the loop is busy from now on
	for range 5 {
		c.s.Deliver(&bus.Message{ID: wire.AsyncKeepAlive})
	}
	select {
	case <-c.s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("session not ended by mailbox overflow")
	}
	if !c.s.slow.Load() {
		t.Fatal("session not recorded as a slow consumer")
	}
}

// waitFor polls cond until it holds (a safety-net deadline of 20 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAsyncHandlerPanicIsContained: a panic while the session acts on an
// async message (here the host's debug log panics) is recovered, logged
// and counted; the session goes on serving its client.
func TestAsyncHandlerPanicIsContained(t *testing.T) {
	m := metrics.New(func() float64 { return 0 }, func() float64 { return 0 })
	reached := make(chan struct{})
	host := &fakeHost{debug: func(string) {
		close(reached)
		panic("debug log broke")
	}}
	c := startSessionWith(t, host, m, DefaultLimits, nil, public("echo", false, echo))
	c.s.Deliver(&bus.Message{ID: wire.AsyncDebugText, Data: wire.EncodeText("x")})
	<-reached
	waitFor(t, "the panic counted", func() bool { return testutil.ToFloat64(m.Panics.WithLabelValues("async")) == 1 })
	id := c.cmds["echo"]
	c.send(wire.TypeText, id, 1, wire.EncodeText("alive"))
	if f := c.reply(id, 1); f.Type != wire.TypeText || wire.DecodeText(f.Payload) != "alive" {
		t.Fatalf("after the panic: %v %q", f.Type, wire.DecodeText(f.Payload))
	}
}

// stuckModule's commands never start: Start waits for its context.
type stuckModule struct{}

func (stuckModule) ID() string { return "stuck" }
func (stuckModule) List(_ context.Context, cat module.Category, _ module.Env) ([]module.Def, error) {
	if cat != module.Public {
		return nil, nil
	}
	return []module.Def{{Name: "stuck"}}, nil
}
func (stuckModule) Start(ctx context.Context, _ string, _ module.Env, _ module.Sink) (module.Instance, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestModuleCallsHaveDeadlines: a module that never answers used to stall
// the session's loop for good; the call now ends at Limits.IOTimeout and
// the client gets the start error.
func TestModuleCallsHaveDeadlines(t *testing.T) {
	lim := DefaultLimits
	lim.IOTimeout = 50 * time.Millisecond
	c := startSessionWith(t, &fakeHost{}, nil, lim, func(s *Session) {
		s.cfg.Host.(*fakeHost).mods = append(s.cfg.Host.(*fakeHost).mods, stuckModule{})
	}, public("echo", false, echo))
	id := c.cmds["stuck"]
	for id == 0 {
		if f := c.frame(); f.Cmd == uint16(wire.AsyncAddCmd) {
			if nc, err := wire.ParseNewCmd(f.Payload); err == nil && nc.Name == "stuck" {
				id = nc.ID
			}
		}
	}
	c.send(wire.TypeText, id, 0, nil)
	f := c.reply(id, 0)
	if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "failed to start") {
		t.Fatalf("reply %v %q, want the start error", f.Type, wire.DecodeText(f.Payload))
	}
	if f := c.reply(id, 0); f.Type != wire.TypeIdle {
		t.Fatalf("after the error: %v, want IDLE", f.Type)
	}
}

// TestSessionsShareTheirCommandTable: sessions that load the same
// commands hold the same interned entries (a logged-in session's table
// costs 8 bytes per command), and freeing an id in one session's table
// does not touch the other's.
func TestSessionsShareTheirCommandTable(t *testing.T) {
	// peek runs a function in the loop of the session it is sent to.
	fns := make(chan func(), 1)
	peek := public("peek", true, func(context.Context, *module.Call) error {
		(<-fns)()
		return nil
	})
	host := &fakeHost{}
	cmds := []*module.Command{public("echo", false, echo), public("Echo", false, echo), peek}
	a := startSessionWith(t, host, nil, DefaultLimits, nil, cmds...)
	b := startSessionWith(t, host, nil, DefaultLimits, nil, cmds...)
	if a.cmds["echo_1"] == 0 || a.cmds["echo_1"] != b.cmds["echo_1"] {
		t.Fatalf("client names %v and %v, want echo, echo_1 and peek in both", a.cmds, b.cmds)
	}
	inLoop := func(c *testClient, fn func()) {
		t.Helper()
		fns <- fn
		c.send(wire.TypeText, c.cmds["peek"], 0, nil)
		if f := c.reply(c.cmds["peek"], 0); f.Type != wire.TypeIdle {
			t.Fatalf("peek answered %v", f.Type)
		}
	}
	table := func(c *testClient) []cmdRef {
		res := make(chan []cmdRef, 1)
		inLoop(c, func() { res <- slices.Clone(c.s.st.cmds) })
		return <-res
	}
	ta, tb := table(a), table(b)
	if len(ta) != 3 || !slices.Equal(ta, tb) {
		t.Fatalf("tables of %d and %d commands are not the same entries", len(ta), len(tb))
	}
	if v := ta[1].Value(); v.clientName != "echo_1" || v.name != "Echo" {
		t.Fatalf("second command %+v", v)
	}
	inLoop(a, func() { a.s.st.setCmd(ta[0].Value().id, cmdRef{}) })
	if ta, tb = table(a), table(b); ta[0] != (cmdRef{}) || !slices.Equal(ta[1:], tb[1:]) || tb[0] == (cmdRef{}) {
		t.Fatal("freeing an id in one session's table changed the other's")
	}
}
