package session

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// released reports whether a stall's channel is closed (the sender may go on).
func released(st bus.Stall) bool {
	select {
	case <-st.C:
		return true
	default:
		return false
	}
}

func TestOutQueueStallsAboveSoftAndOverflowsAtHard(t *testing.T) {
	q := newOutQueue(10, 30)
	if r, st := q.push(make([]byte, 8), true); r != pushed || st.C != nil {
		t.Fatalf("push under the soft limit: %v, stall %v", r, st)
	}
	r, st := q.push(make([]byte, 8), true)
	if r != pushed || st.C == nil || st.For < stallMin || st.For > stallMax {
		t.Fatalf("push over the soft limit: %v, stall %+v; want queued and a stall of %v..%v", r, st, stallMin, stallMax)
	}
	if released(st) {
		t.Fatal("stall released while the queue is over its soft limit")
	}
	if r, _ := q.reserve(8); r != pushed {
		t.Fatalf("reserve under the hard limit: %v", r)
	}
	if r, _ := q.push(make([]byte, 8), false); r != overflowed {
		t.Fatalf("push over the hard limit: %v", r)
	}
	q.pushReserved([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	batch, n, last, ok := q.take(make(chan struct{}))
	if !ok || len(batch) != 3 || n != 24 || last {
		t.Fatalf("take: %d frames, %d bytes, last %v", len(batch), n, last)
	}
	if released(st) {
		t.Fatal("stall released before the batch was written")
	}
	q.written(batch, n)
	if !released(st) {
		t.Fatal("stall not released once the queue was written")
	}
	if r, st := q.push(make([]byte, 8), true); r != pushed || st.C != nil {
		t.Fatalf("push after the queue drained: %v, stall %v", r, st)
	}
	q.close()
	if r, _ := q.push(nil, false); r != queueClosed {
		t.Fatal("push after close accepted")
	}
}

func TestOutQueueTakeIsBounded(t *testing.T) {
	q := newOutQueue(8<<20, 16<<20)
	frame := make([]byte, 100<<10)
	for range 5 {
		q.push(frame, true)
	}
	var sizes []int
	for range 3 {
		batch, n, _, _ := q.take(make(chan struct{}))
		if n > maxBatch && len(batch) > 1 {
			t.Fatalf("batch of %d bytes in %d frames, limit %d", n, len(batch), maxBatch)
		}
		sizes = append(sizes, len(batch))
		q.written(batch, n)
	}
	if sizes[0]+sizes[1]+sizes[2] != 5 {
		t.Fatalf("batches of %v frames, want 5 in all", sizes)
	}
	if q.pending != 0 || q.queued != 0 {
		t.Fatalf("pending %d, queued %d after writing everything", q.pending, q.queued)
	}
}

func TestOutQueueFinishDiscardsBacklogAndEnds(t *testing.T) {
	q := newOutQueue(10, 100)
	q.push(make([]byte, 8), true)
	_, st := q.push(make([]byte, 8), true)
	if !q.finish([]byte("notice")) {
		t.Fatal("finish refused")
	}
	if !released(st) {
		t.Fatal("senders still wait for a finished queue")
	}
	if r, _ := q.push([]byte("late"), true); r != queueClosed {
		t.Fatalf("push after finish: %v", r)
	}
	batch, _, last, ok := q.take(make(chan struct{}))
	if !ok || !last || len(batch) != 1 || string(batch[0]) != "notice" {
		t.Fatalf("after finish: %q last=%v", batch, last)
	}
	if q.finish([]byte("again")) {
		t.Fatal("second finish accepted")
	}
}

// testSession is a session with only what its writer needs.
func testSession(conn net.Conn, lim Limits) *Session {
	log := slog.New(slog.DiscardHandler)
	return &Session{
		cfg: Config{Conn: conn, Stream: conn, Log: log}, lim: lim, log: log,
		out: newOutQueue(lim.QueueSoft, lim.QueueHard), done: make(chan struct{}), mbNotify: make(chan struct{}, 1),
	}
}

func TestWriteLoopBatchesInOrder(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	lim := DefaultLimits
	lim.QueueSoft, lim.QueueHard = 1<<20, 1<<20
	s := testSession(server, lim)
	errc := make(chan error, 1)
	go func() { errc <- s.writeLoop() }()
	var want bytes.Buffer
	for i := range 100 {
		f := []byte{byte(i), byte(i >> 8)}
		want.Write(f)
		s.out.push(f, i%2 == 0)
	}
	got := make([]byte, want.Len())
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("frames written out of order or changed")
	}
	close(s.done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestWriteDeadlineMakesSlowConsumer: a client that does not read for
// longer than WriteTimeout is disconnected as a slow consumer; what was
// in flight is still written, the rest is discarded, and the last frame
// is the notice saying why.
func TestWriteDeadlineMakesSlowConsumer(t *testing.T) {
	server, client := net.Pipe() // unbuffered: every write waits for a read
	defer client.Close()
	lim := DefaultLimits
	lim.WriteTimeout = 20 * time.Millisecond // only how soon it fires; nothing is timed
	s := testSession(server, lim)
	var logged syncBuffer
	s.log = slog.New(slog.NewTextHandler(&logged, nil))
	errc := make(chan error, 1)
	go func() {
		errc <- s.writeLoop()
		_ = server.Close()
	}()
	s.out.push([]byte("first"), false)
	waitFor(t, "the watchdog to fire", s.out.isClosed) // the client has not read
	s.out.push([]byte("dropped"), false)

	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, err := io.ReadAll(client)
	if err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(all, []byte("first")) {
		t.Fatalf("the batch in flight was not written: %q", all)
	}
	r := wire.NewReader(bytes.NewReader(all[len("first"):]), 0)
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatalf("no notice after the batch in flight: %v (%q)", err, all)
	}
	if f.Type != wire.TypeErr || f.Cmd != uint16(wire.AsyncSysMsg) || !strings.Contains(wire.DecodeText(f.Payload), "slow consumer") {
		t.Fatalf("last frame %v cmd %d %q, want the slow consumer notice on ASYNC_SYS_MSG", f.Type, f.Cmd, wire.DecodeText(f.Payload))
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("something after the notice: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if l := logged.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "slow consumer") {
		t.Fatalf("log %q, want a warning about the slow consumer", l)
	}
}

func (q *outQueue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestCastParkedBehindEarlierMessages: a cast frame delivered after an
// async message the loop has not acted on yet is queued after what that
// message makes the session send (one ordered path per receiver).
func TestCastParkedBehindEarlierMessages(t *testing.T) {
	lim := DefaultLimits
	s := testSession(nil, lim)
	s.cfg.ID = wire.SessionID{7}
	toPeer := append(append(s.cfg.ID[:0:0], s.cfg.ID[:]...), byte(wire.TypeText))
	toPeer = append(toPeer, wire.EncodeText("first")...)
	s.Deliver(&bus.Message{ID: wire.AsyncToPeer, Data: toPeer})
	if st := s.DeliverFrame([]byte("second")); st.C != nil {
		t.Fatal("stall under the soft limit")
	}
	if s.out.queued != 0 {
		t.Fatal("the cast overtook the message before it")
	}
	s.drainMailbox(context.Background())
	s.DeliverFrame([]byte("third")) // mailbox empty: straight to the queue
	batch, _, _, _ := s.out.take(make(chan struct{}))
	if len(batch) != 3 {
		t.Fatalf("%d frames queued, want 3", len(batch))
	}
	r := wire.NewReader(bytes.NewReader(batch[0]), 0)
	f, err := r.ReadFrame()
	if err != nil || f.Cmd != uint16(wire.AsyncToPeer) || wire.DecodeText(f.Payload) != "first" {
		t.Fatalf("first frame %v %q (%v)", f.Cmd, f.Payload, err)
	}
	if string(batch[1]) != "second" || string(batch[2]) != "third" {
		t.Fatalf("then %q, %q", batch[1], batch[2])
	}
	if s.mbPending.Load() != 0 {
		t.Fatalf("mbPending %d after draining", s.mbPending.Load())
	}
}

// TestOutQueueDeepBacklogKeepsOrder: a backlog far over maxBatch is
// written in order through many partial takes, while senders keep
// pushing, and a batch in flight stays intact while the queue behind it
// moves (to the front of its array) or is discarded by finish.
func TestOutQueueDeepBacklogKeepsOrder(t *testing.T) {
	q := newOutQueue(64<<20, 64<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	var want, got bytes.Buffer
	next := 0
	push := func(k int) {
		for range k {
			f := make([]byte, 1+rng.IntN(3000))
			for i := range f {
				f[i] = byte(next + i)
			}
			next++
			want.Write(f)
			q.push(f, true)
		}
	}
	push(2000) // about 3 MB: a dozen batches
	var b [][]byte
	var n int
	for round := 0; ; round++ {
		var last, ok bool
		b, n, last, ok = q.takeAfter(make(chan struct{}), b, n)
		if !ok || last {
			t.Fatal("take ended")
		}
		if n > maxBatch && len(b) > 1 {
			t.Fatalf("batch of %d bytes", n)
		}
		snapshot := slices.Clone(b)
		if round < 30 {
			push(rng.IntN(300)) // senders go on while the batch is written
		}
		for i := range b {
			if !bytes.Equal(b[i], snapshot[i]) {
				t.Fatalf("round %d: frame %d of the batch in flight changed", round, i)
			}
			got.Write(b[i])
		}
		if q.queued == 0 {
			break
		}
	}
	q.written(b, n)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("frames written out of order or changed")
	}
	if q.pending != 0 || q.queued != 0 || len(q.frames) != q.first {
		t.Fatalf("pending %d, queued %d, %d frames left after writing everything", q.pending, q.queued, len(q.frames)-q.first)
	}

	// finish while a partial batch is in flight: the batch is untouched.
	push(1000)
	b, n, _, _ = q.take(make(chan struct{}))
	snapshot := slices.Clone(b)
	q.finish([]byte("notice"))
	for i := range b {
		if !bytes.Equal(b[i], snapshot[i]) {
			t.Fatalf("finish changed frame %d of the batch in flight", i)
		}
	}
	b, n, last, ok := q.takeAfter(make(chan struct{}), b, n)
	if !ok || !last || len(b) != 1 || string(b[0]) != "notice" {
		t.Fatalf("after finish: %d frames, last %v", len(b), last)
	}
	q.written(b, n)
	if q.pending != 0 {
		t.Fatalf("pending %d after the notice", q.pending)
	}
}
