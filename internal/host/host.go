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
	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/cmds"
	"github.com/mrci/mrci/internal/ipban"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlsbuf"
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
	// FilesRoot is the default files root of the fs_* commands (the
	// files_settings row may name another); empty: none.
	FilesRoot string
	// ExtraModules are in-process modules loaded after the internal one
	// (tests use them to drive asyncs whose real trigger lives elsewhere).
	// They are not trusted with privileged asyncs unless TrustExtra is set.
	ExtraModules []module.Module
	TrustExtra   bool
	// Email configures mail delivery and the e-mail commands (email.go).
	Email EmailConfig

	// MaxSessions, when non-zero, is the session limit of this run; the
	// stored max_sessions setting is neither used nor changed (host_config
	// option 3 still changes both).
	MaxSessions uint32
	// Listen opens the listener again when the host restarts
	// (restart_host); nil listens again on the address of the listener
	// given to Serve.
	Listen func(ctx context.Context) (net.Listener, error)
	// DrainTimeout bounds how long a graceful stop waits for the sessions
	// to receive the closing notice before they are cut (default 10 s).
	DrainTimeout time.Duration
	// DatabasePath is shown by host_config.
	DatabasePath string
	// ModuleCheck is how often the executables of the registered modules
	// are looked at, so that one installed on (or removed from) this node
	// after add_mod is picked up without a restart (default 10 s;
	// negative: only when the module list is reloaded). See
	// Host.CheckModules.
	ModuleCheck time.Duration
	// Cluster, when enabled, joins this host to a cluster of nodes that
	// share the Store (PostgreSQL) and exchange asyncs over NATS; zero is
	// single-node mode (docs/cluster.md).
	Cluster cluster.Options
}

// Host is a running MRCI host.
type Host struct {
	cfg      Config
	log      *slog.Logger
	bus      *bus.Bus
	internal module.Module

	maxSessions atomic.Uint32
	live        atomic.Int64 // established sessions
	adm         *admission   // connections in set-up (admission.go)

	mu       sync.Mutex
	sessions map[wire.SessionID]*session.Session
	pending  map[net.Conn]struct{} // connections still in set-up
	notice   string                // non-empty while draining: the closing notice
	bans     *ipban.List
	ranks    *cache[[]store.CommandRank] // until ASYNC_CMD_RANKS_CHANGED
	mods     *externalModules            // external modules (modules.go)

	stopReq   chan stopReason // Exit and Restart (lifecycle.go)
	listening listenState
	started   time.Time
	certs     certCache // default certificate (certs.go)
	// interfaceAddrs lists the machine's addresses (InterfaceAddrs).
	interfaceAddrs func() ([]netip.Addr, error)

	logs    *asyncLog
	metrics *metrics.Metrics
	hashing chan struct{} // bounds concurrent password hashing
	mail    *mailer       // mail delivery (email.go)
	files   filesQuota    // bytes reserved by running file transfers (files.go)
	node    *cluster.Node // nil in single-node mode (cluster.go)
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
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	audit := &auditStore{Store: cfg.Store}
	cfg.Store = newSettingsCache(audit)
	h := &Host{
		cfg:            cfg,
		log:            cfg.Log,
		bus:            bus.New(),
		internal:       cmds.New(),
		sessions:       make(map[wire.SessionID]*session.Session),
		pending:        make(map[net.Conn]struct{}),
		stopReq:        make(chan stopReason, 1),
		started:        time.Now(),
		interfaceAddrs: InterfaceAddrs,
		logs:           newAsyncLog(cfg.Store, cfg.Log),
		hashing:        make(chan struct{}, runtime.GOMAXPROCS(0)),
		ranks:          newCache[[]store.CommandRank](0),
	}
	audit.h = h
	h.certs.def.Store(cfg.DefaultCert)
	h.metrics = metrics.New(func() float64 { return float64(h.live.Load()) },
		func() float64 { return float64(h.bus.Delivered()) })
	s, err := cfg.Store.Settings(ctx)
	if err != nil {
		h.logs.close()
		return nil, fmt.Errorf("host: settings: %w", err)
	}
	h.maxSessions.Store(s.MaxSessions)
	if cfg.MaxSessions > 0 {
		h.maxSessions.Store(cfg.MaxSessions)
	}
	adm, err := cfg.Store.AdmissionSettings(ctx)
	if err != nil {
		h.logs.close()
		return nil, fmt.Errorf("host: admission settings: %w", err)
	}
	h.adm = newAdmission(adm)
	if cfg.Cluster.NodeID != "" {
		h.metrics.Info("node_info", "This node's id and cluster (cluster=\"\" for a single host); always 1.",
			map[string]string{"node_id": cfg.Cluster.NodeID, "cluster": clusterLabel(cfg.Cluster)})
	}
	h.metrics.GaugeFunc("pending_connections", "Connections in set-up (client header, TLS) that are not sessions yet.",
		func() float64 { return float64(h.adm.pendingCount()) })
	h.warnFiles(ctx)
	if _, err := h.loadBans(ctx); err != nil {
		h.logs.close()
		return nil, err
	}
	h.bus.Hook(wire.AsyncCmdRanksChanged, func(*bus.Message) { h.ranks.Invalidate() })
	if h.mods, err = newExternalModules(ctx, h); err != nil {
		h.logs.close()
		return nil, err
	}
	h.mail = newMailer(h)
	if err := h.joinCluster(ctx); err != nil {
		h.mods.closeAll()
		h.mail.close()
		h.logs.close()
		return nil, err
	}
	return h, nil
}

// Metrics returns the host's metrics (served by metrics.Handler).
func (h *Host) Metrics() *metrics.Metrics { return h.metrics }

// Bus returns the host's async bus.
func (h *Host) Bus() *bus.Bus { return h.bus }

// ErrRefused is returned by ServeConn for a connection the admission rules
// refuse (banned address, rate or set-up limits).
var ErrRefused = errors.New("host: connection refused (ban or admission limits)")

// ServeConn runs one MRCI connection that arrived over another transport
// than the host's TCP listener (the web console's WebSockets). It goes
// through exactly what a TCP connection goes through: the admission rules
// for remote's address, the client header, the session limit, the logs,
// the session; it returns when the session ends, and closes conn. A refused
// connection is left open and ErrRefused returned, so the caller can tell
// its client why in the terms of its transport.
//
// secured says the transport already encrypts the stream and authenticates
// the host to the client (HTTPS/WSS with the host's certificate, or a
// loopback connection): the session then gets reply 1 and no MRCI-level
// HOST_CERT/TLS step, as a loopback TCP client does, whatever the address.
func (h *Host) ServeConn(ctx context.Context, conn net.Conn, remote netip.AddrPort, secured bool) error {
	ip := remote.Addr().Unmap()
	if reason := h.admit(ip); reason != "" {
		h.log.Info("connection refused", "ip", ip.String(), "reason", reason, "transport", "websocket")
		h.metrics.Refused(reason)
		return ErrRefused
	}
	h.handle(ctx, conn, ip.String(), ip, secured)
	return nil
}

// bufferedConn reads through the buffered reader that consumed the client
// header, so bytes the client sent early are not lost (protocol.md §15.2).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func remoteIP(conn net.Conn) (string, netip.Addr) {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return conn.RemoteAddr().String(), netip.Addr{}
	}
	a := ap.Addr().Unmap()
	return a.String(), a
}

// handle runs the set-up of an admitted connection (protocol.md §4-§6)
// and then its session. The connection counts as pending in the admission
// limits until its set-up ends, and against max_sessions from then on;
// secured skips the MRCI-level TLS step (see ServeConn).
func (h *Host) handle(ctx context.Context, conn net.Conn, ipText string, ip netip.Addr, secured bool) {
	defer conn.Close()
	if !h.setupStarted(conn) {
		return
	}
	defer h.setupEnded(conn)
	h.log.Info("connection accepted", "ip", ipText)
	pending := true
	defer func() {
		if pending {
			h.adm.end(ip)
		}
	}()
	sid := h.newSessionID()
	_ = conn.SetDeadline(time.Now().Add(h.cfg.HeaderTimeout))
	br := bufio.NewReaderSize(conn, 4<<10)
	raw := make([]byte, wire.ClientHeaderLen)
	if _, err := io.ReadFull(br, raw); err != nil {
		h.log.Info("connection ended", "ip", ipText, "reason", "no client header", "err", err)
		return
	}
	hdr, err := wire.ParseClientHeader(raw)
	if err != nil {
		h.log.Info("connection refused", "ip", ipText, "reason", "bad client header", "err", err)
		h.logs.activity(store.Activity{IP: ipText, SessionID: sid, Entry: "Session Ended"})
		return
	}
	if h.full() { // checked again (and counted) once established
		h.refuse(conn, ipText, refusedMaxSessions)
		return
	}

	reply := wire.HostHeader{Reply: wire.ReplyPlain, Version: wire.Version, SessionID: sid}
	var stream io.ReadWriter = bufferedConn{conn, br}
	var reader io.Reader = br
	useTLS := !secured && (!ip.IsLoopback() || h.cfg.ForceTLS)
	if useTLS {
		pair := h.certFor(ctx, hdr.CommonName)
		if pair == nil {
			reply.Reply = wire.ReplyNoCert
			h.log.Info("connection refused", "ip", ipText, "reason", "no certificate for the common name", "cn", hdr.CommonName)
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
		// tlsbuf: the session's writer gathers the records of a batch
		// into few socket writes.
		tc := tls.Server(tlsbuf.New(bufferedConn{conn, br}), &tls.Config{
			Certificates: []tls.Certificate{pair.TLS},
			MinVersion:   tls.VersionTLS12,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			h.log.Info("connection ended", "ip", ipText, "reason", "TLS handshake failed", "err", err)
			return
		}
		stream, reader = tc, nil
	}
	// Established: the connection leaves set-up and becomes a session.
	h.adm.end(ip)
	pending = false
	if !h.reserve() {
		h.refuse(conn, ipText, refusedMaxSessions)
		return
	}
	defer h.live.Add(-1)
	if !useTLS {
		if _, err := conn.Write(reply.Marshal()); err != nil {
			return
		}
	}
	_ = conn.SetDeadline(time.Time{})
	h.logs.activity(store.Activity{IP: ipText, SessionID: sid, ClientApp: hdr.AppName, Entry: "Session Active"})
	defer h.logs.activity(store.Activity{IP: ipText, SessionID: sid, ClientApp: hdr.AppName, Entry: "Session Ended"})

	s := session.New(session.Config{
		ID: sid, Conn: conn, Stream: stream, Reader: reader, IP: ipText, AppName: hdr.AppName,
		Bus: h.bus, Host: h, Store: h.cfg.Store, Log: h.log, Limits: h.cfg.Limits, Dir: h.cfg.Dir,
		Metrics: h.metrics,
	})
	h.metrics.SessionsOpened.Inc()
	h.mu.Lock()
	h.sessions[sid] = s
	delete(h.pending, conn)
	if h.notice != "" {
		s.EndWithNotice(h.notice)
	}
	h.mu.Unlock()
	s.Run(ctx)
	h.mu.Lock()
	delete(h.sessions, sid)
	h.mu.Unlock()
}

// Settings returns the current host settings from the store.
func (h *Host) Settings(ctx context.Context) (store.Settings, error) {
	return h.cfg.Store.Settings(ctx)
}

// PendingCount returns the number of connections in set-up.
func (h *Host) PendingCount() int { return h.adm.pendingCount() }

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
	return h.ranks.Get(ctx, h.cfg.Store.CommandRanks)
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

// Debug writes a message to the debug log.
func (h *Host) Debug(msg string) { h.logs.debugf(msg) }
