package module

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Command is a command that runs inside the host process.
type Command struct {
	Def Def
	// In reports whether the command belongs to a listing category under
	// the given host settings.
	In func(cat Category, s store.Settings) bool
	// Accepts lists the frame types that start a call; other types only get
	// an IDLE. Nil means TEXT only.
	Accepts []wire.TypeID
	// MaxArgs is the token limit for the argument text (-1: unlimited).
	MaxArgs int
	// Run handles one call. A returned *UserError becomes an ERR frame;
	// any other error is logged and reported without details.
	Run func(ctx context.Context, c *Call) error
	// Inline marks a command whose Run never prompts and never blocks (it
	// only reads the session snapshot and emits frames and asyncs). The
	// session runs such a command directly in its loop, without an
	// instance goroutine: the fast path for cast, to_peer and the like.
	// Its Call is recycled once Run returns: Run must not keep it.
	Inline bool
}

// InlineRunner is implemented by modules whose commands may run inside the
// session's loop (see Command.Inline).
type InlineRunner interface {
	// RunInline runs one call of an inline command synchronously and
	// reports whether name is an inline command. The sink is called from
	// the caller's goroutine; IDLE is sent at the end of the call.
	RunInline(ctx context.Context, name string, env Env, sink Sink, t wire.TypeID, payload []byte) bool
}

// InProcess is a Module whose commands are Go functions.
type InProcess struct {
	id   string
	cmds map[string]*Command
	list []*Command
	// calls recycles the Calls of inline runs, so a cast allocates none.
	calls sync.Pool
}

// NewInProcess returns a module with the given identity and commands.
func NewInProcess(id string, cmds []*Command) *InProcess {
	m := &InProcess{id: id, cmds: make(map[string]*Command, len(cmds)), list: cmds}
	for _, c := range cmds {
		m.cmds[c.Def.Name] = c
	}
	return m
}

// ID returns the module identity.
func (m *InProcess) ID() string { return m.id }

// List returns the definitions of the commands in a category.
func (m *InProcess) List(ctx context.Context, cat Category, env Env) ([]Def, error) {
	s, err := env.Host.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("module %s: list: %w", m.id, err)
	}
	var defs []Def
	for _, c := range m.list {
		if c.In(cat, s) {
			defs = append(defs, c.Def)
		}
	}
	return defs, nil
}

// Start begins an instance of the named command.
func (m *InProcess) Start(ctx context.Context, name string, env Env, sink Sink) (Instance, error) {
	c, ok := m.cmds[name]
	if !ok {
		return nil, fmt.Errorf("module %s: no command %q", m.id, name)
	}
	in := &inprocInstance{cmd: c, env: env, sink: sink, notify: make(chan struct{}, 1)}
	go in.run()
	return in, nil
}

// RunInline runs an inline command's call in the calling goroutine.
func (m *InProcess) RunInline(ctx context.Context, name string, env Env, sink Sink, t wire.TypeID, payload []byte) bool {
	c, ok := m.cmds[name]
	if !ok || !c.Inline {
		return false
	}
	if acceptsType(c, t) {
		call, _ := m.calls.Get().(*Call)
		if call == nil {
			call = new(Call)
		}
		initCall(call, c, env, sink, nil, t, payload)
		finishCall(ctx, c, call, runCall(ctx, c, call))
		*call = Call{}
		m.calls.Put(call)
	}
	sink.Frame(wire.TypeIdle, nil)
	return true
}

func acceptsType(c *Command, t wire.TypeID) bool {
	if c.Accepts == nil {
		return t == wire.TypeText
	}
	return slices.Contains(c.Accepts, t)
}

func newCall(c *Command, env Env, sink Sink, inst *inprocInstance, t wire.TypeID, payload []byte) *Call {
	call := new(Call)
	initCall(call, c, env, sink, inst, t, payload)
	return call
}

func initCall(call *Call, c *Command, env Env, sink Sink, inst *inprocInstance, t wire.TypeID, payload []byte) {
	*call = Call{env: env, sink: sink, inst: inst, Type: t, Payload: payload}
	if t == wire.TypeText || t == wire.TypeGenFile {
		call.Args = wire.DecodeText(payload)
		call.Words = wire.ParseArgs(call.Args, c.MaxArgs)
	}
}

// PanicError is what runCall returns for a call whose Run panicked.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("command panicked: %v", e.Value) }

// runCall runs a call, turning a panic into a *PanicError: one faulty
// command must not end the host and every session on it.
func runCall(ctx context.Context, cmd *Command, c *Call) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return cmd.Run(ctx, c)
}

// finishCall reports the error a call's Run returned.
func finishCall(ctx context.Context, cmd *Command, c *Call, err error) {
	if err == nil {
		return // the usual case; the error variables below would escape
	}
	var ue *UserError
	var pe *PanicError
	switch {
	case errors.As(err, &pe):
		where := "command"
		if c.inst == nil {
			where = "inline"
		}
		c.env.Log.Error("command panicked", "command", cmd.Def.Name, "where", where,
			"panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
		if c.env.Panicked != nil {
			c.env.Panicked(where)
		}
		c.Err("internal error; details were logged for admin review")
	case errors.Is(err, ErrTerminated), ctx.Err() != nil:
	case errors.As(err, &ue):
		c.Err(ue.Msg)
	case errors.Is(err, store.ErrUnavailable):
		c.env.Log.Warn("command failed: database unavailable", "command", cmd.Def.Name, "err", err)
		c.Err("the database is not answering; try again in a moment")
	default:
		c.env.Log.Error("command failed", "command", cmd.Def.Name, "err", err)
		c.Err("internal error; details were logged for admin review")
	}
}

// inputQueueLimit bounds the frames queued for one in-process instance;
// their bytes are bounded by the session's Env.Input budget.
const inputQueueLimit = 256

type inputFrame struct {
	t       wire.TypeID
	payload []byte
	release func() // nil, or called once the frame has left the queue
	cost    int    // bytes taken from Env.Input (0: the frame is bounded by its release instead)
}

func (f inputFrame) done() {
	if f.release != nil {
		f.release()
	}
}

type inprocInstance struct {
	cmd  *Command
	env  Env
	sink Sink

	mu         sync.Mutex
	queue      []inputFrame
	killed     bool
	closed     bool // finished after a call; takes no more input
	halted     bool
	termNext   bool // TERM_CMD arrived before the queued call started
	cancelCall context.CancelFunc
	notify     chan struct{}
}

func (in *inprocInstance) wake() {
	select {
	case in.notify <- struct{}{}:
	default:
	}
}

// Input queues a frame; TERM_CMD and KILL_CMD act at once on a running call.
func (in *inprocInstance) Input(t wire.TypeID, payload []byte) bool {
	return in.InputRelease(t, payload, nil)
}

// InputRelease is Input with a release function called when the queued
// frame has been taken by the call or discarded (ReleasingInstance).
func (in *inprocInstance) InputRelease(t wire.TypeID, payload []byte, release func()) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch t {
	case wire.TypeTermCmd:
		if in.cancelCall != nil {
			in.cancelCall()
			// Frames the client sent before TERM_CMD belong to the call it
			// abandons (an upload's data in flight): drop them rather than
			// start new calls with them.
			n := 0
			for _, f := range in.queue {
				n += f.cost
				f.done()
			}
			in.env.Input.Release(n)
			clear(in.queue)
			in.queue = in.queue[:0]
		} else {
			in.termNext = true
		}
		return true
	case wire.TypeKillCmd:
		in.killed = true
		if in.cancelCall != nil {
			in.cancelCall()
		}
		in.wake()
		return true
	case wire.TypeHaltCmd:
		in.halted = true
		return true
	case wire.TypeResumeCmd:
		in.halted = false
		in.wake()
		return true
	}
	// A frame with a release function is bounded by the session's input
	// budget until the call consumes it (the session stops reading when
	// that is full); one without is bounded here, by Env.Input.
	cost := 0
	if release == nil {
		cost = len(payload) + FrameOverhead
	}
	if in.closed || len(in.queue) >= inputQueueLimit || (cost > 0 && !in.env.Input.Take(cost)) {
		return false
	}
	in.queue = append(in.queue, inputFrame{t, payload, release, cost})
	in.wake()
	return true
}

// Kill ends the instance after its current call.
func (in *inprocInstance) Kill() { in.Input(wire.TypeKillCmd, nil) }

// next waits for the next queued frame. It returns false when the
// instance was killed or ctx ended.
func (in *inprocInstance) next(ctx context.Context) (inputFrame, bool) {
	for {
		in.mu.Lock()
		if in.killed {
			in.mu.Unlock()
			return inputFrame{}, false
		}
		if len(in.queue) > 0 {
			f := in.queue[0]
			in.queue[0] = inputFrame{}
			in.queue = in.queue[1:]
			in.mu.Unlock()
			in.env.Input.Release(f.cost)
			f.done() // the payload is the caller's now; the session may read more
			return f, true
		}
		in.mu.Unlock()
		select {
		case <-in.notify:
		case <-ctx.Done():
			return inputFrame{}, false
		}
	}
}

// run serves calls until the instance is killed or has nothing queued
// after a call: an idle in-process instance costs nothing, the next frame
// for its (command, branch) simply starts a new one (see Closed).
func (in *inprocInstance) run() {
	defer in.sink.Exited(nil)
	defer in.discardQueue()
	for {
		f, ok := in.next(context.Background())
		if !ok {
			return
		}
		if acceptsType(in.cmd, f.t) {
			in.call(f)
		}
		in.sink.Frame(wire.TypeIdle, nil)
		in.mu.Lock()
		if len(in.queue) == 0 {
			in.closed = true
			in.mu.Unlock()
			return
		}
		in.mu.Unlock()
	}
}

// discardQueue drops the frames still queued when the instance ends (it
// was killed): their bytes go back to the session's budget and their
// release functions run.
func (in *inprocInstance) discardQueue() {
	in.mu.Lock()
	q := in.queue
	in.queue = nil
	in.closed = true
	in.mu.Unlock()
	n := 0
	for _, f := range q {
		n += f.cost
		f.done()
	}
	in.env.Input.Release(n)
}

// Closed reports whether the instance has finished and takes no more
// input; the session then starts a new instance for the next frame.
func (in *inprocInstance) Closed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.closed || in.killed
}

func (in *inprocInstance) call(f inputFrame) {
	ctx, cancel := context.WithCancel(context.Background())
	in.mu.Lock()
	in.cancelCall = cancel
	killed := in.killed
	if in.termNext {
		in.termNext = false
		cancel()
	}
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.cancelCall = nil
		in.termNext = false
		in.mu.Unlock()
		cancel()
	}()
	if killed {
		return
	}
	c := newCall(in.cmd, in.env, in.sink, in, f.t, f.payload)
	finishCall(ctx, in.cmd, c, runCall(ctx, in.cmd, c))
}

// ErrTerminated is returned by prompts when the call was ended by TERM_CMD
// or KILL_CMD.
var ErrTerminated = errors.New("command terminated")

// UserError is an error meant for the client: its Msg becomes "err: Msg\n".
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// Fail returns a UserError with a formatted message.
func Fail(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

// Call is one invocation of an in-process command: the frame that started
// it and the means to answer, prompt and emit async commands.
type Call struct {
	env     Env
	sink    Sink
	inst    *inprocInstance // nil for inline calls
	Type    wire.TypeID     // type of the frame that started the call
	Payload []byte          // its raw payload
	Args    string          // decoded text of a TEXT/GEN_FILE payload
	Words   []string        // Args split by the argument parser
}

// Param returns the value of a -key argument (protocol.md §13.2).
func (c *Call) Param(key string) string { return wire.GetParam(c.Words, key) }

// Flag reports whether a -key switch is present.
func (c *Call) Flag(key string) bool { return wire.HasFlag(c.Words, key) }

// Has reports whether the -key argument appears at all.
func (c *Call) Has(key string) bool { return wire.HasFlag(c.Words, key) }

// Env returns the environment the instance runs in.
func (c *Call) Env() Env { return c.env }

// Session returns a fresh snapshot of the calling session.
func (c *Call) Session() *SessionInfo { return c.env.Session.Snapshot() }

// Store returns the host's store.
func (c *Call) Store() store.Store { return c.env.Store }

// Host returns the host view.
func (c *Call) Host() HostView { return c.env.Host }

// Send sends a frame of any type on the call's ids.
func (c *Call) Send(t wire.TypeID, payload []byte) { c.sink.Frame(t, payload) }

// SendFramed sends a frame whose payload is b[wire.FrameHeaderLen:]; the
// first wire.FrameHeaderLen bytes of b are room for the header. Sinks that
// implement Framer queue b without copying it; the call must not touch b
// afterwards.
func (c *Call) SendFramed(t wire.TypeID, b []byte) {
	if f, ok := c.sink.(Framer); ok {
		f.FrameWithHeader(t, b)
		return
	}
	c.Send(t, b[wire.FrameHeaderLen:])
}

// Text sends a TEXT frame.
func (c *Call) Text(s string) { c.Send(wire.TypeText, wire.EncodeText(s)) }

// BigText sends a BIG_TEXT frame.
func (c *Call) BigText(s string) { c.Send(wire.TypeBigText, wire.EncodeText(s)) }

// Err sends an ERR frame "err: msg\n".
func (c *Call) Err(msg string) { c.Send(wire.TypeErr, wire.EncodeText("err: "+msg+"\n")) }

// Emit emits an async command with an IPC mode.
func (c *Call) Emit(mode wire.TypeID, id wire.AsyncID, data []byte) {
	c.sink.Async(mode, id, data)
}

// Halted reports whether the client paused the call with HALT_CMD.
func (c *Call) Halted() bool {
	if c.inst == nil {
		return false
	}
	c.inst.mu.Lock()
	defer c.inst.mu.Unlock()
	return c.inst.halted
}

// Receive returns the next frame the client sends to this call, of any
// type (the data frames of a GEN_FILE transfer). Control frames never
// arrive here. It returns ErrTerminated when the call was ended by
// TERM_CMD or KILL_CMD.
func (c *Call) Receive(ctx context.Context) (wire.TypeID, []byte, error) {
	if c.inst == nil {
		return 0, nil, errors.New("module: an inline command cannot receive")
	}
	f, ok := c.inst.next(ctx)
	if !ok {
		return 0, nil, ErrTerminated
	}
	return f.t, f.payload, nil
}

// WaitResumed returns at once unless the client paused the call with
// HALT_CMD; then it waits for RESUME_CMD. Looping commands call it between
// steps. It returns ErrTerminated when the call is ended meanwhile.
func (c *Call) WaitResumed(ctx context.Context) error {
	if c.inst == nil {
		return nil
	}
	in := c.inst
	for {
		in.mu.Lock()
		halted, killed := in.halted, in.killed
		in.mu.Unlock()
		switch {
		case killed || ctx.Err() != nil:
			return ErrTerminated
		case !halted:
			return nil
		}
		select {
		case <-in.notify:
			// Input may have arrived too: pass the wake-up on so a waiter
			// in next sees it (the queue is checked under the lock anyway).
		case <-ctx.Done():
			return ErrTerminated
		}
	}
}

// WaitRoom waits until at most limit bytes of the session's output are
// queued (see Flow); a producer of bulk output calls it before each chunk
// so the host never buffers more than limit plus one chunk for a client
// that reads slowly. Sinks without flow control return at once.
func (c *Call) WaitRoom(ctx context.Context, limit int) error {
	if f, ok := c.sink.(Flow); ok {
		if err := f.WaitRoom(ctx, limit); err != nil {
			return ErrTerminated
		}
	}
	return nil
}

// PromptAny sends a TEXT prompt and returns the text of the next TEXT or
// GEN_FILE frame (a transfer's overwrite question may be answered with
// either, types.md §5.3).
func (c *Call) PromptAny(ctx context.Context, prompt string) (string, error) {
	if c.inst == nil {
		return "", errors.New("module: an inline command cannot prompt")
	}
	c.Text(prompt)
	for {
		f, ok := c.inst.next(ctx)
		if !ok {
			return "", ErrTerminated
		}
		if f.t == wire.TypeText || f.t == wire.TypeGenFile {
			return wire.DecodeText(f.payload), nil
		}
	}
}

// Prompt sends a TEXT prompt and returns the text of the next TEXT frame.
func (c *Call) Prompt(ctx context.Context, prompt string) (string, error) {
	return c.ask(ctx, wire.TypeText, prompt)
}

// PrivPrompt sends a PRIV_TEXT prompt (the client hides the answer) and
// returns the text of the next TEXT frame.
func (c *Call) PrivPrompt(ctx context.Context, prompt string) (string, error) {
	return c.ask(ctx, wire.TypePrivText, prompt)
}

// Confirm asks a y/n question until the answer is y or n (any case).
func (c *Call) Confirm(ctx context.Context, question string) (bool, error) {
	for {
		a, err := c.Prompt(ctx, question)
		if err != nil {
			return false, err
		}
		switch a {
		case "y", "Y":
			return true, nil
		case "n", "N":
			return false, nil
		}
	}
}

func (c *Call) ask(ctx context.Context, t wire.TypeID, prompt string) (string, error) {
	if c.inst == nil {
		return "", errors.New("module: an inline command cannot prompt")
	}
	c.Send(t, wire.EncodeText(prompt))
	for {
		f, ok := c.inst.next(ctx)
		if !ok {
			return "", ErrTerminated
		}
		if f.t == wire.TypeText {
			return wire.DecodeText(f.payload), nil
		}
	}
}
