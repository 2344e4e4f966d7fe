package modsdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// Call is one call of a command: the frame that started it, its parsed
// arguments, and the means to answer, prompt and emit async commands.
// Calls of one process run one after another (one process serves one
// command instance).
type Call struct {
	// Type and Payload are the frame that started the call.
	Type    TypeID
	Payload []byte
	// Args is the decoded text of a TEXT or GEN_FILE payload, Words its
	// tokens (quoting rules of the host's own commands).
	Args  string
	Words []string

	p      *pipe
	data   *sessionData
	cancel context.CancelFunc

	mu      sync.Mutex
	inbox   []Frame
	notify  chan struct{}
	halted  bool
	stopped bool // TERM_CMD or KILL_CMD
}

// Param returns the value of a -key argument: the word after the first
// word equal to key (case-insensitive), or "" when it is missing or
// starts with '-'.
func (c *Call) Param(key string) string { return wire.GetParam(c.Words, key) }

// Flag reports whether the -key switch is present.
func (c *Call) Flag(key string) bool { return wire.HasFlag(c.Words, key) }

// Send sends a frame of any type to the client, on the call's command and
// branch ids.
func (c *Call) Send(t TypeID, payload []byte) error {
	if t.IsIPC() {
		return fmt.Errorf("modsdk: use Emit for %v", t)
	}
	return c.p.send(t, payload)
}

// Text sends a TEXT frame.
func (c *Call) Text(s string) error { return c.Send(TypeText, wire.EncodeText(s)) }

// BigText sends a BIG_TEXT frame.
func (c *Call) BigText(s string) error { return c.Send(TypeBigText, wire.EncodeText(s)) }

// Err sends an ERR frame "err: msg\n".
func (c *Call) Err(msg string) error {
	return c.Send(TypeErr, wire.EncodeText("err: "+msg+"\n"))
}

// Emit emits an async command with an IPC mode (TypePrivIPC,
// TypePubIPC or TypePubIPCFeedback).
func (c *Call) Emit(mode TypeID, id AsyncID, data []byte) error { return c.p.emit(mode, id, data) }

// KeepAlive sends ASYNC_KEEP_ALIVE, restarting the host's idle timer. The
// SDK already does this every Module.KeepAlive while the call runs.
func (c *Call) KeepAlive() error { return c.p.emit(TypePrivIPC, wire.AsyncKeepAlive, nil) }

// ErrNoWritableSubChannel is returned by Cast when the session has no
// sub-channel open for writing.
var ErrNoWritableSubChannel = errors.New("modsdk: no sub-channel is open for writing")

// Cast sends a frame of type t to every session that has one of this
// session's writable sub-channels open (ASYNC_CAST, PUB_IPC): the host
// requires casts to carry the session's writable list, which Cast reads
// from the session data.
func (c *Call) Cast(t TypeID, payload []byte) error {
	s, err := c.Session()
	if err != nil {
		return err
	}
	if len(s.Writable) == 0 {
		return ErrNoWritableSubChannel
	}
	data := make([]byte, 0, wire.SubChannelListLen+1+len(payload))
	data = append(data, s.writableRaw[:]...)
	data = append(data, byte(t))
	data = append(data, payload...)
	return c.Emit(TypePubIPC, wire.AsyncCast, data)
}

// Session reads the calling session's current state from the session
// data the host maintains.
func (c *Call) Session() (*SessionInfo, error) { return c.data.session() }

// HostSessions returns the number of live sessions on the host.
func (c *Call) HostSessions() (int, error) { return c.data.hostSessions() }

// Halted reports whether the client paused the call with HALT_CMD (and
// has not sent RESUME_CMD yet). Looping commands check it between steps.
func (c *Call) Halted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.halted
}

// WaitResumed blocks while the call is halted. It returns ErrTerminated
// when the call is terminated and ctx's error when ctx ends.
func (c *Call) WaitResumed(ctx context.Context) error {
	for {
		c.mu.Lock()
		halted, stopped, ch := c.halted, c.stopped, c.notify
		c.mu.Unlock()
		if stopped {
			return ErrTerminated
		}
		if !halted {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Recv returns the next frame the client sends to the call (of any type
// other than the control frames, which the SDK handles). It returns
// ErrTerminated after TERM_CMD or KILL_CMD and ctx's error when ctx ends.
func (c *Call) Recv(ctx context.Context) (Frame, error) {
	for {
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return Frame{}, ErrTerminated
		}
		if len(c.inbox) > 0 {
			f := c.inbox[0]
			c.inbox = c.inbox[1:]
			c.mu.Unlock()
			return f, nil
		}
		ch := c.notify
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Prompt sends prompt as TEXT and returns the text of the client's next
// TEXT frame (frames of other types are skipped).
func (c *Call) Prompt(ctx context.Context, prompt string) (string, error) {
	return c.ask(ctx, TypeText, prompt)
}

// PrivPrompt sends prompt as PRIV_TEXT (the client hides what the user
// types) and returns the text of the client's next TEXT frame.
func (c *Call) PrivPrompt(ctx context.Context, prompt string) (string, error) {
	return c.ask(ctx, TypePrivText, prompt)
}

// Confirm asks a y/n question until the answer is y or n (any case).
func (c *Call) Confirm(ctx context.Context, question string) (bool, error) {
	for {
		a, err := c.Prompt(ctx, question)
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "y":
			return true, nil
		case "n":
			return false, nil
		}
	}
}

func (c *Call) ask(ctx context.Context, t TypeID, prompt string) (string, error) {
	if err := c.Send(t, wire.EncodeText(prompt)); err != nil {
		return "", err
	}
	for {
		f, err := c.Recv(ctx)
		if err != nil {
			return "", err
		}
		if f.Type == TypeText {
			return wire.DecodeText(f.Payload), nil
		}
	}
}

func (c *Call) poke() {
	close(c.notify)
	c.notify = make(chan struct{})
}

// deliver queues an input frame; called by the dispatcher.
func (c *Call) deliver(f Frame) {
	c.mu.Lock()
	c.inbox = append(c.inbox, f)
	c.poke()
	c.mu.Unlock()
}

func (c *Call) setHalted(h bool) {
	c.mu.Lock()
	c.halted = h
	c.poke()
	c.mu.Unlock()
}

// stop ends the call (TERM_CMD / KILL_CMD).
func (c *Call) stop() {
	c.mu.Lock()
	c.stopped = true
	c.poke()
	c.mu.Unlock()
	c.cancel()
}

// leftovers returns the input the call did not read.
func (c *Call) leftovers() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.inbox
	c.inbox = nil
	return f
}

// serve is the run-mode loop: it dispatches the host's frames to calls.
func (m *Module) serve(ctx context.Context, p *pipe, cmd *Command, data *sessionData) error {
	frames := make(chan Frame, 16)
	readErr := make(chan error, 1)
	stopRead := make(chan struct{})
	defer close(stopRead)
	go func() {
		defer close(frames)
		r := wire.NewIPCReader(p.conn, 0)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- err
				}
				return
			}
			select {
			case frames <- Frame{Type: f.Type, Payload: f.Payload}:
			case <-stopRead:
				return
			}
		}
	}()
	keepAlive := m.KeepAlive
	if keepAlive == 0 {
		keepAlive = DefaultKeepAlive
	}
	accepts := cmd.Accepts
	if accepts == nil {
		accepts = []TypeID{TypeText}
	}
	var (
		cur     *Call
		curDone chan struct{}
	)
	start := func(f Frame) {
		cctx, cancel := context.WithCancel(ctx)
		c := &Call{Type: f.Type, Payload: f.Payload, p: p, data: data, cancel: cancel,
			notify: make(chan struct{})}
		if f.Type == TypeText || f.Type == TypeGenFile {
			c.Args = wire.DecodeText(f.Payload)
			maxArgs := cmd.MaxArgs
			if maxArgs == 0 {
				maxArgs = -1
			}
			c.Words = wire.ParseArgs(c.Args, maxArgs)
		}
		cur, curDone = c, make(chan struct{})
		go runCall(cctx, cmd, c, curDone, keepAlive)
	}
	handle := func(f Frame) {
		switch f.Type {
		case TypeTermCmd:
			if cur != nil {
				cur.stop()
			}
		case TypeHaltCmd, TypeResumeCmd:
			if cur != nil {
				cur.setHalted(f.Type == TypeHaltCmd)
			}
		default:
			switch {
			case cur != nil:
				cur.deliver(f)
			case slices.Contains(accepts, f.Type):
				start(f)
			default:
				_ = p.send(TypeIdle, nil)
			}
		}
	}
	// finish waits (bounded) for the running call after KILL_CMD or the
	// end of the pipe; the call sends its IDLE itself.
	finish := func() {
		if cur == nil {
			return
		}
		cur.stop()
		select {
		case <-curDone:
		case <-time.After(killWait):
			_ = p.send(TypeIdle, nil)
		}
	}
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				finish()
				select {
				case err := <-readErr:
					return fmt.Errorf("modsdk: read from the host: %w", err)
				default:
					return nil
				}
			}
			if f.Type == TypeKillCmd {
				finish()
				return nil
			}
			handle(f)
		case <-curDone:
			// Input that reached the call after it stopped reading is
			// handled as new input.
			left := cur.leftovers()
			cur, curDone = nil, nil
			for _, f := range left {
				handle(f)
			}
		case <-ctx.Done():
			finish()
			return ctx.Err()
		}
	}
}

// runCall runs one call, reports its error, sends IDLE and keeps the
// host's idle timer alive meanwhile.
func runCall(ctx context.Context, cmd *Command, c *Call, done chan struct{}, keepAlive time.Duration) {
	defer close(done)
	defer c.cancel()
	if keepAlive > 0 {
		t := time.NewTicker(keepAlive)
		stop := make(chan struct{})
		defer func() { t.Stop(); close(stop) }()
		go func() {
			for {
				select {
				case <-t.C:
					_ = c.KeepAlive()
				case <-stop:
					return
				}
			}
		}()
	}
	err := safeRun(ctx, cmd, c)
	if err != nil && !errors.Is(err, ErrTerminated) && ctx.Err() == nil {
		_ = c.Err(strings.TrimSuffix(strings.TrimPrefix(err.Error(), "err: "), "\n"))
	}
	_ = c.p.send(TypeIdle, nil)
}

// safeRun runs the command, turning a panic into an error.
func safeRun(ctx context.Context, cmd *Command, c *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	if cmd.Run == nil {
		return nil
	}
	return cmd.Run(ctx, c)
}
