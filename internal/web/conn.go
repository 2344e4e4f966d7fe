package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Buffers of a console WebSocket. The library reads frame headers and
// writes each message through these; payloads larger than them go straight
// between the socket and the caller's slice (the session's own 4 KiB
// reader and its pooled 64 KiB batch writer), so small is enough. net/http
// would leave 4 KiB each for the whole life of the session.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1 << 10
)

// smallHijacker hands websocket.Accept the hijacked connection with small
// buffers instead of net/http's 4 KiB ones, and remembers the connection
// so that deadlines can be set on it directly.
type smallHijacker struct {
	http.ResponseWriter
	conn net.Conn
}

// Hijack implements http.Hijacker.
func (w *smallHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = conn
	r := brw.Reader
	if r.Buffered() == 0 {
		// A client sends nothing before the 101 response; if one did,
		// net/http's reader is kept, with those bytes.
		r = bufio.NewReaderSize(conn, wsReadBuffer)
	}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
}

// Unwrap lets http.ResponseController reach the server's ResponseWriter.
func (w *smallHijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamConn is a console WebSocket as the net.Conn the host serves: Read
// returns the bytes of the binary messages in order (message boundaries
// mean nothing), each Write is one binary message (the session writes a
// batch of frames at once, so a burst of frames becomes one message).
//
// Unlike websocket.NetConn it holds no contexts or timers: deadlines are
// set on the underlying connection itself (a read or write past its
// deadline fails, and the session then ends, as for TCP), and Close
// returns at once: the closing handshake runs in its own goroutine, which
// the console waits for (done).
type streamConn struct {
	ws  *websocket.Conn
	raw net.Conn

	r io.Reader // the message being read; only the reading goroutine uses it

	closing atomic.Bool
	once    sync.Once
	done    chan struct{} // closed when the closing handshake has ended
}

func newStreamConn(ws *websocket.Conn, raw net.Conn) *streamConn {
	// Messages are streamed into the session's reader, which applies the
	// protocol's own limits; a message has no size limit of its own.
	ws.SetReadLimit(-1)
	return &streamConn{ws: ws, raw: raw, done: make(chan struct{})}
}

// Read implements net.Conn.
func (c *streamConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.r == nil {
			if c.closing.Load() {
				return 0, net.ErrClosed
			}
			typ, r, err := c.ws.Reader(context.Background())
			if err != nil {
				switch websocket.CloseStatus(err) {
				case websocket.StatusNormalClosure, websocket.StatusGoingAway:
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.MessageBinary {
				c.closeWith(websocket.StatusUnsupportedData, "the MRCI stream is carried in binary messages")
				return 0, errors.New("web: text message on the MRCI stream")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue // an empty message, or the end of one
			}
			return n, nil
		}
		return n, err
	}
}

// Write implements net.Conn: p becomes one binary message.
func (c *streamConn) Write(p []byte) (int, error) {
	if c.closing.Load() {
		return 0, net.ErrClosed
	}
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close implements net.Conn: it starts the closing handshake (status 1000)
// and returns.
func (c *streamConn) Close() error {
	c.closeWith(websocket.StatusNormalClosure, "")
	return nil
}

// closeWith starts the closing handshake with code and reason once; later
// calls do nothing.
func (c *streamConn) closeWith(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.closing.Store(true)
		go func() {
			defer close(c.done)
			// The library sends the close frame and waits at most 5 s for
			// the peer's (and for a read in progress), then closes the
			// connection, which ends any read or write still blocked.
			_ = c.ws.Close(code, reason)
		}()
	})
}

// LocalAddr implements net.Conn.
func (c *streamConn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr implements net.Conn.
func (c *streamConn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline implements net.Conn.
func (c *streamConn) SetDeadline(t time.Time) error {
	if err := c.raw.SetDeadline(t); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *streamConn) SetReadDeadline(t time.Time) error {
	if err := c.raw.SetReadDeadline(t); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *streamConn) SetWriteDeadline(t time.Time) error {
	if err := c.raw.SetWriteDeadline(t); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return nil
}
