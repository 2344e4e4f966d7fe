// Package tlsbuf gathers the records a TLS connection writes into few
// large writes. crypto/tls writes every record (at most 16 KiB of data) to
// its connection with a write of its own, so a 1 MiB write costs 64 write
// system calls; a Conn under the TLS layer collects them while the owner
// of the connection holds it, and writes them in a few calls when it is
// released.
package tlsbuf

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
)

// BufSize is the capacity of the buffer a held Conn gathers records in:
// eight full TLS records with their overhead (TLS 1.2 or 1.3).
const BufSize = 8 * (16<<10 + 64)

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, BufSize); return &b }}

// Conn is a net.Conn for a TLS layer: between Hold and Release, writes
// are gathered in a pooled buffer (written whenever it is full); at other
// times (the handshake, alerts) they go straight through. A Conn that is
// not held holds no buffer.
type Conn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  *[]byte
	err  error // the first failed write while held
}

// New returns c wrapped.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Write implements net.Conn.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.Conn.Write(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	b := *c.buf
	if len(b)+len(p) > cap(b) {
		if len(b) > 0 {
			if _, err := c.Conn.Write(b); err != nil {
				c.err = err
				return 0, err
			}
			b = b[:0]
		}
		if len(p) > cap(b) {
			*c.buf = b
			n, err := c.Conn.Write(p)
			c.err = err
			return n, err
		}
	}
	*c.buf = append(b, p...)
	return len(p), nil
}

// Hold starts gathering writes.
func (c *Conn) Hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		return
	}
	c.held, c.err = true, nil
	c.buf = bufs.Get().(*[]byte)
}

// Release writes what was gathered, returns the buffer to the pool and
// lets later writes through. It reports the first write error since Hold.
func (c *Conn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return nil
	}
	err := c.err
	if b := *c.buf; len(b) > 0 && err == nil {
		_, err = c.Conn.Write(b)
	}
	*c.buf = (*c.buf)[:0]
	bufs.Put(c.buf)
	c.buf, c.held, c.err = nil, false, nil
	return err
}

// Of returns the Conn under w when w is a *tls.Conn over one (nil
// otherwise).
func Of(w io.Writer) *Conn {
	tc, ok := w.(*tls.Conn)
	if !ok {
		return nil
	}
	c, _ := tc.NetConn().(*Conn)
	return c
}
