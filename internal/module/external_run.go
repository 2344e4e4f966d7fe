package module

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mrci/mrci/internal/wire"
)

// Texts the client sees when a command process cannot be started.
const msgFailedToStart = "err: The command failed to start. error details were logged for admin review.\n"

// Start begins one command instance: a process started with
// -run_cmd NAME in the session's current directory. It returns at once;
// frames given to Input before the process has connected are queued.
func (e *External) Start(ctx context.Context, name string, env Env, sink Sink) (Instance, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	cfg := e.rt.Config()
	info := &SessionInfo{}
	if env.Session != nil {
		if s := env.Session.Snapshot(); s != nil {
			info = s
		}
	}
	sesFile, err := e.rt.sessionFile(info)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", e.path, err)
	}
	in := &extInstance{e: e, name: name, sink: sink, cfg: cfg, budget: env.Input, wake: make(chan struct{}, 1)}
	in.stdout = &outputWriter{t: wire.TypeText, emit: sink.Frame}
	in.stderr = &outputWriter{t: wire.TypeErr, emit: sink.Frame}
	p, err := e.rt.spawn(e.path, []string{"-run_cmd", name}, sesFile, info.Dir, in.stdout, in.stderr)
	if err != nil {
		e.record(false, fmt.Sprintf("command %s failed to start: %v", name, err))
		return nil, fmt.Errorf("module %s: command %s: %w", e.path, name, err)
	}
	in.p = p
	e.track(p, false)
	go in.run()
	return in, nil
}

var _ Closer = (*extInstance)(nil)

// extInstance is one run-mode process serving one (command, branch).
type extInstance struct {
	e      *External
	name   string
	sink   Sink
	cfg    ExternalConfig
	p      *process
	stdout *outputWriter
	stderr *outputWriter

	mu       sync.Mutex
	queue    [][]byte // encoded IPC frames waiting for the pipe
	qbytes   int      // their bytes, also reserved in budget
	budget   *InputBudget
	wake     chan struct{}
	conn     net.Conn
	closed   bool // the process has ended; no more input
	busy     bool // input was queued since the module's last IDLE
	hostKill bool // the session (Kill) or the idle timer asked it to end
	killing  bool // KILL_CMD is queued or sent
	idleT    *time.Timer
	forceT   *time.Timer
}

// Input queues one client frame for the module. Control frames are never
// refused; KILL_CMD also arms the forced kill (3 s by default). Other
// frames are refused once the process is ending or gone (Closed), so the
// session starts a fresh process for them.
func (in *extInstance) Input(t wire.TypeID, payload []byte) bool {
	if t == wire.TypeKillCmd {
		in.kill(false)
		return true
	}
	frame, err := wire.AppendIPCFrame(make([]byte, 0, wire.IPCHeaderLen+len(payload)), t, payload)
	if err != nil {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed || in.killing {
		return t.IsControl() // control frames of an ending process are moot
	}
	if !t.IsControl() {
		if len(in.queue) >= in.cfg.InputFrames || in.qbytes+len(frame) > in.cfg.InputBytes ||
			!in.budget.Take(len(frame)) {
			return false
		}
		in.busy = true
	} else {
		in.budget.Add(len(frame))
	}
	in.queue = append(in.queue, frame)
	in.qbytes += len(frame)
	in.signal()
	return true
}

// Closed reports whether the process has ended or is being ended (after
// KILL_CMD or the idle timeout) and takes no more calls (module.Closer).
func (in *extInstance) Closed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.closed || in.killing
}

// Kill runs the kill sequence: KILL_CMD now, a forced kill after the
// grace period if the process is still there.
func (in *extInstance) Kill() { in.kill(true) }

func (in *extInstance) kill(host bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if host {
		in.hostKill = true
	}
	if in.killing || in.closed {
		return
	}
	in.killing = true
	frame, _ := wire.AppendIPCFrame(nil, wire.TypeKillCmd, nil)
	in.queue = append([][]byte{frame}, in.queue...)
	in.qbytes += len(frame)
	in.budget.Add(len(frame))
	in.signal()
	in.forceT = time.AfterFunc(in.cfg.KillGrace, in.p.forceKill)
}

func (in *extInstance) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// touch restarts the idle timer (any traffic in either direction).
func (in *extInstance) touch() {
	in.mu.Lock()
	if in.idleT != nil && !in.closed {
		in.idleT.Reset(in.cfg.IdleTimeout)
	}
	in.mu.Unlock()
}

// run is the instance's supervisor: it waits for the connection, then
// pumps frames both ways until the process has ended, and reports Exited.
func (in *extInstance) run() {
	e := in.e
	conn, err := in.p.accept(in.cfg.ConnectTimeout)
	if err != nil {
		in.p.forceKill()
		<-in.p.exited
		e.rt.debug(fmt.Sprintf("module %s: command %s failed to start: %v", e.path, in.name, err))
		in.sink.Frame(wire.TypeErr, wire.EncodeText(msgFailedToStart))
		in.end(false, err)
		return
	}
	in.mu.Lock()
	in.conn = conn
	in.idleT = time.AfterFunc(in.cfg.IdleTimeout, func() { in.kill(true) })
	in.mu.Unlock()
	go in.writeLoop(conn)

	readDone := make(chan error, 1)
	go func() { readDone <- in.readLoop(conn) }()
	var perr error
	select {
	case perr = <-readDone:
		if perr != nil {
			in.p.forceKill()
		}
		in.p.waitExit(in.cfg.KillGrace)
	case <-in.p.exited:
		// Take what the module wrote before exiting; a descendant holding
		// the pipe open must not keep the instance alive.
		select {
		case perr = <-readDone:
		case <-time.After(time.Second):
			_ = conn.SetReadDeadline(time.Now())
			perr = <-readDone
		}
	}
	in.end(true, perr)
}

// end closes the instance, classifies the exit and reports Exited.
func (in *extInstance) end(connected bool, perr error) {
	e := in.e
	in.mu.Lock()
	in.closed = true
	in.budget.Release(in.qbytes)
	in.queue, in.qbytes = nil, 0
	if in.idleT != nil {
		in.idleT.Stop()
	}
	if in.forceT != nil {
		in.forceT.Stop()
	}
	conn := in.conn
	busy, hostKill := in.busy, in.hostKill
	in.mu.Unlock()
	in.signal()
	if conn != nil {
		_ = conn.Close()
	}
	in.stdout.flush()
	in.stderr.flush()
	e.untrack(in.p)
	in.p.finish()

	var reason string
	switch {
	case !connected:
		reason = fmt.Sprintf("command %s never connected: %v", in.name, perr)
	case perr != nil:
		reason = fmt.Sprintf("command %s: %v", in.name, perr)
	case in.p.forced.Load():
		reason = fmt.Sprintf("command %s did not exit within %v of KILL_CMD and was killed", in.name, in.cfg.KillGrace)
	case in.p.crashed():
		reason = fmt.Sprintf("command %s crashed (%s)", in.name, in.p.exitText())
	case busy && !hostKill:
		reason = fmt.Sprintf("command %s exited without sending IDLE (%s)", in.name, in.p.exitText())
	}
	var err error
	if reason != "" {
		err = errors.New(reason)
	}
	e.record(reason == "", reason)
	in.sink.Exited(err)
}

// writeLoop writes queued frames to the module in order.
func (in *extInstance) writeLoop(conn net.Conn) {
	for {
		in.mu.Lock()
		for len(in.queue) == 0 && !in.closed {
			in.mu.Unlock()
			<-in.wake
			in.mu.Lock()
		}
		if in.closed {
			in.mu.Unlock()
			return
		}
		b := in.queue[0]
		in.queue[0] = nil
		in.queue = in.queue[1:]
		in.qbytes -= len(b)
		in.budget.Release(len(b))
		in.mu.Unlock()
		if _, err := conn.Write(b); err != nil {
			return
		}
		in.touch()
	}
}

// readLoop handles the module's frames until the pipe ends. It returns an
// error only for a malformed frame.
func (in *extInstance) readLoop(conn net.Conn) error {
	r := newIPCReader(conn, in.cfg.MaxFrame)
	for {
		f, err := r.next()
		if err != nil {
			if isEndOfPipe(err) {
				return nil
			}
			return err
		}
		in.touch()
		switch f.Type {
		case wire.TypePrivIPC, wire.TypePubIPC, wire.TypePubIPCFeedback:
			a, err := wire.ParseAsyncPayload(f.Payload)
			if err != nil || a.ID == wire.AsyncKeepAlive {
				continue // too short, or only meant to reset the idle timer
			}
			in.sink.Async(f.Type, a.ID, a.Data)
		case wire.TypeIdle:
			in.mu.Lock()
			in.busy = false
			in.mu.Unlock()
			in.sink.Frame(wire.TypeIdle, nil)
		default:
			in.sink.Frame(f.Type, f.Payload)
		}
	}
}

// outputWriter turns a process's stdout or stderr into TEXT or ERR frames:
// UTF-8 decoded (invalid bytes become U+FFFD, a sequence split between two
// reads is kept whole), re-encoded as UTF-16LE and split into frames of at
// most wire.MaxPayload bytes.
type outputWriter struct {
	t    wire.TypeID
	emit func(t wire.TypeID, payload []byte)
	mu   sync.Mutex
	tail []byte
}

func (w *outputWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data := p
	if len(w.tail) > 0 {
		data = append(w.tail, p...)
		w.tail = nil
	}
	cut := len(data) - incompleteTail(data)
	if cut < len(data) {
		w.tail = append([]byte(nil), data[cut:]...)
	}
	w.send(data[:cut])
	return len(p), nil
}

// flush sends a dangling incomplete sequence (as U+FFFD).
func (w *outputWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tail) > 0 {
		w.send(w.tail)
		w.tail = nil
	}
}

func (w *outputWriter) send(text []byte) {
	if len(text) == 0 {
		return
	}
	for _, chunk := range splitUTF16(wire.EncodeText(string(text)), wire.MaxPayload) {
		w.emit(w.t, chunk)
	}
}

// incompleteTail returns the length of an unfinished UTF-8 sequence at the
// end of b (0 if b ends on a whole rune).
func incompleteTail(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return len(b) - i
			}
			return 0
		}
	}
	return 0
}

// splitUTF16 cuts UTF-16LE text into pieces of at most limit bytes, never
// inside a code unit or a surrogate pair.
func splitUTF16(b []byte, limit int) [][]byte {
	limit &^= 1
	var out [][]byte
	for len(b) > limit {
		n := limit
		if hi := uint16(b[n-2]) | uint16(b[n-1])<<8; hi >= 0xD800 && hi < 0xDC00 {
			n -= 2
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}
