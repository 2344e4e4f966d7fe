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

	// Input limits (bytes; each frame costs its payload plus
	// module.FrameOverhead). Zero fields take the default.
	LoggedOutPayload int // largest accepted client payload before login
	InputTransit     int // read but not yet dispatched (GEN_FILE data: not yet consumed); when full the reader stops reading the socket
	InputQueued      int // other frames queued in the session's command instances; over it frames are refused with ERR
	// So a command that reads nothing gets its queue filled and the frames
	// over it refused, while a command that reads GEN_FILE data slowly (an
	// upload) slows its client down through TCP.

	// IOTimeout bounds each store or module call the loop makes (loading
	// a user, listing or starting commands, channel look-ups). Zero: default.
	IOTimeout time.Duration
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

	LoggedOutPayload: 4 << 10,
	InputTransit:     8 << 20,
	InputQueued:      8 << 20,
	IOTimeout:        10 * time.Second,
}

// withDefaults fills zero input limits from DefaultLimits.
func (l Limits) withDefaults() Limits {
	if l == (Limits{}) {
		return DefaultLimits
	}
	if l.LoggedOutPayload <= 0 {
		l.LoggedOutPayload = DefaultLimits.LoggedOutPayload
	}
	if l.InputTransit <= 0 {
		l.InputTransit = DefaultLimits.InputTransit
	}
	if l.InputQueued <= 0 {
		l.InputQueued = DefaultLimits.InputQueued
	}
	if l.IOTimeout <= 0 {
		l.IOTimeout = DefaultLimits.IOTimeout
	}
	return l
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
	// outPending counts command output posted to the loop, not queued yet
	// (flow.go).
	outPending atomic.Int64
	info       atomic.Pointer[module.SessionInfo]

	transit *transitBudget      // client frames between reader and loop
	queued  *module.InputBudget // client frames queued in command instances
	onPanic func(where string)  // s.panicked, bound once (module.Env.Panicked)

	inline inlineRun // the loop's inline command call (commands.go)

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
	lim := cfg.Limits.withDefaults()
	s := &Session{
		cfg:      cfg,
		lim:      lim,
		transit:  newTransitBudget(lim.InputTransit),
		queued:   module.NewInputBudget(lim.InputQueued),
		log:      cfg.Log.With("session", cfg.ID.String()[:12]),
		out:      newOutQueue(lim.QueueSoft, lim.QueueHard),
		events:   make(chan event, 64),
		done:     make(chan struct{}),
		mbNotify: make(chan struct{}, 1),
	}
	s.onPanic = s.panicked
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

// EndWithNotice sends text as an ASYNC_SYS_MSG TEXT frame after everything
// already queued, and ends the session once it is written (or when the
// write fails or times out). Frames queued afterwards are dropped. Safe to
// call from any goroutine; it reports false when the session was already
// ending.
func (s *Session) EndWithNotice(text string) bool {
	p := wire.EncodeText(text)
	b := wire.AppendFrameHeader(make([]byte, 0, wire.FrameHeaderLen+len(p)), wire.TypeText, uint16(wire.AsyncSysMsg), 0, len(p))
	if !s.out.pushFinal(append(b, p...)) {
		s.end()
		return false
	}
	return true
}

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

	s.sendAsync(wire.AsyncRdy, wire.TypeText, wire.EncodeText("\nReady!\n\n"))
	s.reloadCommands(ctx)
	s.loop(ctx)
	s.teardown()
	s.end()
	wg.Wait()
}

// pooledPayload is the smallest client payload read into a pooled buffer
// (module.PayloadBuf: power-of-two size classes, so a frame never holds
// more than twice the bytes the transit budget counts for it).
const pooledPayload = module.PayloadBufMin

// readBufferSize is the read buffer of a session: small, because idle
// sessions are many; large payloads are read straight into their slice.
const readBufferSize = 4 << 10

// event is what the loop processes besides mailbox messages.
type event interface{}

// clientFrame is a frame from the client; cost is held in the transit
// budget until the frame is consumed: dispatched, or, for a command that
// takes its input with a release function (an upload), read by the command.
type clientFrame struct {
	f    wire.Frame
	cost int
}

func (s *Session) post(ev event) bool {
	select {
	case s.events <- ev: // the usual case, without a full select
		return true
	default:
	}
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
		limit := s.payloadLimit()
		if errors.Is(err, wire.ErrPayloadTooLarge) || (err == nil && h.Len > limit) {
			// Skip the oversize payload so the stream stays in step.
			s.post(oversize{h: h, limit: limit, loggedOut: limit < s.lim.MaxPayload})
			_ = s.cfg.Conn.SetReadDeadline(time.Now().Add(s.lim.FrameTimeout))
			deadline = true
			if err := r.Discard(h.Len); err != nil {
				s.end()
				return
			}
			continue
		}
		if err != nil {
			s.end()
			return
		}
		// Wait for room before reading the payload: while the loop is
		// behind, the socket is not read (TCP back-pressure).
		cost := frameCost(h.Len)
		if !s.transit.acquire(cost, s.done) {
			return
		}
		// A payload that is not buffered yet must arrive within FrameTimeout.
		if h.Len > r.Buffered() {
			_ = s.cfg.Conn.SetReadDeadline(time.Now().Add(s.lim.FrameTimeout))
			deadline = true
		}
		var p []byte
		if h.Len >= pooledPayload && h.Len <= module.PayloadBufSize {
			// Bulk data (an upload) is read into a pooled buffer that the
			// consuming command may recycle.
			p = module.PayloadBuf(h.Len)
			err = r.ReadPayloadInto(p)
		} else {
			p, err = r.ReadPayload(h.Len)
		}
		if err != nil {
			s.end()
			return
		}
		s.cfg.Metrics.Inc(framesIn)
		if !s.post(clientFrame{wire.Frame{Type: h.Type, Cmd: h.Cmd, Branch: h.Branch, Payload: p}, cost}) {
			return
		}
	}
}

// setOverride is posted by SetOwnerOverride.
type setOverride bool

// SetOwnerOverride sets the channel owner override flag (module.SessionControl).
func (s *Session) SetOwnerOverride(on bool) { s.post(setOverride(on)) }

type oversize struct {
	h         wire.FrameHeader
	limit     int
	loggedOut bool // the limit is the one before login
}

func (s *Session) loop(ctx context.Context) {
	for {
		// Take what is posted without a full select (selects were a
		// tenth of the host's CPU under a flood of casts); at least
		// every loopBurst events, and whenever nothing is posted, the
		// select below gives the mailbox and done their turn.
		for i := 0; i < loopBurst; i++ {
			var ev event
			select {
			case ev = <-s.events:
			default:
				i = loopBurst
				continue
			}
			s.guard("event", ev, func() { s.handleEvent(ctx, ev) })
		}
		select {
		case <-s.done:
			return
		case ev := <-s.events:
			s.guard("event", ev, func() { s.handleEvent(ctx, ev) })
		case <-s.mbNotify:
			s.drainMailbox(ctx)
		}
	}
}

// loopBurst bounds the events the loop takes in a row before it looks at
// its mailbox and done.
const loopBurst = 32

func (s *Session) handleEvent(ctx context.Context, ev event) {
	switch e := ev.(type) {
	case clientFrame:
		held := false
		defer func() {
			if !held { // also when dispatch panics (guard recovers it)
				s.transit.release(e.cost)
			}
		}()
		held = s.dispatch(ctx, e.f, e.cost)
	case oversize:
		when := ""
		if e.loggedOut {
			when = " before login"
		}
		s.sendFrame(wire.TypeErr, e.h.Cmd, e.h.Branch, wire.EncodeText(fmt.Sprintf(
			"err: The frame's payload of %d bytes exceeds this host's limit of %d bytes%s; it was discarded.\n", e.h.Len, e.limit, when)))
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

// sendFramed queues a frame whose payload follows room for its header in
// b (module.Framer): the header is written in place and b is queued as it
// is, without copying the payload (b is the session's from then on, and
// goes back to module's payload pool once written).
func (s *Session) sendFramed(t wire.TypeID, cmd, branch uint16, b []byte) {
	n := len(b) - wire.FrameHeaderLen
	if n < 0 || n > wire.MaxPayload {
		s.log.Error("dropping malformed framed output", "type", t, "len", len(b))
		return
	}
	wire.AppendFrameHeader(b[:0], t, cmd, branch, n)
	if r, _ := s.out.pushPooled(b); r == overflowed {
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
