package session

import (
	"bytes"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// recycler records the buffers a queue gives back, and scribbles over
// each one as the pool's next user would.
type recycler struct {
	mu  sync.Mutex
	got [][]byte
}

func (r *recycler) put(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, slices.Clone(b))
	for i := range b {
		b[i] = 0xFF
	}
}

func (r *recycler) recycled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, b := range r.got {
		s = append(s, string(b))
	}
	return s
}

// TestOutQueueRecyclesPooledFramesOnceWritten: a pooled frame (a download
// chunk) goes back to the pool only after the writer has released the
// batch it was in, never at take; frames the queue discards (finish) or
// refuses (over the hard limit) go back at once; other frames never do.
func TestOutQueueRecyclesPooledFramesOnceWritten(t *testing.T) {
	q := newOutQueue(1<<20, 1<<20)
	var r recycler
	q.recycle = r.put
	q.push([]byte("a"), false)
	q.pushPooled([]byte("p1"))
	q.push([]byte("b"), true)
	q.pushPooled([]byte("p2"))
	batch, n, _, _ := q.take(make(chan struct{}))
	if len(batch) != 4 {
		t.Fatalf("took %d frames, want 4", len(batch))
	}
	if got := r.recycled(); len(got) != 0 {
		t.Fatalf("recycled %q before the batch was written", got)
	}
	q.written(batch, n)
	if got := r.recycled(); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("recycled %q after the write, want p1 p2", got)
	}

	// Batches split at maxBatch: each pooled frame goes back with its own batch.
	big := func(c byte) []byte { return bytes.Repeat([]byte{c}, maxBatch/2+1) }
	q.pushPooled(big('x'))
	q.push(big('y'), false)
	q.pushPooled(big('z'))
	batch, n, _, _ = q.take(make(chan struct{}))
	if len(batch) != 1 || batch[0][0] != 'x' {
		t.Fatalf("first batch: %d frames", len(batch))
	}
	batch, n, _, _ = q.takeAfter(make(chan struct{}), batch, n)
	if got := r.recycled(); len(got) != 3 || got[2][0] != 'x' {
		t.Fatalf("after the x batch: %d recycled", len(got))
	}
	if batch[0][0] != 'y' {
		t.Fatalf("second batch starts with %q", batch[0][:1])
	}
	batch, n, _, _ = q.takeAfter(make(chan struct{}), batch, n)
	if got := r.recycled(); len(got) != 3 {
		t.Fatalf("the unpooled y frame was recycled (%d)", len(got))
	}
	if batch[0][0] != 'z' {
		t.Fatalf("third batch starts with %q", batch[0][:1])
	}
	q.written(batch, n)
	if got := r.recycled(); len(got) != 4 || got[3][0] != 'z' {
		t.Fatalf("after the z batch: %d recycled", len(got))
	}

	// Refused over the hard limit: back at once.
	if res, _ := q.pushPooled(make([]byte, 2<<20)); res != overflowed {
		t.Fatalf("push over the hard limit: %v", res)
	}
	if got := r.recycled(); len(got) != 5 {
		t.Fatalf("a refused pooled frame was not recycled (%d)", len(got))
	}
	// Discarded by finish: back at once; the notice is not pooled.
	q.push([]byte("c"), false)
	q.pushPooled([]byte("p3"))
	q.finish([]byte("notice"))
	if got := r.recycled(); len(got) != 6 || got[5] != "p3" {
		t.Fatalf("after finish: %q", got[5:])
	}
	batch, n, _, _ = q.take(make(chan struct{}))
	q.written(batch, n)
	if got := r.recycled(); len(got) != 6 {
		t.Fatalf("recycled %d, want 6", len(got))
	}
}

// TestWriteLoopRecyclesPooledFramesAfterTheClientHasThem: download
// chunks reach the client intact (the recycler scribbles over every
// buffer it gets back, so a buffer recycled before its write would show
// up as 0xFF bytes) and every chunk goes back to the pool.
func TestWriteLoopRecyclesPooledFramesAfterTheClientHasThem(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	lim := DefaultLimits
	lim.QueueSoft, lim.QueueHard = 8<<20, 8<<20
	s := testSession(server, lim)
	var r recycler
	s.out.recycle = r.put
	errc := make(chan error, 1)
	go func() { errc <- s.writeLoop() }()
	var want bytes.Buffer
	const chunks = 20
	for i := range chunks {
		f := bytes.Repeat([]byte{byte(i)}, 100<<10+i)
		want.Write(f)
		s.out.pushPooled(f)
		p := []byte{'t', byte(i)} // a small frame between chunks, as progress lines are
		want.Write(p)
		s.out.push(p, false)
	}
	got := make([]byte, want.Len())
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("chunks reached the client changed: a buffer was recycled before it was written")
	}
	waitFor(t, "every chunk to be recycled", func() bool { return len(r.recycled()) == chunks })
	for i, b := range r.recycled() {
		if len(b) != 100<<10+i || b[0] != byte(i) {
			t.Fatalf("recycled #%d: %d bytes of %d", i, len(b), b[0])
		}
	}
	close(s.done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
