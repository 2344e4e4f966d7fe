package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/store"
)

// Reasons a connection is refused before it becomes a session; they label
// mrci_connections_refused_total and the "connection refused" log lines.
const (
	refusedBanned      = "banned"           // the address is in the ban list
	refusedRate        = "rate_limited"     // the address opens connections too fast
	refusedPending     = "pending_total"    // too many connections are in set-up
	refusedPendingAddr = "pending_per_addr" // too many connections of the address are in set-up
	refusedMaxSessions = "max_sessions"     // the host has max_sessions sessions
)

// admission applies the limits on connections that have not finished
// their set-up (protocol.md §15.1): in total and per address, plus a
// token-bucket rate limit on new connections per address. A connection
// counts against max_sessions only once it is established, so sockets
// that never send a header cannot lock real clients out.
type admission struct {
	mu       sync.Mutex
	cfg      store.AdmissionSettings
	pending  int
	perAddr  map[netip.Prefix]int
	limiters map[netip.Prefix]*rate.Limiter
	sweepAt  int // sweep idle limiters when the map reaches this size
}

const minSweep = 1024

func newAdmission(cfg store.AdmissionSettings) *admission {
	return &admission{cfg: cfg, perAddr: make(map[netip.Prefix]int),
		limiters: make(map[netip.Prefix]*rate.Limiter), sweepAt: minSweep}
}

// setConfig applies new settings to connections that arrive from now on.
func (a *admission) setConfig(cfg store.AdmissionSettings) {
	a.mu.Lock()
	a.cfg = cfg
	clear(a.limiters) // rebuilt with the new rate
	a.mu.Unlock()
}

// addrKey is what per-address limits count by: the IPv4 address, or the
// IPv6 /64 (one subscriber's usual allocation).
func addrKey(ip netip.Addr) netip.Prefix {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// begin admits a new connection from ip into set-up, or returns the reason
// it is refused. An admitted connection must call end exactly once.
func (a *admission) begin(ip netip.Addr, now time.Time) string {
	key := addrKey(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	perAddr := ip.IsValid() && (!ip.IsLoopback() || a.cfg.LimitLoopback)
	if perAddr && a.cfg.ConnRatePerAddr > 0 {
		l := a.limiters[key]
		if l == nil {
			a.sweep(now)
			l = rate.NewLimiter(rate.Limit(a.cfg.ConnRatePerAddr), int(a.cfg.ConnBurstPerAddr))
			a.limiters[key] = l
		}
		if !l.AllowN(now, 1) {
			return refusedRate
		}
	}
	if a.pending >= int(a.cfg.MaxPending) {
		return refusedPending
	}
	if perAddr && a.perAddr[key] >= int(a.cfg.MaxPendingPerAddr) {
		return refusedPendingAddr
	}
	a.pending++
	a.perAddr[key]++
	return ""
}

// end marks a connection admitted by begin as out of set-up.
func (a *admission) end(ip netip.Addr) {
	key := addrKey(ip)
	a.mu.Lock()
	a.pending--
	if n := a.perAddr[key] - 1; n > 0 {
		a.perAddr[key] = n
	} else {
		delete(a.perAddr, key)
	}
	a.mu.Unlock()
}

// sweep forgets limiters whose bucket is full again (the address has been
// quiet for burst/rate seconds), so the map stays proportional to the
// addresses that are active now. It runs when the map has doubled.
func (a *admission) sweep(now time.Time) {
	if len(a.limiters) < a.sweepAt {
		return
	}
	for k, l := range a.limiters {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(a.limiters, k)
		}
	}
	a.sweepAt = max(minSweep, 2*len(a.limiters))
}

// pendingCount returns the connections in set-up.
func (a *admission) pendingCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}

func acceptErrors(m *metrics.Metrics) prometheus.Counter { return m.AcceptErrors }

// recoverSetup recovers a panic in a connection's set-up (sessions recover
// their own), so it ends that connection only.
func (h *Host) recoverSetup(ip string) {
	if v := recover(); v != nil {
		h.log.Error("connection set-up panicked", "ip", ip, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		h.metrics.Panicked("setup")
	}
}

// temporaryAcceptError reports whether an accept error passes by itself:
// descriptor or buffer exhaustion, an aborted connection, a timeout.
func temporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// admit applies the ban list (host.md §8) and the set-up limits
// (admission.go) to a new connection; it returns the reason for a refusal.
// The session limit is applied once the connection is established.
func (h *Host) admit(ip netip.Addr) string {
	if h.Banned(ip) {
		return refusedBanned
	}
	return h.adm.begin(ip, time.Now())
}

// refuse closes a connection that does not become a session, and logs and
// counts why.
func (h *Host) refuse(conn net.Conn, ip, reason string) {
	// Counted and logged before the close, so whoever sees the close sees
	// the refusal accounted for too.
	h.log.Info("connection refused", "ip", ip, "reason", reason)
	h.metrics.Refused(reason)
	_ = conn.Close()
}

// full reports whether the host has max_sessions established sessions.
func (h *Host) full() bool { return h.live.Load() >= int64(h.maxSessions.Load()) }

// reserve counts an established session against max_sessions, unless the
// host is full.
func (h *Host) reserve() bool {
	for {
		n := h.live.Load()
		if n >= int64(h.maxSessions.Load()) {
			return false
		}
		if h.live.CompareAndSwap(n, n+1) {
			return true
		}
	}
}
