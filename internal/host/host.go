// Package host runs the MRCI server: it accepts TCP connections, applies
// the admission rules (session limit, IP bans), performs the set-up of
// protocol.md §4-§6 (client header, host header, HOST_CERT and
// client-initiated TLS) with deadlines, and runs a session per connection.
// It also owns host-wide state: the async bus, the ban list, the cached
// command ranks and the module list.
package host

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/cmds"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/wire"
)

// Config configures a Host.
type Config struct {
	Store store.Store
	// DefaultCert serves every common name without a certificate of its
	// own; nil means such clients get reply 4.
	DefaultCert *tlscert.Pair
	// ForceTLS makes loopback clients use TLS too (reply 2).
	ForceTLS bool
	Log      *slog.Logger
	// PasswordParams are the argon2id costs for new password hashes.
	PasswordParams password.Params
	// Version is this implementation's own version string.
	Version string
	// HeaderTimeout bounds the wait for the 410-byte client header.
	HeaderTimeout time.Duration
	// TLSTimeout bounds the TLS handshake.
	TLSTimeout time.Duration
	// Limits are the per-session limits (zero: session.DefaultLimits).
	Limits session.Limits
	// Dir is the initial working directory of sessions.
	Dir string
	// ExtraModules are in-process modules loaded after the internal one
	// (tests use them to drive asyncs whose real trigger lives elsewhere).
	// They are not trusted with privileged asyncs unless TrustExtra is set.
	ExtraModules []module.Module
	TrustExtra   bool
}

// Host is a running MRCI host.
type Host struct {
	cfg      Config
	log      *slog.Logger
	bus      *bus.Bus
	internal module.Module

	maxSessions atomic.Uint32
	live        atomic.Int64

	mu       sync.Mutex
	sessions map[wire.SessionID]*session.Session
	bans     map[netip.Addr]struct{}
	ranks    []store.CommandRank
	ranksOK  bool
	stop     context.CancelFunc
	mods     *externalModules // external modules (modules.go)

	logs    *asyncLog
	metrics *metrics.Metrics
	hashing chan struct{} // bounds concurrent password hashing
}

// New creates a host. Call Serve to accept connections.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PasswordParams == (password.Params{}) {
		cfg.PasswordParams = password.DefaultParams
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = 5 * time.Second
	}
	if cfg.TLSTimeout == 0 {
		cfg.TLSTimeout = 10 * time.Second
	}
	if cfg.Limits == (session.Limits{}) {
		cfg.Limits = session.DefaultLimits
	}
	cfg.Store = newSettingsCache(cfg.Store)
	h := &Host{
		cfg:      cfg,
		log:      cfg.Log,
		bus:      bus.New(),
		internal: cmds.New(),
		sessions: make(map[wire.SessionID]*session.Session),
		logs:     newAsyncLog(cfg.Store, cfg.Log),
		hashing:  make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	h.metrics = metrics.New(func() float64 { return float64(h.live.Load()) },
		func() float64 { return float64(h.bus.Delivered()) })
	s, err := cfg.Store.Settings(ctx)
	if err != nil {
		h.logs.close()
		return nil, fmt.Errorf("host: settings: %w", err)
	}
	h.maxSessions.Store(s.MaxSessions)
	if err := h.loadBans(ctx); err != nil {
		h.logs.close()
		return nil, err
	}
	h.bus.Hook(wire.AsyncCmdRanksChanged, func(*bus.Message) {
		h.mu.Lock()
		h.ranksOK = false
		h.mu.Unlock()
	})
	if h.mods, err = newExternalModules(ctx, h); err != nil {
		h.logs.close()
		return nil, err
	}
	return h, nil
}

// Metrics returns the host's metrics (served by metrics.Handler).
func (h *Host) Metrics() *metrics.Metrics { return h.metrics }

// Bus returns the host's async bus.
func (h *Host) Bus() *bus.Bus { return h.bus }

// Serve accepts connections on ln until ctx is cancelled or a command stops
// the host, then ends every session and returns. It closes ln.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	h.mu.Lock()
	h.stop = cancel
	h.mu.Unlock()
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	var wg sync.WaitGroup
	defer func() {
		h.closeSessions()
		wg.Wait()
		h.logs.close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("host: accept: %w", err)
		}
		remote, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
		if !h.admit(remote.Addr()) {
			_ = conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.live.Add(-1)
			h.handle(ctx, conn, remote, false)
		}()
	}
}

// ErrRefused is returned by ServeConn for a connection the admission rules
// refuse (session limit reached, banned address).
var ErrRefused = errors.New("host: connection refused (session limit or ban)")

// ServeConn runs one MRCI connection that arrived over another transport
// than the host's TCP listener (the web console's WebSockets). It goes
// through exactly what a TCP connection goes through: the admission rules
// for remote's address, the client header, the logs, the session; it
// returns when the session ends, and closes conn. A refused connection is
// left open and ErrRefused returned, so the caller can tell its client why
// in the terms of its transport.
//
// secured says the transport already encrypts the stream and authenticates
// the host to the client (HTTPS/WSS with the host's certificate, or a
// loopback connection): the session then gets reply 1 and no MRCI-level
// HOST_CERT/TLS step, as a loopback TCP client does, whatever the address.
func (h *Host) ServeConn(ctx context.Context, conn net.Conn, remote netip.AddrPort, secured bool) error {
	if !h.admit(remote.Addr()) {
		return ErrRefused
	}
	defer h.live.Add(-1)
	h.handle(ctx, conn, remote, secured)
	return nil
}

// admit applies the session limit and the ban list (host.md §8).
func (h *Host) admit(ip netip.Addr) bool {
	if h.live.Load() >= int64(h.maxSessions.Load()) {
		return false
	}
	if ip.IsValid() {
		h.mu.Lock()
		_, banned := h.bans[ip.Unmap()]
		h.mu.Unlock()
		if banned {
			return false
		}
	}
	h.live.Add(1)
	return true
}

// bufferedConn reads through the buffered reader that consumed the client
// header, so bytes the client sent early are not lost (protocol.md §15.2).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func remoteIP(conn net.Conn, remote netip.AddrPort) (string, netip.Addr) {
	if !remote.IsValid() {
		return conn.RemoteAddr().String(), netip.Addr{}
	}
	a := remote.Addr().Unmap()
	return a.String(), a
}

// handle runs the set-up and the session of an admitted connection;
// secured skips the MRCI-level TLS step (see ServeConn).
func (h *Host) handle(ctx context.Context, conn net.Conn, remote netip.AddrPort, secured bool) {
	defer conn.Close()
	ipText, ip := remoteIP(conn, remote)
	var sid wire.SessionID
	_, _ = rand.Read(sid[:])
	_ = conn.SetDeadline(time.Now().Add(h.cfg.HeaderTimeout))
	br := bufio.NewReaderSize(conn, 4<<10)
	raw := make([]byte, wire.ClientHeaderLen)
	if _, err := io.ReadFull(br, raw); err != nil {
		h.log.Debug("no client header", "ip", ipText, "err", err)
		return
	}
	hdr, err := wire.ParseClientHeader(raw)
	if err != nil {
		h.log.Debug("bad client header", "ip", ipText, "err", err)
		h.logs.activity(store.Activity{IP: ipText, SessionID: sid, Entry: "Session Ended"})
		return
	}
	h.logs.activity(store.Activity{IP: ipText, SessionID: sid, ClientApp: hdr.AppName, Entry: "Session Active"})
	defer h.logs.activity(store.Activity{IP: ipText, SessionID: sid, ClientApp: hdr.AppName, Entry: "Session Ended"})

	reply := wire.HostHeader{Reply: wire.ReplyPlain, Version: wire.Version, SessionID: sid}
	var stream io.ReadWriter = bufferedConn{conn, br}
	var reader io.Reader = br
	if !secured && (!ip.IsLoopback() || h.cfg.ForceTLS) {
		pair := h.certFor(ctx, hdr.CommonName)
		if pair == nil {
			reply.Reply = wire.ReplyNoCert
			_, _ = conn.Write(reply.Marshal())
			return
		}
		reply.Reply = wire.ReplyTLS
		out := reply.Marshal()
		out, _ = wire.AppendFrame(out, wire.Frame{Type: wire.TypeHostCert, Cmd: uint16(wire.AsyncSysMsg), Payload: pair.CertPEM})
		_ = conn.SetDeadline(time.Now().Add(h.cfg.TLSTimeout))
		if _, err := conn.Write(out); err != nil {
			return
		}
		tc := tls.Server(bufferedConn{conn, br}, &tls.Config{
			Certificates: []tls.Certificate{pair.TLS},
			MinVersion:   tls.VersionTLS12,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			h.log.Debug("tls handshake failed", "ip", ipText, "err", err)
			return
		}
		stream, reader = tc, nil
	} else if _, err := conn.Write(reply.Marshal()); err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})

	s := session.New(session.Config{
		ID: sid, Conn: conn, Stream: stream, Reader: reader, IP: ipText, AppName: hdr.AppName,
		Bus: h.bus, Host: h, Store: h.cfg.Store, Log: h.log, Limits: h.cfg.Limits, Dir: h.cfg.Dir,
		Metrics: h.metrics,
	})
	h.metrics.SessionsOpened.Inc()
	h.mu.Lock()
	h.sessions[sid] = s
	h.mu.Unlock()
	s.Run(ctx)
	h.mu.Lock()
	delete(h.sessions, sid)
	h.mu.Unlock()
}

// certFor picks the certificate for a common name: an installed, valid one
// for that name, else the default (decision 5 of the spec README).
func (h *Host) certFor(ctx context.Context, cn string) *tlscert.Pair {
	if cn != "" {
		if c, err := h.cfg.Store.Cert(ctx, cn); err == nil {
			if p, err := tlscert.Parse(c.CertPEM, c.KeyPEM); err == nil && p.Valid(time.Now()) {
				return p
			}
		}
	}
	return h.cfg.DefaultCert
}

func (h *Host) closeSessions() {
	h.mu.Lock()
	all := make([]*session.Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}

func (h *Host) loadBans(ctx context.Context) error {
	list, err := h.cfg.Store.Bans(ctx)
	if err != nil {
		return fmt.Errorf("host: bans: %w", err)
	}
	bans := make(map[netip.Addr]struct{}, len(list))
	for _, b := range list {
		if a, err := netip.ParseAddr(b); err == nil {
			bans[a.Unmap()] = struct{}{}
		}
	}
	h.mu.Lock()
	h.bans = bans
	h.mu.Unlock()
	return nil
}

// Settings returns the current host settings from the store.
func (h *Host) Settings(ctx context.Context) (store.Settings, error) {
	return h.cfg.Store.Settings(ctx)
}

// SessionCount returns the number of live sessions.
func (h *Host) SessionCount() int { return int(h.live.Load()) }

// PasswordHash hashes a password with the host's argon2id parameters. At
// most GOMAXPROCS hashes run at once, so a burst of logins cannot claim
// unbounded memory (each argon2id hash holds its memory cost while it runs).
func (h *Host) PasswordHash(pw string) (string, error) {
	h.hashing <- struct{}{}
	defer func() { <-h.hashing }()
	return password.Hash(pw, h.cfg.PasswordParams)
}

// VerifyPassword checks a password against a stored hash, with the same
// concurrency bound as PasswordHash.
func (h *Host) VerifyPassword(pw, hash string) (bool, error) {
	h.hashing <- struct{}{}
	defer func() { <-h.hashing }()
	return password.Verify(pw, hash)
}

// ProductVersion returns this implementation's version.
func (h *Host) ProductVersion() string { return h.cfg.Version }

// Modules returns the modules sessions load commands from: the internal
// module, the extra in-process modules, then the registered external
// modules (modules.go). Callers must not modify the slice.
func (h *Host) Modules() []module.Module { return h.mods.modules() }

// Trusted reports whether m is the host's own module.
func (h *Host) Trusted(m module.Module) bool {
	if m == h.internal {
		return true
	}
	return h.cfg.TrustExtra && slices.Contains(h.cfg.ExtraModules, m)
}

// Ranks returns the command ranks, cached until ASYNC_CMD_RANKS_CHANGED.
func (h *Host) Ranks(ctx context.Context) ([]store.CommandRank, error) {
	h.mu.Lock()
	if h.ranksOK {
		r := h.ranks
		h.mu.Unlock()
		return r, nil
	}
	h.mu.Unlock()
	r, err := h.cfg.Store.CommandRanks(ctx)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.ranks, h.ranksOK = r, true
	h.mu.Unlock()
	return r, nil
}

// Exit stops the host gracefully.
func (h *Host) Exit() {
	h.mu.Lock()
	stop := h.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Restart ends every session and reloads the host's cached state; the
// listener keeps running (a changed listen address needs a process restart).
func (h *Host) Restart() {
	h.closeSessions()
	ctx := context.Background()
	if s, err := h.cfg.Store.Settings(ctx); err == nil {
		h.maxSessions.Store(s.MaxSessions)
	}
	h.ReloadBans()
	h.mu.Lock()
	h.ranksOK = false
	h.mu.Unlock()
}

// SetMaxSessions changes the session limit and stores it in the settings.
func (h *Host) SetMaxSessions(n uint32) {
	if n == 0 {
		return
	}
	h.maxSessions.Store(n)
	ctx := context.Background()
	if s, err := h.cfg.Store.Settings(ctx); err == nil {
		s.MaxSessions = n
		if err := h.cfg.Store.SaveSettings(ctx, s); err != nil {
			h.log.Error("save max sessions", "err", err)
		}
	}
}

// ReloadBans reloads the ban list from the store.
func (h *Host) ReloadBans() {
	if err := h.loadBans(context.Background()); err != nil {
		h.log.Error("reload bans", "err", err)
	}
}

// Debug writes a message to the debug log.
func (h *Host) Debug(msg string) { h.logs.debugf(msg) }
