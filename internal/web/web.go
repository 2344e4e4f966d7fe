// Package web serves the MRCI web console: a page (HTML, CSS and
// JavaScript modules embedded in the binary) and a WebSocket endpoint that
// carries the MRCI byte stream itself. Each WebSocket is handed to the host
// as one more connection (Connector.ServeConn), so a browser tab is an
// ordinary MRCI session: same client header, admission rules, limits,
// commands, asyncs and logs as a TCP client. The browser speaks the wire
// protocol in JavaScript (static/wire.js).
package web

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

//go:embed static
var static embed.FS

// Connector is what the console needs from the host: run one MRCI
// connection to its end. secured tells the host that the transport already
// encrypts and authenticates (HTTPS, or loopback), so no MRCI-level TLS is
// negotiated inside it.
type Connector interface {
	ServeConn(ctx context.Context, conn net.Conn, remote netip.AddrPort, secured bool) error
}

// ContentSecurityPolicy is sent with every response: only the page's own
// scripts, styles and WebSocket, no inline code, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// WebSocketPath is the endpoint the page opens its MRCI stream on.
const WebSocketPath = "/mrci"

// Handler serves the console.
type Handler struct {
	host Connector
	log  *slog.Logger
	mux  *http.ServeMux
	ctx  context.Context // ends every WebSocket session when cancelled

	mu       sync.Mutex
	stopping bool           // Wait was called: no new sessions
	wg       sync.WaitGroup // running WebSocket sessions
}

// NewHandler returns the console's HTTP handler. ctx bounds every session
// it starts: cancelling it ends them (the host's own shutdown ends them too).
func NewHandler(ctx context.Context, host Connector, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{host: host, log: log, mux: http.NewServeMux(), ctx: ctx}
	assets, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	h.mux.Handle("GET /", http.FileServerFS(assets))
	h.mux.HandleFunc("GET "+WebSocketPath, h.serveWebSocket)
	return h
}

// ServeHTTP adds the security headers and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.TLS == nil && !loopbackHost(r.Host) {
		// Plain HTTP is only served on loopback; a foreign Host name there
		// means a DNS-rebinding page is talking to us.
		http.Error(w, "forbidden host name", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a Host header names the loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// sameOrigin reports whether the request's Origin is the page's own origin
// (scheme, host and port). A missing Origin is refused: every browser sends
// one with a WebSocket handshake, and other clients can set it.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host) && u.Path == "" && u.User == nil
}

// Wait waits until every WebSocket session the handler started has ended
// (cancel the handler's context first); WebSockets opened afterwards are
// refused.
func (h *Handler) Wait() {
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	h.wg.Wait()
}

// started counts a session in; false once Wait was called.
func (h *Handler) started() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		h.log.Info("web: refused WebSocket from a foreign origin", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "cross-origin WebSocket refused", http.StatusForbidden)
		return
	}
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		http.Error(w, "bad remote address", http.StatusBadRequest)
		return
	}
	if h.ctx.Err() != nil || !h.started() {
		http.Error(w, "the console is shutting down", http.StatusServiceUnavailable)
		return
	}
	// The origin was checked above, exactly; the library's own host-only
	// check would be weaker, so it is not used. No compression: MRCI
	// frames are mostly small, and a deflate context costs far more
	// memory per session than the session itself.
	hj := &smallHijacker{ResponseWriter: w}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		h.wg.Done()
		return // Accept has answered the request
	}
	// HTTPS authenticates this host and encrypts the stream, and a loopback
	// connection never leaves the machine: either way MRCI's own TLS step
	// would add nothing (docs/web.md, "Security model").
	secured := r.TLS != nil || remote.Addr().Unmap().IsLoopback()
	// The session runs in a goroutine of its own, so this one (with its
	// deep net/http stack), the request and net/http's connection state are
	// released now: an idle browser session then holds what a TCP session
	// holds plus the WebSocket's small state.
	go h.serveSession(newStreamConn(ws, hj.conn), remote, secured)
}

// serveSession runs one console session to its end and waits for the
// WebSocket's closing handshake.
func (h *Handler) serveSession(conn *streamConn, remote netip.AddrPort, secured bool) {
	defer h.wg.Done()
	if err := h.host.ServeConn(h.ctx, conn, remote, secured); err != nil {
		h.log.Debug("web: session refused", "remote", remote.String(), "err", err)
		conn.closeWith(websocket.StatusTryAgainLater, "refused by the host (session limit or ban)")
	}
	conn.Close() // the host has closed it already, unless it refused it
	<-conn.done
}

// ErrPlainNotLoopback is returned by Serve for plain HTTP on an address
// other than loopback.
var ErrPlainNotLoopback = errors.New("web: plain HTTP is only served on a loopback address; give the console a certificate")

// Serve serves the console on ln until ctx ends, then closes ln and ends
// every console session. With cert nil it serves plain HTTP, which it
// refuses unless ln listens on a loopback address; otherwise HTTPS (TLS 1.2
// or later) with cert.
func Serve(ctx context.Context, ln net.Listener, host Connector, cert *tls.Certificate, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cert == nil {
		ap, err := netip.ParseAddrPort(ln.Addr().String())
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			_ = ln.Close()
			return ErrPlainNotLoopback
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handler := NewHandler(ctx, host, log)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{*cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"}, // WebSockets need HTTP/1.1
		})
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	// Hijacked WebSockets outlive srv.Close: end them and wait.
	cancel()
	handler.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("web: %w", err)
}
