package tlsbuf

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/tlscert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counting counts the writes that reach the socket.
type counting struct {
	net.Conn
	writes atomic.Int64
}

func (c *counting) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pair returns a TLS server over a tlsbuf.Conn over a counted TCP
// connection on 127.0.0.1, and the client's end.
func pair(t *testing.T) (*tls.Conn, *Conn, *counting, *tls.Conn) {
	t.Helper()
	cert, err := tlscert.Generate("127.0.0.1", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sraw, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	cnt := &counting{Conn: sraw}
	buf := New(cnt)
	srv := tls.Server(buf, &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
	cli := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }() // not held: the handshake's writes go straight through
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv, buf, cnt, cli
}

// TestHeldWritesAreGathered: 1 MiB written over TLS while held reaches the
// peer unchanged in a few socket writes (crypto/tls alone makes one per
// 16 KiB record, 64), and nothing is buffered once released.
func TestHeldWritesAreGathered(t *testing.T) {
	srv, buf, cnt, cli := pair(t)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(data))
		_, _ = io.ReadFull(cli, b)
		got <- b
	}()
	before := cnt.writes.Load()
	buf.Hold()
	if _, err := srv.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := buf.Release(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(<-got, data) {
		t.Fatal("the peer read other bytes than were written")
	}
	records := (len(data) + 16<<10 - 1) / (16 << 10)
	n := cnt.writes.Load() - before
	if max := records*(16<<10+64)/BufSize + 2; n > int64(max) {
		t.Fatalf("%d socket writes for %d records, want at most %d", n, records, max)
	}
	if buf.buf != nil || buf.held {
		t.Fatal("a released Conn still holds its buffer")
	}

	// Not held: every record is written at once.
	go func() {
		b := make([]byte, 100)
		_, _ = io.ReadFull(cli, b)
		got <- b
	}()
	before = cnt.writes.Load()
	if _, err := srv.Write(data[:100]); err != nil {
		t.Fatal(err)
	}
	if n := cnt.writes.Load() - before; n != 1 {
		t.Fatalf("%d socket writes for one record while not held", n)
	}
	if !bytes.Equal(<-got, data[:100]) {
		t.Fatal("the unheld write changed")
	}
}

// failing fails every write.
type failing struct{ net.Conn }

var errBroken = errors.New("broken pipe")

func (failing) Write([]byte) (int, error) { return 0, errBroken }

// TestReleaseReportsWriteErrors: a socket error while held fails Release
// (and the writes after it), so a writer never reports gathered bytes
// as sent.
func TestReleaseReportsWriteErrors(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := New(failing{a})
	c.Hold()
	if _, err := c.Write([]byte("queued")); err != nil {
		t.Fatalf("a held write that fits failed: %v", err)
	}
	if err := c.Release(); !errors.Is(err, errBroken) {
		t.Fatalf("Release: %v, want the socket's error", err)
	}
	c.Hold()
	if _, err := c.Write(make([]byte, BufSize+1)); !errors.Is(err, errBroken) {
		t.Fatalf("a held write larger than the buffer: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, errBroken) {
		t.Fatalf("a held write after a failed one: %v", err)
	}
	if err := c.Release(); !errors.Is(err, errBroken) {
		t.Fatalf("Release after failures: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, errBroken) {
		t.Fatalf("an unheld write: %v", err)
	}
}
