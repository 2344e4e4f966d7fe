package session

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/module"
)

// outQueue is a session's bounded outbound queue of encoded frames. Many
// producers push; one writer drains everything queued in one go into a
// buffered writer and flushes once, so bursts become few writes.
//
// Overflow policy: frames marked droppable (casts from other sessions) are
// dropped and counted once the queued bytes exceed soft; any push that
// would exceed hard fails, and the session owning the queue is ended as a
// slow consumer.
type outQueue struct {
	mu      sync.Mutex
	frames  [][]byte
	spare   [][]byte
	bytes   int
	closed  bool
	final   bool // the last frame is queued: the writer ends once it is written
	casts   bool // a cast from another session is queued
	dropped uint64
	soft    int
	hard    int
	notify  chan struct{}
	taken   chan struct{} // closed and replaced when the writer takes a batch
	// owned are pooled buffers of queued frames (download chunks), given
	// back to the pool once written; writing holds those of the batch the
	// writer has taken (touched by the writer goroutine only).
	owned   [][]byte
	writing [][]byte
}

// pushOwned queues a frame whose buffer goes back to module's payload pool
// once it has been written.
func (q *outQueue) pushOwned(frame []byte) pushResult {
	r := q.push(frame, false)
	if r == pushed {
		q.mu.Lock()
		q.owned = append(q.owned, frame)
		q.mu.Unlock()
	}
	return r
}

// releaseWritten gives the pooled buffers of the written batch back.
func (q *outQueue) releaseWritten() {
	for i, b := range q.writing {
		module.RecyclePayload(b)
		q.writing[i] = nil
	}
	q.writing = q.writing[:0]
}

func newOutQueue(soft, hard int) *outQueue {
	return &outQueue{soft: soft, hard: hard, notify: make(chan struct{}, 1)}
}

type pushResult int

const (
	pushed pushResult = iota
	droppedFrame
	overflowed
	queueClosed
)

func (q *outQueue) push(frame []byte, droppable bool) pushResult {
	q.mu.Lock()
	switch {
	case q.closed || q.final:
		q.mu.Unlock()
		return queueClosed
	case droppable && q.bytes+len(frame) > q.soft:
		q.dropped++
		q.mu.Unlock()
		return droppedFrame
	case q.bytes+len(frame) > q.hard:
		q.mu.Unlock()
		return overflowed
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.casts = q.casts || droppable
	wasEmpty := len(q.frames) == 1
	q.mu.Unlock()
	if wasEmpty {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return pushed
}

// pushFinal queues a last frame regardless of the limits and refuses every
// later push; the writer returns once everything queued is written.
func (q *outQueue) pushFinal(frame []byte) bool {
	q.mu.Lock()
	if q.closed || q.final {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.final = true
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// take returns everything queued, waiting until something is or done closes.
// After the final frame has been taken it reports false.
func (q *outQueue) take(done <-chan struct{}) ([][]byte, bool) {
	for {
		q.mu.Lock()
		if len(q.frames) == 0 && q.final {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.frames) > 0 {
			out := q.frames
			q.frames = q.spare[:0]
			q.spare = nil
			q.bytes = 0
			q.casts = false
			q.writing = append(q.writing, q.owned...)
			clear(q.owned)
			q.owned = q.owned[:0]
			if q.taken != nil {
				close(q.taken)
				q.taken = nil
			}
			q.mu.Unlock()
			return out, true
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
			// When casts are waiting, let the producers that are running
			// add to the batch before taking it: under fan-out load this
			// turns many small writes into fewer large ones. A session's
			// own replies are written at once (no yield on that path).
			q.mu.Lock()
			casts := q.casts
			q.mu.Unlock()
			if casts {
				runtime.Gosched()
			}
		case <-done:
			return nil, false
		}
	}
}

// recycle hands a drained batch back for reuse.
func (q *outQueue) recycle(batch [][]byte) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.mu.Unlock()
}

func (q *outQueue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// writers holds the 64 KiB buffered writers sessions borrow for the
// duration of one batch, so an idle session holds no write buffer.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// writeLoop drains q into w until done closes or a write fails. Each batch
// goes through one pooled buffered writer and one flush, under one write
// deadline.
func writeLoop(q *outQueue, w io.Writer, conn net.Conn, timeout time.Duration, done <-chan struct{}) error {
	for {
		batch, ok := q.take(done)
		if !ok {
			return nil
		}
		if timeout > 0 {
			_ = conn.SetWriteDeadline(time.Now().Add(timeout))
		}
		if err := writeBatch(w, batch); err != nil {
			return err
		}
		q.releaseWritten()
		q.recycle(batch)
	}
}

func writeBatch(w io.Writer, batch [][]byte) error {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		writers.Put(bw)
	}()
	for _, f := range batch {
		if _, err := bw.Write(f); err != nil {
			return err
		}
	}
	return bw.Flush()
}
