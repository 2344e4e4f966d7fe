package session

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

func TestOutQueuePolicy(t *testing.T) {
	q := newOutQueue(10, 20)
	if q.push(make([]byte, 8), true) != pushed {
		t.Fatal("cast under the soft limit refused")
	}
	if q.push(make([]byte, 8), true) != droppedFrame {
		t.Fatal("cast over the soft limit not dropped")
	}
	if q.push(make([]byte, 8), false) != pushed {
		t.Fatal("own frame under the hard limit refused")
	}
	if q.push(make([]byte, 8), false) != overflowed {
		t.Fatal("frame over the hard limit not reported")
	}
	if q.droppedCount() != 1 {
		t.Fatalf("dropped = %d", q.droppedCount())
	}
	batch, ok := q.take(make(chan struct{}))
	if !ok || len(batch) != 2 {
		t.Fatalf("batch of %d frames", len(batch))
	}
	q.recycle(batch)
	if q.push(make([]byte, 8), true) != pushed {
		t.Fatal("queue not emptied by take")
	}
	q.close()
	if q.push(nil, false) != queueClosed {
		t.Fatal("push after close accepted")
	}
}

func TestWriteLoopBatchesInOrder(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := newOutQueue(1<<20, 1<<20)
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- writeLoop(q, server, server, time.Second, done) }()
	var want bytes.Buffer
	for i := range 100 {
		f := []byte{byte(i), byte(i >> 8)}
		want.Write(f)
		q.push(f, i%2 == 0)
	}
	got := make([]byte, want.Len())
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("frames written out of order or changed")
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
