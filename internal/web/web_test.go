package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/web"
	"github.com/mrci/mrci/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// console is a web console started on 127.0.0.1:0 for one test.
type console struct {
	URL  string // http(s)://127.0.0.1:port
	host *hosttest.Host
}

// startConsole serves the console of h (HTTPS when cert is set) until the
// test ends, and waits for its sessions to end then.
func startConsole(t *testing.T, h *hosttest.Host, cert *tls.Certificate) *console {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, ln, h.Host, cert, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("web.Serve: %v", err)
		}
	})
	scheme := "http"
	if cert != nil {
		scheme = "https"
	}
	return &console{URL: scheme + "://" + ln.Addr().String(), host: h}
}

// wsURL is the console's WebSocket endpoint.
func (c *console) wsURL() string {
	return strings.Replace(c.URL, "http", "ws", 1) + web.WebSocketPath
}

// dialMRCI opens a WebSocket with the given Origin, sends the client header
// and returns the MRCI stream and the host header.
func dialMRCI(t *testing.T, c *console, client *http.Client) (net.Conn, wire.HostHeader) {
	t.Helper()
	ctx := hosttest.Ctx(t, 30*time.Second)
	ws, _, err := websocket.Dial(ctx, c.wsURL(), &websocket.DialOptions{
		HTTPClient: client,
		HTTPHeader: http.Header{"Origin": {c.URL}},
	})
	if err != nil {
		t.Fatalf("dial %s: %v", c.wsURL(), err)
	}
	conn := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(wire.ClientHeader{AppName: "web test", CommonName: "127.0.0.1"}.Marshal()); err != nil {
		t.Fatal(err)
	}
	var hb [wire.HostHeaderLen]byte
	if _, err := io.ReadFull(conn, hb[:]); err != nil {
		t.Fatalf("host header: %v", err)
	}
	hdr, err := wire.ParseHostHeader(hb[:])
	if err != nil {
		t.Fatal(err)
	}
	return conn, hdr
}

// readUntil reads frames until one matches and returns the frames read.
func readUntil(t *testing.T, r *wire.Reader, match func(wire.Frame) bool) []wire.Frame {
	t.Helper()
	var got []wire.Frame
	for {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v (after %d frames)", err, len(got))
		}
		got = append(got, f)
		if match(f) {
			return got
		}
	}
}

// loadLine runs host_info over TCP as root and returns its Load line.
func loadLine(t *testing.T, h *hosttest.Host) string {
	t.Helper()
	root := h.Root(t)
	res, err := root.Run(hosttest.Ctx(t, 30*time.Second), "host_info", "")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(res.Text(), "\n") {
		if strings.HasPrefix(l, "Load:") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	t.Fatalf("no Load line in %q", res.Text())
	return ""
}

// A WebSocket carries the MRCI stream: host header with reply 1, ASYNC_RDY,
// the public commands, and the session counts in host_info's Load.
func TestWebSocketIsAnMRCISession(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	conn, hdr := dialMRCI(t, c, nil)
	if hdr.Reply != wire.ReplyPlain || hdr.Version != wire.Version {
		t.Fatalf("host header = %+v, want reply 1 and version %s", hdr, wire.Version)
	}
	r := wire.NewReader(conn, 0)
	cmds := map[string]bool{}
	readUntil(t, r, func(f wire.Frame) bool {
		if f.Type == wire.TypeNewCmd {
			nc, err := wire.ParseNewCmd(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			cmds[nc.Name] = true
		}
		return f.Cmd == uint16(wire.AsyncRdy)
	})
	// The loop handles ASYNC_RDY before the command list: read until auth.
	if !cmds["auth"] {
		readUntil(t, r, func(f wire.Frame) bool {
			nc, err := wire.ParseNewCmd(f.Payload)
			return f.Type == wire.TypeNewCmd && err == nil && nc.Name == "auth"
		})
	}
	// The root TCP session and the browser's.
	if got := loadLine(t, h); !strings.HasPrefix(got, "Load: 2/") {
		t.Fatalf("host_info %q, want Load: 2/... (TCP root + web session)", got)
	}
}

// The host's ban list applies to WebSocket sessions as to TCP ones.
func TestWebSocketBanned(t *testing.T) {
	h := hosttest.Start(t)
	if err := h.Store.AddBan(context.Background(), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	h.ReloadBans()
	c := startConsole(t, h, nil)
	ctx := hosttest.Ctx(t, 30*time.Second)
	ws, _, err := websocket.Dial(ctx, c.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {c.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, _, err = ws.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusTryAgainLater {
		t.Fatalf("read on a banned session: %v (status %v), want close status %v", err, got, websocket.StatusTryAgainLater)
	}
}

// A WebSocket from another origin, or without one, is refused with 403
// before any session exists.
func TestForeignOriginRefused(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	for _, origin := range []string{"http://evil.example", "https://" + strings.TrimPrefix(c.URL, "http://"), ""} {
		ctx := hosttest.Ctx(t, 30*time.Second)
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		ws, resp, err := websocket.Dial(ctx, c.wsURL(), &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil {
			ws.CloseNow()
			t.Fatalf("origin %q: WebSocket accepted", origin)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q: got %v, %v; want 403", origin, resp, err)
		}
	}
	if got := loadLine(t, h); !strings.HasPrefix(got, "Load: 1/") {
		t.Fatalf("host_info %q, want only the root session", got)
	}
}

// Every response carries the strict CSP; plain HTTP refuses Host names
// that are not loopback (DNS rebinding).
func TestPageHeaders(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	resp, err := http.Get(c.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("GET / = %d with headers %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(string(body), `<script type="module" src="app.js">`) || strings.Contains(string(body), "<script>") {
		t.Fatalf("index.html does not load app.js as its only script:\n%s", body)
	}
	req, _ := http.NewRequest("GET", c.URL+"/", nil)
	req.Host = "rebound.example:8080"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET with Host rebound.example: %d, want 403", resp.StatusCode)
	}
}

// With a certificate the console is HTTPS/WSS only, and the MRCI stream
// inside it has no second TLS layer (reply 1).
func TestHTTPS(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, &h.Cert.TLS)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.Cert.CertPEM)
	cn := h.Cert.TLS.Leaf
	if cn == nil {
		var err error
		if cn, err = x509.ParseCertificate(h.Cert.TLS.Certificate[0]); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: cn.Subject.CommonName, MinVersion: tls.VersionTLS12,
	}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(c.URL + "/")
	if err != nil {
		t.Fatalf("GET over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS header over HTTPS")
	}
	_, hdr := dialMRCI(t, c, client)
	if hdr.Reply != wire.ReplyPlain {
		t.Fatalf("reply %d inside WSS, want 1", hdr.Reply)
	}
	// Plain HTTP on the HTTPS port gets no page.
	if resp, err := http.Get(strings.Replace(c.URL, "https", "http", 1) + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the HTTPS console")
		}
	}
}

// Plain HTTP is refused on an address other than loopback.
func TestPlainNeedsLoopback(t *testing.T) {
	h := hosttest.Start(t)
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on 0.0.0.0: %v", err)
	}
	if err := web.Serve(context.Background(), ln, h.Host, nil, nil); !errors.Is(err, web.ErrPlainNotLoopback) {
		t.Fatalf("Serve plain on 0.0.0.0: %v, want ErrPlainNotLoopback", err)
	}
}
