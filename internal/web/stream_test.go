package web_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/web"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// rawSession speaks the wire protocol by hand over a stream (a TCP
// connection, or the console's WebSocket as web.Dial returns it, where
// every Write is one WebSocket message), so a test decides where message
// boundaries fall.
type rawSession struct {
	t    *testing.T
	conn net.Conn
	r    *wire.Reader
	hdr  wire.HostHeader
	cmds map[string]uint16
	got  []wire.Frame // every frame read, in order
}

// startRaw sends the client header in the given pieces (one Write each)
// and reads the host header.
func startRaw(t *testing.T, conn net.Conn, pieces ...int) *rawSession {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	s := &rawSession{t: t, conn: conn, r: wire.NewReader(conn, 0), cmds: map[string]uint16{}}
	s.write(wire.ClientHeader{AppName: "stream test", CommonName: "127.0.0.1"}.Marshal(), pieces...)
	var hb [wire.HostHeaderLen]byte
	if _, err := io.ReadFull(conn, hb[:]); err != nil {
		t.Fatalf("host header: %v", err)
	}
	hdr, err := wire.ParseHostHeader(hb[:])
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Reply != wire.ReplyPlain {
		t.Fatalf("host header reply %d, want %d (plaintext on loopback)", hdr.Reply, wire.ReplyPlain)
	}
	s.hdr = hdr
	return s
}

// write sends b: first the given piece lengths, one Write each, then the
// rest in one Write.
func (s *rawSession) write(b []byte, pieces ...int) {
	s.t.Helper()
	for _, n := range pieces {
		if _, err := s.conn.Write(b[:n]); err != nil {
			s.t.Fatal(err)
		}
		b = b[n:]
	}
	if len(b) > 0 {
		if _, err := s.conn.Write(b); err != nil {
			s.t.Fatal(err)
		}
	}
}

// next reads one frame and keeps the command table.
func (s *rawSession) next() wire.Frame {
	s.t.Helper()
	f, err := s.r.ReadFrame()
	if err != nil {
		s.t.Fatalf("read frame: %v (after %d frames)", err, len(s.got))
	}
	s.got = append(s.got, f)
	if f.Type == wire.TypeNewCmd {
		if nc, err := wire.ParseNewCmd(f.Payload); err == nil {
			s.cmds[nc.Name] = nc.ID
		}
	}
	return f
}

// until reads frames until match returns true.
func (s *rawSession) until(match func(wire.Frame) bool) wire.Frame {
	s.t.Helper()
	for {
		if f := s.next(); match(f) {
			return f
		}
	}
}

// id waits until the host has announced the command and returns its id.
func (s *rawSession) id(name string) uint16 {
	s.t.Helper()
	for {
		if id, ok := s.cmds[name]; ok {
			return id
		}
		s.next()
	}
}

// frame encodes a frame for command name (branch 0).
func (s *rawSession) frame(name string, typ wire.TypeID, payload []byte) []byte {
	s.t.Helper()
	return wire.EncodeFrame(wire.Frame{Type: typ, Cmd: s.id(name), Payload: payload})
}

// call sends a TEXT frame to a command (in the given pieces) and reads
// until its IDLE, failing on ERR.
func (s *rawSession) call(name, args string, pieces ...int) {
	s.t.Helper()
	id := s.id(name)
	s.write(s.frame(name, wire.TypeText, wire.EncodeText(args)), pieces...)
	s.until(func(f wire.Frame) bool {
		if f.Cmd == id && f.Type == wire.TypeErr {
			s.t.Fatalf("%s %s: %s", name, args, wire.DecodeText(f.Payload))
		}
		return f.Cmd == id && f.Type == wire.TypeIdle
	})
}

// login logs in as root, the auth frames split at the given points.
func (s *rawSession) login(pieces ...int) {
	s.t.Helper()
	auth := s.id("auth")
	s.write(s.frame("auth", wire.TypeText, wire.EncodeText("-user root")), pieces...)
	s.until(func(f wire.Frame) bool { return f.Cmd == auth && f.Type == wire.TypePrivText })
	s.write(s.frame("auth", wire.TypeText, wire.EncodeText(hosttest.RootPassword)), pieces...)
	granted := false
	s.until(func(f wire.Frame) bool {
		if f.Cmd == auth && f.Type == wire.TypeErr {
			s.t.Fatalf("auth: %s", wire.DecodeText(f.Payload))
		}
		granted = granted || (f.Cmd == auth && strings.Contains(wire.DecodeText(f.Payload), "Access granted"))
		return f.Cmd == auth && f.Type == wire.TypeIdle
	})
	if !granted {
		s.t.Fatal("auth ended without access")
	}
}

// dialWeb opens the console's MRCI WebSocket as the page does.
func dialWeb(t *testing.T, c *console) net.Conn {
	t.Helper()
	conn, err := web.Dial(hosttest.Ctx(t, 30*time.Second), c.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// castPayload is the i-th test cast: distinct, of n bytes.
func castPayload(i, n int) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i*7 + j*13 + j>>8)
	}
	copy(p, fmt.Sprintf("cast %04d", i))
	return p
}

// WebSocket message boundaries mean nothing on the MRCI stream: a client
// header over three messages, frames split inside their header and their
// payload, 200 frames in one message and a 1 MiB frame over four messages
// all reach a TCP receiver byte for byte and in order; and the host's own
// messages (casts from TCP, one of 1 MiB) parse as the same frames.
func TestMessageBoundariesCarryNoMeaning(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	ctx := hosttest.Ctx(t, 60*time.Second)
	tcp, err := client.Dial(ctx, h.Addr, client.Options{PinnedCert: string(h.Cert.CertPEM), AsyncBuffer: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if err := tcp.Login(ctx, "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	for _, step := range [][2]string{
		{"add_ch", "-ch_name streams"},
		{"add_sub_ch", "-ch_name streams -sub_name main"},
		{"open_sub_ch", "-ch_name streams -sub_name main"},
	} {
		res, err := tcp.Run(ctx, step[0], step[1])
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			t.Fatalf("%s: %v", step[0], err)
		}
	}

	s := startRaw(t, dialWeb(t, c), 1, 199) // the client header in 3 messages
	s.login(3, 9)                           // frame header split, then the payload split
	s.call("open_sub_ch", "-ch_name streams -sub_name main", 8)

	// Browser → host.
	var want [][]byte
	var many []byte
	for i := range 200 {
		p := castPayload(i, 16+i)
		want = append(want, p)
		many = append(many, s.frame("cast", wire.TypeBytes, p)...)
	}
	s.write(many) // 200 frames, one message
	split := castPayload(200, 300)
	want = append(want, split)
	s.write(s.frame("cast", wire.TypeBytes, split), 5, 100) // header | header+payload | payload
	large := castPayload(201, 1<<20)
	want = append(want, large)
	s.write(s.frame("cast", wire.TypeBytes, large), 1, 7, 100_000)

	for i, w := range want {
		f := nextCast(ctx, t, tcp)
		if f.Type != wire.TypeBytes || !bytes.Equal(f.Payload, w) {
			t.Fatalf("TCP receiver: cast %d = %s %d bytes %.12q, want BYTES %d bytes %.12q", i, f.Type, len(f.Payload), f.Payload, len(w), w)
		}
	}

	// Host → browser.
	castID, _ := tcp.CommandID("cast")
	call, err := tcp.StartID(castID)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	want = want[:0]
	for i := range 200 {
		want = append(want, castPayload(1000+i, 20+i))
	}
	want = append(want, castPayload(2000, 1<<20))
	for _, p := range want {
		if err := call.Send(wire.TypeBytes, p); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range want {
		f := s.until(func(f wire.Frame) bool { return f.Cmd == uint16(wire.AsyncCast) })
		if f.Type != wire.TypeBytes || !bytes.Equal(f.Payload, w) {
			t.Fatalf("web receiver: cast %d = %s %d bytes %.12q, want BYTES %d bytes %.12q", i, f.Type, len(f.Payload), f.Payload, len(w), w)
		}
	}
}

// nextCast returns the next cast a client receives.
func nextCast(ctx context.Context, t *testing.T, c *client.Client) wire.Frame {
	t.Helper()
	for {
		select {
		case f, ok := <-c.Async():
			if !ok {
				t.Fatalf("TCP receiver: connection ended: %v", c.Err())
			}
			if f.Cmd == uint16(wire.AsyncCast) {
				return f
			}
		case <-ctx.Done():
			t.Fatal("TCP receiver: no cast arrived")
		}
	}
}

// pkg/client runs over the console's WebSocket (client.Options.DialContext
// with web.Dial) exactly as over TCP, the way mrcibench --web uses it.
func TestClientOverWebSocket(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	ctx := hosttest.Ctx(t, 60*time.Second)
	wc, err := client.Dial(ctx, "console:0", client.Options{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return web.Dial(ctx, c.URL, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	if wc.Encrypted() {
		t.Fatal("MRCI-level TLS inside a loopback WebSocket")
	}
	if err := wc.Login(ctx, "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	res, err := wc.Run(ctx, "my_info", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text(), "root") {
		t.Fatalf("my_info over the WebSocket: %q, want the user name", res.Text())
	}
	if got := loadLine(t, h); !strings.HasPrefix(got, "Load: 2/") {
		t.Fatalf("host_info %q, want Load: 2/... (the WebSocket client and root over TCP)", got)
	}
}

// The same commands give the same bytes over the console's WebSocket as
// over TCP: host header, the anonymous command list, the login with its
// prompts, MY_INFO, the command list of root and the output of commands.
// Only the session id differs (it is masked, in binary and in hex text,
// before comparing).
func TestSameBytesAsTCP(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	script := func(conn net.Conn) []byte {
		s := startRaw(t, conn)
		s.login()
		s.call("my_info", "")
		s.call("ls_chs", "")
		s.call("ls_users", "")
		var out bytes.Buffer
		out.Write(s.hdr.Marshal())
		for _, f := range s.got {
			out.Write(wire.EncodeFrame(f))
		}
		b := bytes.ReplaceAll(out.Bytes(), s.hdr.SessionID[:], make([]byte, len(s.hdr.SessionID)))
		// my_info shows it in hex.
		hexID := wire.EncodeText(hex.EncodeToString(s.hdr.SessionID[:]))
		return bytes.ReplaceAll(b, hexID, bytes.Repeat([]byte("x\x00"), len(hexID)/2))
	}
	tcp, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	overTCP := script(tcp)
	overWeb := script(dialWeb(t, c))
	if !bytes.Equal(overTCP, overWeb) {
		at := 0
		for at < min(len(overTCP), len(overWeb)) && overTCP[at] == overWeb[at] {
			at++
		}
		t.Fatalf("TCP %d bytes, WebSocket %d bytes; first difference at byte %d:\nTCP %q\nweb %q",
			len(overTCP), len(overWeb), at, overTCP[max(0, at-40):min(len(overTCP), at+80)], overWeb[max(0, at-40):min(len(overWeb), at+80)])
	}
}

// When the host ends a session, the browser gets the rest of the stream
// and then a normal closure (status 1000), not a torn connection.
func TestSessionEndIsNormalClosure(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	s := startRaw(t, dialWeb(t, c))
	s.id("auth") // the session is running
	h.Stop()
	for {
		f, err := s.r.ReadFrame()
		if err == io.EOF {
			break // websocket.NetConn reports status 1000 (and 1001) as io.EOF
		}
		if err != nil {
			t.Fatalf("after %d frames: %v, want the host's close frame (status 1000)", len(s.got), err)
		}
		s.got = append(s.got, f)
	}
}

// The MRCI stream is binary: a text message ends the session with status
// 1003 (unsupported data), and the session is gone from Load.
func TestTextMessageRefused(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	ctx := hosttest.Ctx(t, 30*time.Second)
	ws, _, err := websocket.Dial(ctx, c.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {c.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageBinary, wire.ClientHeader{AppName: "text test", CommonName: "127.0.0.1"}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue // the host header and the anonymous command list
		}
		if got := websocket.CloseStatus(err); got != websocket.StatusUnsupportedData {
			t.Fatalf("after a text message: %v (status %v), want close status %v", err, got, websocket.StatusUnsupportedData)
		}
		break
	}
	// The close frame goes out as the session starts ending; wait for the
	// end (the deadline is only a safety net).
	for h.SessionCount() != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("the session did not end: %d sessions", h.SessionCount())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got := loadLine(t, h); !strings.HasPrefix(got, "Load: 1/") {
		t.Fatalf("host_info %q, want only the root session", got)
	}
}
