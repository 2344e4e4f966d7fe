package session

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/wire"
)

// Delivery from other sessions (ARCHITECTURE.md "Slow consumers").
//
// One ordered path per receiver: async messages go to the mailbox, which
// the loop drains in order; a cast frame goes straight to the outbound
// queue only while the mailbox is empty and the loop is not acting on a
// message, and is parked in the mailbox behind them otherwise. So
// everything a sender delivers to a session reaches the client in the
// order it was delivered (a PEER_STAT before a CAST stays before it).
//
// Nothing is dropped. A receiver whose outbound queue is over its soft
// limit makes its senders wait (bus.Stall, a few milliseconds per frame);
// one that would pass its hard limit, overflows its mailbox or misses the
// write deadline is disconnected as a slow consumer, with a notice.

// mail is one mailbox entry: an async message for the loop, or a cast
// frame parked behind earlier messages (its bytes are reserved on the
// outbound queue).
type mail struct {
	m     *bus.Message
	frame []byte
}

// noticeGrace is how long a slow consumer's connection stays open for the
// notice (and the batch in flight before it) to be written.
const noticeGrace = 10 * time.Second

// Deliver queues an async message for the session's loop. It never blocks;
// a session whose mailbox overflows is ended.
func (s *Session) Deliver(m *bus.Message) bus.Stall {
	if !s.enqueue(mail{m: m}) {
		return bus.Stall{}
	}
	return s.out.stallNow()
}

// DeliverFrame queues an encoded cast frame from another session, in order
// with the messages delivered before it. It never blocks; the returned
// stall asks the sender to wait while this session's queue is over its
// soft limit.
func (s *Session) DeliverFrame(frame []byte) bus.Stall {
	if s.mbPending.Load() == 0 {
		r, st := s.out.push(frame, true)
		return s.delivered(r, st)
	}
	r, st := s.out.reserve(len(frame))
	if r == pushed && !s.enqueue(mail{frame: frame}) {
		return bus.Stall{}
	}
	return s.delivered(r, st)
}

func (s *Session) delivered(r pushResult, st bus.Stall) bus.Stall {
	switch r {
	case overflowed:
		s.slowConsumer("its outbound queue would exceed the hard limit")
	case pushed:
		if st.C != nil {
			s.cfg.Metrics.Inc(castStalls)
		}
		return st
	}
	return bus.Stall{}
}

// enqueue appends to the mailbox; it reports false if the mailbox is full
// (the session is then ended) or was full before.
func (s *Session) enqueue(it mail) bool {
	s.mbMu.Lock()
	if s.mbOver {
		s.mbMu.Unlock()
		return false
	}
	if len(s.mailbox) >= s.lim.Mailbox {
		s.mbOver = true
		s.mbMu.Unlock()
		s.slowConsumer("its mailbox of async messages overflowed")
		return false
	}
	s.mbPending.Add(1)
	s.mailbox = append(s.mailbox, it)
	first := len(s.mailbox) == 1
	s.mbMu.Unlock()
	if first {
		select {
		case s.mbNotify <- struct{}{}:
		default:
		}
	}
	return true
}

// drainMailbox acts on everything in the mailbox, in order. Casts that
// arrive meanwhile are parked behind it (mbPending stays above zero until
// the messages taken have been acted on).
func (s *Session) drainMailbox(ctx context.Context) {
	s.mbMu.Lock()
	batch := s.mailbox
	s.mailbox = s.mbSpare
	s.mbSpare = nil
	s.mbMu.Unlock()
	for _, it := range batch {
		if it.m != nil {
			s.guard("async", nil, func() { s.handleAsync(ctx, it.m) })
		} else {
			s.out.pushReserved(it.frame)
		}
	}
	s.mbPending.Add(-int64(len(batch)))
	clear(batch)
	s.mbMu.Lock()
	if s.mbSpare == nil {
		s.mbSpare = batch[:0]
	}
	s.mbMu.Unlock()
}

func castStalls(m *metrics.Metrics) prometheus.Counter    { return m.CastStalls }
func slowConsumers(m *metrics.Metrics) prometheus.Counter { return m.SlowConsumers }

// slowConsumer disconnects a session that cannot keep up: it is logged and
// counted once, the frames not yet written are discarded, and an ERR
// notice on ASYNC_SYS_MSG saying why is queued as the last frame; the
// connection closes once the notice is written, or noticeGrace later.
func (s *Session) slowConsumer(why string) {
	if !s.slow.CompareAndSwap(false, true) {
		return
	}
	s.log.Warn("disconnecting slow consumer", "reason", why)
	s.cfg.Metrics.Inc(slowConsumers)
	text := "err: This session is being disconnected as a slow consumer: " + why +
		". The client must read what the host sends it faster.\n"
	notice := wire.AppendFrameHeader(nil, wire.TypeErr, uint16(wire.AsyncSysMsg), 0, len(wire.EncodeText(text)))
	notice = append(notice, wire.EncodeText(text)...)
	if !s.out.finish(notice) {
		s.end()
		return
	}
	_ = s.cfg.Conn.SetWriteDeadline(time.Now().Add(noticeGrace))
}

// writeLoop drains the outbound queue until the session ends, a write
// fails or the final frame (a slow consumer's notice) is written. Each
// batch goes through one pooled buffered writer and one flush. A batch
// not written within WriteTimeout makes the session a slow consumer (a
// watchdog timer, armed while batches are being written, checks); the
// connection's write deadline leaves noticeGrace more for the notice.
func (s *Session) writeLoop() error {
	w := writeWatch{s: s, timeout: s.lim.WriteTimeout}
	w.timer = time.AfterFunc(time.Hour, w.check)
	w.timer.Stop()
	defer w.timer.Stop()
	var (
		batch [][]byte
		n     int
	)
	for {
		var last, ok bool
		batch, n, last, ok = s.out.takeAfter(s.done, batch, n)
		if !ok {
			return nil
		}
		if w.timeout > 0 {
			now := time.Now()
			grace := w.timeout + noticeGrace
			if s.slow.Load() {
				grace = noticeGrace
			}
			_ = s.cfg.Conn.SetWriteDeadline(now.Add(grace))
			w.start(now)
		}
		err := writeBatch(s.cfg.Stream, batch)
		w.started.Store(0)
		if err != nil {
			s.out.written(batch, n)
			return err
		}
		if last {
			s.out.written(batch, n)
			return nil
		}
	}
}

// writeWatch is a session writer's watchdog. Writing a batch costs an
// atomic store (and arms the timer when it is not armed); the timer
// re-arms itself while batches are being written and stops when the
// writer is idle, so idle sessions have no timer running.
type writeWatch struct {
	s       *Session
	timeout time.Duration
	timer   *time.Timer
	started atomic.Int64 // when the batch being written started (unix ns), 0 between batches
	armed   atomic.Bool
}

func (w *writeWatch) start(now time.Time) {
	w.started.Store(now.UnixNano())
	if w.armed.CompareAndSwap(false, true) {
		w.timer.Reset(w.timeout)
	}
}

func (w *writeWatch) check() {
	w.armed.Store(false)
	t := w.started.Load()
	if t == 0 {
		return // idle: the next batch arms the timer again
	}
	if late := time.Since(time.Unix(0, t)); late >= w.timeout {
		w.s.slowConsumer("it did not read for longer than the write deadline")
	} else if w.armed.CompareAndSwap(false, true) {
		w.timer.Reset(w.timeout - late)
	}
}
