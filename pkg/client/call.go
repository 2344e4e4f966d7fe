package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/mrci/mrci/pkg/mrciwire"
)

var (
	// ErrCallEnded is returned by Call.Next once the call has received its
	// IDLE frame and every queued frame was read; sending another frame on
	// the call starts a new round.
	ErrCallEnded = errors.New("client: call ended")
	// ErrCallClosed is returned by methods of a Call after Call.Close.
	ErrCallClosed = errors.New("client: call closed")
	// ErrCallOverflow is returned by Call.Next when the call's consumer fell
	// more than Options.MaxCallBuffer bytes behind; the queued frames were
	// discarded.
	ErrCallOverflow = errors.New("client: call buffer overflow")
	// ErrNoFreeBranch is returned by Start when all 65,536 branches of a
	// command are in use.
	ErrNoFreeBranch = errors.New("client: no free branch id")
)

// Call is one instance of a command on its own (command id, branch id)
// pair. Frames the host sends for that pair are queued on the call and read
// with Next; frames are sent with Send and SendText. A round of the call
// ends when the host sends IDLE. Close frees the branch.
//
// A Call's methods are safe for concurrent use, but frames are meant to be
// read by one goroutine.
type Call struct {
	c      *Client
	name   string
	cmd    uint16
	branch uint16

	mu     sync.Mutex
	signal chan struct{} // capacity 1; poked when something changes
	queue  []mrciwire.Frame
	head   int
	bytes  int
	busy   bool // a frame was sent and IDLE has not arrived yet
	closed bool
	err    error // terminal error (overflow, command removed)
}

// Start opens a call of the command name on the lowest free branch id of
// that command, so that several calls of one command run at the same time.
// If the command has not been announced yet, Start waits until it is, or
// until the command table has been quiet for Options.CommandSettle
// (ErrUnknownCommand), or ctx ends.
func (c *Client) Start(ctx context.Context, name string) (*Call, error) {
	cmd, err := c.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.startID(name, cmd)
}

// StartID opens a call of the command id cmd on its lowest free branch id,
// without consulting the command table.
func (c *Client) StartID(cmd uint16) (*Call, error) {
	c.mu.Lock()
	name := c.names[cmd]
	c.mu.Unlock()
	if name == "" {
		name = fmt.Sprintf("#%d", cmd)
	}
	return c.startID(name, cmd)
}

func (c *Client) startID(name string, cmd uint16) (*Call, error) {
	if err := c.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := 0; b <= 0xFFFF; b++ {
		id := uint32(cmd) | uint32(b)<<16
		if c.calls[id] != nil || c.draining[id] {
			continue
		}
		call := &Call{c: c, name: strings.ToLower(name), cmd: cmd, branch: uint16(b), signal: make(chan struct{}, 1)}
		c.calls[id] = call
		return call, nil
	}
	return nil, fmt.Errorf("%w for command %q", ErrNoFreeBranch, name)
}

// Name returns the command name the call was started with.
func (call *Call) Name() string { return call.name }

// Cmd returns the call's command id.
func (call *Call) Cmd() uint16 { return call.cmd }

// Branch returns the call's branch id.
func (call *Call) Branch() uint16 { return call.branch }

func (call *Call) id32() uint32 { return uint32(call.cmd) | uint32(call.branch)<<16 }

// Send sends a frame of type t with the given payload on the call's command
// and branch id. It marks the call busy until the host answers with IDLE.
func (call *Call) Send(t mrciwire.TypeID, payload []byte) error {
	call.mu.Lock()
	if call.closed {
		call.mu.Unlock()
		return ErrCallClosed
	}
	if call.err != nil {
		call.mu.Unlock()
		return call.err
	}
	call.busy = true
	call.mu.Unlock()
	return call.c.Send(mrciwire.Frame{Type: t, Cmd: call.cmd, Branch: call.branch, Payload: payload})
}

// SendText sends s as a TEXT frame: the arguments of a new round, or the
// answer to a prompt.
func (call *Call) SendText(s string) error {
	return call.Send(mrciwire.TypeText, mrciwire.EncodeText(s))
}

// Terminate sends TERM_CMD, asking the command to abandon what it is doing
// and answer with IDLE.
func (call *Call) Terminate() error { return call.Send(mrciwire.TypeTermCmd, nil) }

// Next returns the next frame the host sent for this call, in order,
// including the IDLE frame that ends a round. After the IDLE frame (and
// before the next Send) it returns ErrCallEnded. It returns ctx's error when
// ctx ends, and the connection's error (see Client.Err) once the connection
// has ended and no queued frame is left.
func (call *Call) Next(ctx context.Context) (mrciwire.Frame, error) {
	for {
		call.mu.Lock()
		switch {
		case call.head < len(call.queue):
			f := call.queue[call.head]
			call.queue[call.head] = mrciwire.Frame{}
			call.head++
			call.bytes -= len(f.Payload)
			if call.head == len(call.queue) {
				call.queue, call.head = call.queue[:0], 0
			}
			call.mu.Unlock()
			return f, nil
		case call.closed:
			call.mu.Unlock()
			return mrciwire.Frame{}, ErrCallClosed
		case call.err != nil:
			err := call.err
			call.mu.Unlock()
			return mrciwire.Frame{}, err
		case !call.busy:
			call.mu.Unlock()
			return mrciwire.Frame{}, ErrCallEnded
		}
		call.mu.Unlock()
		if err := call.c.Err(); err != nil {
			return mrciwire.Frame{}, err
		}
		select {
		case <-call.signal:
		case <-ctx.Done():
			return mrciwire.Frame{}, ctx.Err()
		case <-call.c.done:
		}
	}
}

// Busy reports whether the call has sent a frame for which the host has not
// answered with IDLE yet.
func (call *Call) Busy() bool {
	call.mu.Lock()
	defer call.mu.Unlock()
	return call.busy
}

// Close frees the call's branch. If the call is still busy, Close sends
// TERM_CMD and keeps the branch reserved (not handed out by Start) until the
// host's IDLE arrives, so that late frames of this round cannot reach a new
// call. Close is idempotent.
func (call *Call) Close() error {
	c := call.c
	c.mu.Lock()
	call.mu.Lock()
	if call.closed {
		call.mu.Unlock()
		c.mu.Unlock()
		return nil
	}
	call.closed = true
	busy := call.busy && call.err == nil
	call.queue, call.head, call.bytes = nil, 0, 0
	call.mu.Unlock()
	id := call.id32()
	if c.calls[id] == call {
		delete(c.calls, id)
		if busy {
			c.draining[id] = true
		}
	}
	c.mu.Unlock()
	call.poke()
	if busy && c.Err() == nil {
		return c.Send(mrciwire.Frame{Type: mrciwire.TypeTermCmd, Cmd: call.cmd, Branch: call.branch})
	}
	return nil
}

// deliver queues a frame from the reader goroutine.
func (call *Call) deliver(f mrciwire.Frame) {
	call.mu.Lock()
	if call.closed || call.err != nil {
		call.mu.Unlock()
		return
	}
	if call.bytes+len(f.Payload) > call.c.opts.MaxCallBuffer {
		call.err = fmt.Errorf("%w: call %q branch %d", ErrCallOverflow, call.name, call.branch)
		call.queue, call.head, call.bytes = nil, 0, 0
	} else {
		call.queue = append(call.queue, f)
		call.bytes += len(f.Payload)
		if f.Type == mrciwire.TypeIdle {
			call.busy = false
		}
	}
	call.mu.Unlock()
	call.poke()
}

// setErr fails the call with err after its queued frames.
func (call *Call) setErr(err error) {
	call.mu.Lock()
	if call.err == nil {
		call.err = err
	}
	call.mu.Unlock()
	call.poke()
}

func (call *Call) poke() {
	select {
	case call.signal <- struct{}{}:
	default:
	}
}
