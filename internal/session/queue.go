package session

import (
	"bufio"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/tlsbuf"
)

// outQueue is a session's bounded outbound queue of encoded frames. Many
// producers push; one writer takes up to maxBatch bytes at a time, writes
// them through a buffered writer and flushes once, so bursts become few
// writes.
//
// Policy (ARCHITECTURE.md "Slow consumers"): nothing is dropped. pending
// counts the bytes queued, reserved (casts parked in the mailbox behind an
// earlier message, see Session.DeliverFrame) and being written. Above soft,
// a push still succeeds but returns a stall: the sending session waits
// until pending is back at soft or below, or for a few milliseconds,
// whichever comes first. A push that would take pending past hard fails,
// and the session owning the queue is ended as a slow consumer.
type outQueue struct {
	mu sync.Mutex
	// frames[first:] are queued. A partial take (a backlog over maxBatch)
	// advances first instead of re-slicing, and the next take moves the
	// rest to the front once first passes it, so a deep queue reuses one
	// array rather than growing a new one after every batch.
	frames  [][]byte
	first   int
	spare   [][]byte
	whole   bool // the batch the writer holds is a whole array (it becomes spare)
	queued  int  // bytes in frames
	pending int  // queued + reserved + being written
	closed  bool
	final   bool        // the last frame (a slow consumer's notice) is queued
	casts   atomic.Bool // a frame from another session is queued (read by await without the lock)
	soft    int
	hard    int
	stall   chan struct{} // closed when pending drops to soft or below
	notify  chan struct{}
	taken   chan struct{} // closed and replaced when the writer takes a batch (room)
	// Pooled frames (download chunks from module.PayloadBuf) go back to
	// the pool once written. head counts the frames taken by the writer
	// (or discarded) so far, so a queued frame's number is head plus its
	// index; pooled lists the queued pooled frames in order, writing
	// those of the batch being written (touched by the writer only).
	head    uint64
	pooled  []pooledFrame
	writing [][]byte
	recycle func([]byte) // module.RecyclePayload; tests observe it
}

// pooledFrame is a queued frame whose buffer belongs to module's payload
// pool, and its number in the queue.
type pooledFrame struct {
	seq uint64
	b   []byte
}

// maxBatch bounds the bytes the writer takes at once, so the bytes in
// flight (and what a slow consumer's notice waits behind) stay small.
const maxBatch = 256 << 10

// Stall durations, as NATS's fast-producer stall: a sender waits at least
// stallMin for a receiver just over its soft limit, growing to stallMax as
// the receiver's queue nears its hard limit.
const (
	stallMin = 2 * time.Millisecond
	stallMax = 5 * time.Millisecond
)

func newOutQueue(soft, hard int) *outQueue {
	return &outQueue{soft: soft, hard: hard, notify: make(chan struct{}, 1), recycle: module.RecyclePayload}
}

type pushResult int

const (
	pushed pushResult = iota
	overflowed
	queueClosed
)

// push queues frame. fromOther marks frames of other sessions (casts): the
// writer lets their producers add to a batch before taking it.
func (q *outQueue) push(frame []byte, fromOther bool) (pushResult, bus.Stall) {
	return q.pushFrame(frame, fromOther, false)
}

// pushPooled queues a frame of the session's own whose buffer came from
// module.PayloadBuf (a download chunk): it goes back to the pool once the
// writer has written it, or when the queue discards it. The caller must
// not touch frame afterwards, whatever the result.
func (q *outQueue) pushPooled(frame []byte) (pushResult, bus.Stall) {
	return q.pushFrame(frame, false, true)
}

func (q *outQueue) pushFrame(frame []byte, fromOther, pooled bool) (pushResult, bus.Stall) {
	q.mu.Lock()
	r, st := q.addLocked(len(frame))
	if r != pushed {
		q.mu.Unlock()
		if pooled {
			q.recycle(frame)
		}
		return r, st
	}
	if pooled {
		q.pooled = append(q.pooled, pooledFrame{q.head + uint64(len(q.frames)-q.first), frame})
	}
	q.frames = append(q.frames, frame)
	q.queued += len(frame)
	if fromOther && !q.casts.Load() {
		q.casts.Store(true)
	}
	wasEmpty := len(q.frames)-q.first == 1
	q.mu.Unlock()
	if wasEmpty {
		q.wake()
	}
	return pushed, st
}

// pushFinal queues a last frame after everything queued, regardless of the
// limits, and refuses every later push; the writer ends once it has written
// it. It reports false if the queue was already closed.
func (q *outQueue) pushFinal(frame []byte) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, frame)
	q.queued += len(frame)
	q.pending += len(frame)
	q.final = true
	q.closed = true
	q.releaseLocked()
	q.mu.Unlock()
	q.wake()
	return true
}

// room returns the bytes queued and not yet taken by the writer, and a
// channel closed when the writer next takes a batch.
func (q *outQueue) room() (int, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.taken == nil {
		q.taken = make(chan struct{})
	}
	return q.queued, q.taken
}

// reserve counts n bytes that pushReserved will queue later, with push's
// limits and stall.
func (q *outQueue) reserve(n int) (pushResult, bus.Stall) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.addLocked(n)
}

// pushReserved queues a frame whose bytes reserve counted.
func (q *outQueue) pushReserved(frame []byte) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.frames = append(q.frames, frame)
	q.queued += len(frame)
	if !q.casts.Load() {
		q.casts.Store(true)
	}
	wasEmpty := len(q.frames)-q.first == 1
	q.mu.Unlock()
	if wasEmpty {
		q.wake()
	}
}

func (q *outQueue) addLocked(n int) (pushResult, bus.Stall) {
	switch {
	case q.closed:
		return queueClosed, bus.Stall{}
	case q.pending+n > q.hard:
		return overflowed, bus.Stall{}
	}
	q.pending += n
	return pushed, q.stallLocked()
}

// stallLocked returns the stall a sender should observe now (zero when
// pending is at or below soft).
func (q *outQueue) stallLocked() bus.Stall {
	if q.pending <= q.soft {
		return bus.Stall{}
	}
	if q.stall == nil {
		q.stall = make(chan struct{})
	}
	d := stallMin
	if span := q.hard - q.soft; span > 0 {
		d += time.Duration(int64(stallMax-stallMin) * int64(q.pending-q.soft) / int64(span))
	}
	return bus.Stall{C: q.stall, For: min(d, stallMax)}
}

// stallNow returns the stall for a sender when nothing is added.
func (q *outQueue) stallNow() bus.Stall {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return bus.Stall{}
	}
	return q.stallLocked()
}

func (q *outQueue) releaseLocked() {
	if q.stall != nil && (q.pending <= q.soft || q.closed) {
		close(q.stall)
		q.stall = nil
	}
}

func (q *outQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take returns up to maxBatch bytes of queued frames (at least one frame),
// their size, and whether the batch ends with the queue's final frame. It
// waits until something is queued or done closes.
func (q *outQueue) take(done <-chan struct{}) (batch [][]byte, n int, last, ok bool) {
	return q.takeAfter(done, nil, 0)
}

// takeAfter is written(prev, prevN) and take in one critical section: the
// writer's loop takes the next batch as it releases the last one.
func (q *outQueue) takeAfter(done <-chan struct{}, prev [][]byte, prevN int) (batch [][]byte, n int, last, ok bool) {
	clear(prev)
	q.recycleWritten()
	q.mu.Lock()
	if prevN > 0 || prev != nil {
		q.releaseBatchLocked(prev, prevN)
	}
	for {
		if len(q.frames) > q.first {
			batch, n, last = q.takeLocked()
			q.mu.Unlock()
			return batch, n, last, true
		}
		q.mu.Unlock()
		if ok := q.await(done); !ok {
			return nil, 0, false, false
		}
		q.mu.Lock()
	}
}

// takeLocked takes up to maxBatch bytes of queued frames. The writer holds
// one batch at a time: the last one was released before this take, so the
// slots before first are free.
func (q *outQueue) takeLocked() (batch [][]byte, n int, last bool) {
	live := len(q.frames) - q.first
	if q.first > 0 && (q.first >= live || q.queued <= maxBatch) {
		moved := copy(q.frames, q.frames[q.first:])
		clear(q.frames[moved:])
		q.frames = q.frames[:moved]
		q.first = 0
	}
	queued := q.frames[q.first:]
	// Usually everything queued fits in one batch: take it whole without
	// walking the frames (the lock is shared with every sender delivering
	// to this session).
	k, n := len(queued), q.queued
	if n > maxBatch {
		k, n = 0, 0
		for k < len(queued) && (k == 0 || n+len(queued[k]) <= maxBatch) {
			n += len(queued[k])
			k++
		}
	}
	if k == len(queued) && q.first == 0 {
		batch = q.frames
		q.frames = q.spare[:0]
		q.spare = nil
		q.whole = true
		q.casts.Store(false)
		last = q.final
	} else {
		batch = queued[:k:k]
		q.first += k
		q.whole = false
		if q.first == len(q.frames) {
			q.casts.Store(false)
			last = q.final
		}
	}
	q.queued -= n
	q.head += uint64(k)
	if len(q.pooled) > 0 {
		q.takePooledLocked()
	}
	if q.taken != nil {
		close(q.taken)
		q.taken = nil
	}
	return batch, n, last
}

// takePooledLocked moves the pooled frames the writer has just taken
// (numbered below head) to writing.
func (q *outQueue) takePooledLocked() {
	i := 0
	for i < len(q.pooled) && q.pooled[i].seq < q.head {
		q.writing = append(q.writing, q.pooled[i].b)
		i++
	}
	rest := copy(q.pooled, q.pooled[i:])
	clear(q.pooled[rest:])
	q.pooled = q.pooled[:rest]
}

// recycleWritten gives the pooled buffers of the batch the writer has
// written (or given up on) back to the pool. Only the writer calls it.
func (q *outQueue) recycleWritten() {
	for i, b := range q.writing {
		q.recycle(b)
		q.writing[i] = nil
	}
	q.writing = q.writing[:0]
}

// await waits until something may have been queued (true) or done closes.
func (q *outQueue) await(done <-chan struct{}) bool {
	for {
		select {
		case <-q.notify:
			// When casts are waiting, let the producers that are running
			// add to the batch before taking it: under fan-out load this
			// turns many small writes into fewer large ones. A session's
			// own replies are written at once (no yield on that path).
			if q.casts.Load() {
				runtime.Gosched()
			}
			return true
		case <-done:
			return false
		}
	}
}

// written releases the n bytes of a batch the writer has written, ending
// the stall of senders once pending is back at soft or below, and hands
// the batch back for reuse.
func (q *outQueue) written(batch [][]byte, n int) {
	clear(batch)
	q.recycleWritten()
	q.mu.Lock()
	q.releaseBatchLocked(batch, n)
	q.mu.Unlock()
}

func (q *outQueue) releaseBatchLocked(batch [][]byte, n int) {
	q.pending -= n
	q.releaseLocked()
	if q.whole && q.spare == nil && cap(batch) > 0 {
		q.spare = batch[:0]
	}
	q.whole = false
}

// finish discards the frames not yet taken by the writer, queues last as
// the final frame and refuses every later push; senders stop waiting. It
// reports false if the queue was already closed.
func (q *outQueue) finish(last []byte) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	// The slots before first may hold the batch being written: leave them.
	clear(q.frames[q.first:])
	q.head += uint64(len(q.frames) - q.first)
	q.dropPooledLocked()
	q.pending -= q.queued
	q.frames = append(q.frames[q.first:q.first], last)
	q.first = 0
	q.queued = len(last)
	q.pending += len(last)
	q.final = true
	q.closed = true
	q.releaseLocked()
	q.mu.Unlock()
	q.wake()
	return true
}

// dropPooledLocked recycles the pooled frames the queue discards.
func (q *outQueue) dropPooledLocked() {
	for _, p := range q.pooled {
		q.recycle(p.b)
	}
	clear(q.pooled)
	q.pooled = q.pooled[:0]
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.head += uint64(len(q.frames) - q.first)
	q.frames, q.first = nil, 0
	q.dropPooledLocked()
	q.releaseLocked()
	q.mu.Unlock()
}

// writers holds the 64 KiB buffered writers sessions borrow for the
// duration of one batch, so an idle session holds no write buffer.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// writeBatch writes a batch through a pooled buffered writer (frames from
// 64 KiB up go to w directly). Over TLS on a tlsbuf.Conn, the records of
// the batch are gathered into few socket writes (crypto/tls writes each
// 16 KiB record with a call of its own).
func writeBatch(w io.Writer, batch [][]byte) (err error) {
	if tc := tlsbuf.Of(w); tc != nil {
		tc.Hold()
		defer func() {
			if rerr := tc.Release(); err == nil {
				err = rerr
			}
		}()
	}
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
