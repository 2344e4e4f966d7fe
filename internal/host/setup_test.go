package host_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/wire"
)

// rawConn is a client written with nothing but the wire package, so tests
// can check exact bytes and misbehave on purpose.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	rw   io.ReadWriter
	r    *wire.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, conn: c, rw: c}
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.rw.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) readN(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rw, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func (c *rawConn) frame() wire.Frame {
	c.t.Helper()
	if c.r == nil {
		c.r = wire.NewReader(c.rw, 0)
	}
	f, err := c.r.ReadFrame()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

// handshake sends a client header and returns the host header.
func (c *rawConn) handshake(app, cn string) wire.HostHeader {
	c.t.Helper()
	c.write(wire.ClientHeader{AppName: app, CommonName: cn}.Marshal())
	h, err := wire.ParseHostHeader(c.readN(wire.HostHeaderLen))
	if err != nil {
		c.t.Fatal(err)
	}
	return h
}

// untilIdle reads frames up to an IDLE on cmd, collecting the others, and
// returns the command table announced on the way.
func (c *rawConn) collectCommands(names ...string) map[string]uint16 {
	c.t.Helper()
	cmds := map[string]uint16{}
	for {
		missing := false
		for _, n := range names {
			if _, ok := cmds[n]; !ok {
				missing = true
			}
		}
		if !missing {
			return cmds
		}
		f := c.frame()
		if f.Cmd == uint16(wire.AsyncAddCmd) {
			nc, err := wire.ParseNewCmd(f.Payload)
			if err != nil {
				c.t.Fatal(err)
			}
			cmds[nc.Name] = nc.ID
		}
	}
}

func readyFrame() []byte {
	return wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: 1, Payload: wire.EncodeText("\nReady!\n\n")})
}

func TestLoopbackPlaintextSetup(t *testing.T) {
	h := hosttest.Start(t)
	c := dialRaw(t, h.Addr)
	hdr := c.handshake("Cmdr v2.2.0", "127.0.0.1")
	if hdr.Reply != wire.ReplyPlain || hdr.Version != (wire.HostVersion{Major: 2, Minor: 0, Patch: 2}) {
		t.Fatalf("host header = %+v, want reply 1 version 2.0.2", hdr)
	}
	if hdr.SessionID.IsZero() {
		t.Fatal("session id is zero")
	}
	want := readyFrame()
	if got := c.readN(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("first frame = % x, want ASYNC_RDY % x", got, want)
	}
	cmds := c.collectCommands("auth", "my_info")
	if _, ok := cmds["ls_users"]; ok {
		t.Fatal("ls_users announced to an anonymous session")
	}
	if cmds["auth"] < 256 || cmds["my_info"] < 256 {
		t.Fatalf("command ids %v below 256", cmds)
	}
}

func TestForceTLSSetupSendsHostCertThenTLS(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	c := dialRaw(t, h.Addr)
	hdr := c.handshake("Cmdr v2.2.0", "localhost")
	if hdr.Reply != wire.ReplyTLS {
		t.Fatalf("reply = %d, want 2", hdr.Reply)
	}
	// Exactly one plaintext frame: HOST_CERT on ASYNC_SYS_MSG, branch 0.
	fh := c.readN(wire.FrameHeaderLen)
	h8, _ := wire.ParseFrameHeader(fh)
	if h8.Type != wire.TypeHostCert || h8.Cmd != 2 || h8.Branch != 0 {
		t.Fatalf("plaintext frame header = %+v, want HOST_CERT on cmd 2 branch 0", h8)
	}
	pemBytes := c.readN(h8.Len)
	if !bytes.Equal(pemBytes, h.Cert.CertPEM) {
		t.Fatal("HOST_CERT payload is not the host certificate")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tc := tls.Client(c.conn, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	c.rw = tc
	want := readyFrame()
	if got := c.readN(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("first TLS frame = % x, want ASYNC_RDY", got)
	}
	c.collectCommands("auth", "my_info")
}

func TestBadTagClosesWithoutReply(t *testing.T) {
	h := hosttest.Start(t)
	c := dialRaw(t, h.Addr)
	hdr := wire.ClientHeader{AppName: "x"}.Marshal()
	copy(hdr, "MRCX")
	c.write(hdr)
	b := make([]byte, 1)
	if n, err := c.conn.Read(b); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after bad tag = %d, %v; want EOF with nothing sent", n, err)
	}
}

func TestHeaderTimeoutClosesIdleConnection(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{HeaderTimeout: 200 * time.Millisecond})
	c := dialRaw(t, h.Addr)
	c.write([]byte("MRCI")) // and nothing more
	b := make([]byte, 1)
	start := time.Now()
	if n, err := c.conn.Read(b); n != 0 || err == nil {
		t.Fatalf("read = %d, %v; want the host to close", n, err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("connection was not closed by the header deadline")
	}
}

func TestBytesSentRightAfterHeaderAreNotLost(t *testing.T) {
	h := hosttest.Start(t)
	c := dialRaw(t, h.Addr)
	early := wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: 300, Branch: 7})
	c.write(append(wire.ClientHeader{AppName: "eager"}.Marshal(), early...))
	c.readN(wire.HostHeaderLen)
	for {
		f := c.frame()
		if f.Cmd == 300 {
			if f.Type != wire.TypeErr || f.Branch != 7 || wire.DecodeText(f.Payload) != "err: No such command id: 300." {
				t.Fatalf("reply = %v %q", f.Type, wire.DecodeText(f.Payload))
			}
			return
		}
	}
}

func TestMalformedInputGetsRepliesAndSessionCarriesOn(t *testing.T) {
	lim := session.DefaultLimits
	lim.MaxPayload = 1024
	h := hosttest.StartWith(t, hosttest.Options{Limits: lim})
	bystander := h.Root(t)
	c := dialRaw(t, h.Addr)
	c.handshake("bad", "")
	cmds := c.collectCommands("auth", "my_info")

	expect := func(want ...wire.Frame) {
		t.Helper()
		for _, w := range want {
			var f wire.Frame
			for {
				f = c.frame()
				if f.Cmd >= 256 || f.Cmd == w.Cmd { // skip async announcements
					break
				}
			}
			if f.Type != w.Type || f.Cmd != w.Cmd || f.Branch != w.Branch || (w.Payload != nil && !bytes.Equal(f.Payload, w.Payload)) {
				t.Fatalf("got %v cmd %d branch %d %q; want %v cmd %d branch %d %q", f.Type, f.Cmd, f.Branch,
					wire.DecodeText(f.Payload), w.Type, w.Cmd, w.Branch, wire.DecodeText(w.Payload))
			}
		}
	}
	idle := func(cmd, branch uint16) wire.Frame {
		return wire.Frame{Type: wire.TypeIdle, Cmd: cmd, Branch: branch, Payload: []byte{}}
	}

	// Unknown command id (an async id, and an unassigned one).
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: 4, Branch: 1}))
	expect(wire.Frame{Type: wire.TypeErr, Cmd: 4, Branch: 1, Payload: wire.EncodeText("err: No such command id: 4.")}, idle(4, 1))
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: 65000}))
	expect(wire.Frame{Type: wire.TypeErr, Cmd: 65000, Payload: wire.EncodeText("err: No such command id: 65000.")}, idle(65000, 0))

	// Oversize payload: answered, skipped, and the stream stays in step.
	big := make([]byte, 2000)
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: cmds["my_info"], Branch: 2, Payload: big}))
	f := c.frame()
	for f.Cmd < 256 {
		f = c.frame()
	}
	if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "exceeds this host's limit of 1024 bytes") {
		t.Fatalf("oversize reply = %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	expect(idle(cmds["my_info"], 2))

	// A type the command does not take: only IDLE.
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeBytes, Cmd: cmds["my_info"], Branch: 3, Payload: []byte{1, 2, 3}}))
	expect(idle(cmds["my_info"], 3))

	// Invalid UTF-16 (unpaired surrogate, odd length) is decoded robustly.
	bad := []byte{0x00, 0xD8, '-', 0, 'u', 0, 's', 0, 'e', 0, 'r', 0, ' ', 0, 'x'}
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: cmds["auth"], Branch: 4, Payload: bad}))
	expect(wire.Frame{Type: wire.TypeErr, Cmd: cmds["auth"], Branch: 4, Payload: wire.EncodeText("err: -user/-email missing, empty or invalid\n")}, idle(cmds["auth"], 4))

	// Control frames for an instance that is not running start nothing.
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeTermCmd, Cmd: cmds["my_info"], Branch: 9}))
	// The session still works.
	c.write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: cmds["my_info"], Branch: 5}))
	f = c.frame()
	for f.Cmd < 256 {
		f = c.frame()
	}
	if f.Branch != 5 || !strings.Contains(wire.DecodeText(f.Payload), "App Name:       bad") {
		t.Fatalf("my_info after malformed input: branch %d %q", f.Branch, wire.DecodeText(f.Payload))
	}

	// A frame cut off mid-payload ends only this session.
	hdr := wire.AppendFrameHeader(nil, wire.TypeText, cmds["my_info"], 0, 100)
	c.write(append(hdr, 1, 2, 3))
	_ = c.conn.Close()
	res, err := bystander.Run(hosttest.Ctx(t, 10*time.Second), "my_info", "")
	if err != nil || !strings.Contains(res.Text(), "User Name:      root") {
		t.Fatalf("bystander my_info: %v %q", err, res.Text())
	}
}

func TestSessionLimitAndBans(t *testing.T) {
	h := hosttest.Start(t)
	ctx := hosttest.Ctx(t, 10*time.Second)
	h.SetMaxSessions(1)
	first := h.Dial(t)
	c := dialRaw(t, h.Addr)
	c.write(wire.ClientHeader{AppName: "second"}.Marshal())
	if _, err := c.conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("second session admitted over the limit of 1")
	}
	_ = first.Close()
	h.SetMaxSessions(100)
	if err := h.Store.AddBan(ctx, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	h.ReloadBans()
	c = dialRaw(t, h.Addr)
	c.write(wire.ClientHeader{AppName: "banned"}.Marshal())
	if _, err := c.conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("banned address admitted")
	}
	if err := h.Store.RemoveBan(ctx, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	h.ReloadBans()
	h.Dial(t)
	s, err := h.Store.Settings(ctx)
	if err != nil || s.MaxSessions != 100 {
		t.Fatalf("max sessions setting = %d, %v; want 100 stored", s.MaxSessions, err)
	}
}
