package asynctest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// rawClient is a client built from the wire package only: it reads
// nothing unless asked, so tests can see exact frames and can stall.
type rawClient struct {
	conn     net.Conn
	rw       io.ReadWriter
	r        *wire.Reader
	sid      wire.SessionID
	commands map[string]uint16
	newCmd   map[string][]byte
}

// dialRaw connects, completes the set-up (TLS when the host asks for it),
// and reads ASYNC_RDY and the announced public commands up to the test
// module's "snap". A positive rcvBuf sets SO_RCVBUF before connecting.
func dialRaw(e *env, rcvBuf ...int) (*rawClient, error) {
	d := net.Dialer{Timeout: wait}
	if len(rcvBuf) > 0 {
		size := rcvBuf[0]
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.Dial("tcp", e.h.Addr)
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	if _, err := conn.Write(wire.ClientHeader{AppName: appName, CommonName: "127.0.0.1"}.Marshal()); err != nil {
		return nil, err
	}
	hb := make([]byte, wire.HostHeaderLen)
	if _, err := io.ReadFull(conn, hb); err != nil {
		return nil, err
	}
	hh, err := wire.ParseHostHeader(hb)
	if err != nil {
		return nil, err
	}
	c := &rawClient{conn: conn, rw: conn, sid: hh.SessionID, commands: map[string]uint16{}, newCmd: map[string][]byte{}}
	if hh.Reply == wire.ReplyTLS {
		// HOST_CERT arrives before the handshake; nothing else is sent
		// until the ClientHello, so an unbuffered read of one frame is safe.
		fh := make([]byte, wire.FrameHeaderLen)
		if _, err := io.ReadFull(conn, fh); err != nil {
			return nil, err
		}
		h, _ := wire.ParseFrameHeader(fh)
		if _, err := io.ReadFull(conn, make([]byte, h.Len)); err != nil {
			return nil, err
		}
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) // pinning is pkg/client's job
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		c.rw = tc
	}
	c.r = wire.NewReader(c.rw, 0)
	f, err := c.r.ReadFrame()
	if err != nil {
		return nil, err
	}
	if f.Cmd != uint16(wire.AsyncRdy) {
		return nil, fmt.Errorf("first frame %s, want ASYNC_RDY", fmtFrame(f))
	}
	for c.commands["snap"] == 0 {
		f, err := c.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		if f.Cmd == uint16(wire.AsyncAddCmd) {
			nc, err := wire.ParseNewCmd(f.Payload)
			if err != nil {
				return nil, err
			}
			c.commands[nc.Name] = nc.ID
			c.newCmd[nc.Name] = f.Payload
		}
	}
	return c, nil
}

// send writes one frame.
func (c *rawClient) send(t wire.TypeID, cmd uint16, payload []byte) error {
	b, err := wire.AppendFrame(nil, wire.Frame{Type: t, Cmd: cmd, Payload: payload})
	if err != nil {
		return err
	}
	_, err = c.rw.Write(b)
	return err
}

// runCmd sends one frame to a command and reads up to its IDLE, returning
// every frame read on the way (async frames included).
func (c *rawClient) runCmd(name string, t wire.TypeID, payload []byte) ([]wire.Frame, error) {
	id, ok := c.commands[name]
	if !ok {
		return nil, fmt.Errorf("no command %s", name)
	}
	if err := c.send(t, id, payload); err != nil {
		return nil, err
	}
	var out []wire.Frame
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, f)
		if f.Cmd == id && f.Type == wire.TypeIdle {
			return out, nil
		}
	}
}

// emit runs the test module's emit command.
func (c *rawClient) emit(mode wire.TypeID, id wire.AsyncID, data []byte) ([]wire.Frame, error) {
	return c.runCmd("emit", wire.TypeBytes, emitPayload(mode, id, data))
}
