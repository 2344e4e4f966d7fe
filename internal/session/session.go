// Package session runs one client connection: it reads MRCI frames, keeps
// the session's state (user, command table, open sub-channels, peer links),
// routes frames to command instances by (command id, branch id), acts on
// the async commands other sessions and modules send it, and writes frames
// to the client through a bounded, batching queue.
//
// Concurrency: a session has three goroutines. The reader decodes client
// frames and hands them to the loop; the loop owns all session state and
// processes, in order, client frames, command output and async messages;
// the writer drains the outbound queue. Other sessions reach a session only
// through Deliver (its mailbox) and DeliverFrame (its outbound queue, in
// order with the mailbox), which never block (delivery.go).
package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Host is what a session needs from the host that owns it.
type Host interface {
	module.HostView
	// Modules returns the modules whose commands sessions load, the host's
	// internal module first.
	Modules() []module.Module
	// Ranks returns the command rank assignments (cached by the host).
	Ranks(ctx context.Context) ([]store.CommandRank, error)
	// Trusted reports whether a module may emit privileged asyncs.
	Trusted(m module.Module) bool
	// Exit stops the host gracefully (ASYNC_EXIT).
	Exit()
	// Restart restarts the host (ASYNC_RESTART).
	Restart()
	// SetMaxSessions changes the session limit (ASYNC_MAXSES).
	SetMaxSessions(n uint32)
	// ReloadBans reloads the ban list (ASYNC_UPDATE_BANS).
	ReloadBans()
	// Debug writes a message to the host debug log.
	Debug(msg string)
}

// Limits bound what one session may use.
type Limits struct {
	MaxPayload   int           // largest accepted client payload
	QueueSoft    int           // queued bytes above which senders wait a few ms per frame
	QueueHard    int           // queued bytes above which the session ends as a slow consumer
	Mailbox      int           // queued async messages above which the session ends
	MaxInstances int           // concurrently running command instances
	WriteTimeout time.Duration // a batch not written in this time ends the session as a slow consumer
	FrameTimeout time.Duration // a payload must arrive within this time of its header
}

// DefaultLimits are the limits used when Config.Limits is zero.
var DefaultLimits = Limits{
	MaxPayload:   wire.MaxPayload,
	QueueSoft:    4 << 20,
	QueueHard:    64 << 20,
	Mailbox:      1 << 16,
	MaxInstances: 256,
	WriteTimeout: 30 * time.Second,
	FrameTimeout: 60 * time.Second,
}

// Config describes a ready connection (header exchanged, TLS done).
type Config struct {
	ID     wire.SessionID
	Conn   net.Conn      // the raw connection, for deadlines and closing
	Stream io.ReadWriter // plaintext or TLS stream (buffered header bytes included)
	// Reader, if set, is read instead of Stream (a *bufio.Reader is used
	// as it is, so bytes it already buffered are not lost).
	Reader  io.Reader
	IP      string
	AppName string
	Bus     *bus.Bus
	Host    Host
	Store   store.Store
	Log     *slog.Logger
	Limits  Limits
	Dir     string           // initial working directory for modules
	Metrics *metrics.Metrics // nil: not counted
}

// Session is one client connection.
type Session struct {
	cfg    Config
	lim    Limits
	log    *slog.Logger
	out    *outQueue
	events chan event
	done   chan struct{}
	ended  sync.Once
	slow   atomic.Bool // ended as a slow consumer
	info   atomic.Pointer[module.SessionInfo]

	mbMu      sync.Mutex
	mailbox   []mail
	mbSpare   []mail
	mbNotify  chan struct{}
	mbOver    bool
	mbPending atomic.Int64 // mailbox entries not yet acted on (delivery.go)

	st state // owned by the loop goroutine
}

// New prepares a session; Run starts it.
func New(cfg Config) *Session {
	lim := cfg.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	s := &Session{
		cfg:      cfg,
		lim:      lim,
		log:      cfg.Log.With("session", cfg.ID.String()[:12]),
		out:      newOutQueue(lim.QueueSoft, lim.QueueHard),
		events:   make(chan event, 64),
		done:     make(chan struct{}),
		mbNotify: make(chan struct{}, 1),
	}
	s.st.init(cfg)
	s.publish()
	return s
}

// SessionID returns the 28-byte session id.
func (s *Session) SessionID() wire.SessionID { return s.cfg.ID }

// Snapshot returns the latest published state of the session.
func (s *Session) Snapshot() *module.SessionInfo { return s.info.Load() }

func framesIn(m *metrics.Metrics) prometheus.Counter      { return m.FramesIn }
func framesOut(m *metrics.Metrics) prometheus.Counter     { return m.FramesOut }
func asyncsRefused(m *metrics.Metrics) prometheus.Counter { return m.AsyncsRefused }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// end stops the session; safe to call from any goroutine, any number of times.
func (s *Session) end() {
	s.ended.Do(func() {
		close(s.done)
		_ = s.cfg.Conn.Close()
	})
}

// Close ends the session.
func (s *Session) Close() { s.end() }

// Run serves the session until the connection closes, the session is ended
// or ctx is cancelled. It sends ASYNC_RDY and the public commands first.
func (s *Session) Run(ctx context.Context) {
	s.cfg.Bus.Join(s)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.writeLoop(); err != nil {
			s.log.Debug("write failed", "err", err)
		}
		s.end()
	}()
	go func() {
		defer wg.Done()
		s.readLoop()
	}()
	stop := context.AfterFunc(ctx, s.end)
	defer stop()

	s.sendAsync(wire.AsyncRdy, wire.TypeText, wire.EncodeText("\nReady!\n\n"))
	s.reloadCommands(ctx)
	s.loop(ctx)
	s.teardown()
	s.end()
	wg.Wait()
}

// readBufferSize is the read buffer of a session: small, because idle
// sessions are many; large payloads are read straight into their slice.
const readBufferSize = 4 << 10

// event is what the loop processes besides mailbox messages.
type event interface{}

type clientFrame struct{ f wire.Frame }

func (s *Session) post(ev event) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.done:
		return false
	}
}

func (s *Session) readLoop() {
	src := s.cfg.Reader
	if src == nil {
		src = bufio.NewReaderSize(s.cfg.Stream, readBufferSize)
	}
	r := wire.NewReader(src, s.lim.MaxPayload)
	deadline := false // a payload deadline is set on the connection
	for {
		if deadline {
			_ = s.cfg.Conn.SetReadDeadline(time.Time{})
			deadline = false
		}
		h, err := r.ReadHeader()
		if errors.Is(err, wire.ErrPayloadTooLarge) {
			// Skip the oversize payload so the stream stays in step.
			s.post(oversize{h: h, limit: s.lim.MaxPayload})
			_ = s.cfg.Conn.SetReadDeadline(time.Now().Add(s.lim.FrameTimeout))
			deadline = true
			if _, err := io.CopyN(io.Discard, readerOf(r), int64(h.Len)); err != nil {
				s.end()
				return
			}
			continue
		}
		if err != nil {
			s.end()
			return
		}
		// A payload that is not buffered yet must arrive within FrameTimeout.
		if h.Len > r.Buffered() {
			_ = s.cfg.Conn.SetReadDeadline(time.Now().Add(s.lim.FrameTimeout))
			deadline = true
		}
		p, err := r.ReadPayload(h.Len)
		if err != nil {
			s.end()
			return
		}
		s.cfg.Metrics.Inc(framesIn)
		if !s.post(clientFrame{wire.Frame{Type: h.Type, Cmd: h.Cmd, Branch: h.Branch, Payload: p}}) {
			return
		}
	}
}

// setOverride is posted by SetOwnerOverride.
type setOverride bool

// SetOwnerOverride sets the channel owner override flag (module.SessionControl).
func (s *Session) SetOwnerOverride(on bool) { s.post(setOverride(on)) }

type oversize struct {
	h     wire.FrameHeader
	limit int
}

// readerOf adapts a frame reader for discarding a payload.
func readerOf(r *wire.Reader) io.Reader { return payloadReader{r} }

type payloadReader struct{ r *wire.Reader }

func (p payloadReader) Read(b []byte) (int, error) {
	n := len(b)
	if n > 32<<10 {
		n = 32 << 10
	}
	chunk, err := p.r.ReadPayload(n)
	copy(b, chunk)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Session) loop(ctx context.Context) {
	for {
		select {
		case <-s.done:
			return
		case ev := <-s.events:
			s.handleEvent(ctx, ev)
		case <-s.mbNotify:
			s.drainMailbox(ctx)
		}
	}
}

func (s *Session) handleEvent(ctx context.Context, ev event) {
	switch e := ev.(type) {
	case clientFrame:
		s.dispatch(ctx, e.f)
	case oversize:
		s.sendFrame(wire.TypeErr, e.h.Cmd, e.h.Branch, wire.EncodeText(fmt.Sprintf(
			"err: The frame's payload of %d bytes exceeds this host's limit of %d bytes; it was discarded.\n", e.h.Len, e.limit)))
		s.sendFrame(wire.TypeIdle, e.h.Cmd, e.h.Branch, nil)
	case instOutput:
		s.instanceOutput(e)
	case instAsync:
		s.instanceAsync(ctx, e)
	case instExited:
		s.instanceExited(e)
	case setOverride:
		if s.st.override != bool(e) {
			s.st.override = bool(e)
			s.recheckAccess(ctx)
		}
		s.publish()
	}
}

// sendFrame queues one frame for the client. A queue over its hard limit
// ends the session.
func (s *Session) sendFrame(t wire.TypeID, cmd, branch uint16, payload []byte) {
	if len(payload) > wire.MaxPayload {
		s.log.Error("dropping oversize frame", "type", t, "len", len(payload))
		return
	}
	b := wire.AppendFrameHeader(make([]byte, 0, wire.FrameHeaderLen+len(payload)), t, cmd, branch, len(payload))
	b = append(b, payload...)
	if r, _ := s.out.push(b, false); r == overflowed {
		s.slowConsumer("its outbound queue would exceed the hard limit")
		return
	}
	s.cfg.Metrics.Inc(framesOut)
}

// sendAsync sends a frame on an async id (branch 0).
func (s *Session) sendAsync(id wire.AsyncID, t wire.TypeID, payload []byte) {
	s.sendFrame(t, uint16(id), 0, payload)
}

// sysText sends a TEXT system message on ASYNC_SYS_MSG.
func (s *Session) sysText(text string) {
	s.sendAsync(wire.AsyncSysMsg, wire.TypeText, wire.EncodeText(text))
}
