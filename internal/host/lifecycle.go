package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/session"
)

// stopReason is why the accept loop of one listener ended.
type stopReason int

const (
	stopFailed  stopReason = iota // the listener failed
	stopExit                      // close_host, Exit, or Serve's context ended
	stopRestart                   // restart_host, Restart
)

// The ASYNC_SYS_MSG notices every session receives before a graceful stop
// ends it.
const (
	NoticeClosing    = "\nThe host is shutting down; this session is ending.\n"
	NoticeRestarting = "\nThe host is restarting; this session is ending. Reconnect in a moment.\n"
	NoticeBanned     = "\nThe address this session comes from was banned; this session is ending.\n"
)

// Serve accepts connections on ln until ctx is cancelled or a command stops
// the host, then drains gracefully (host.md §10.3): it stops listening,
// sends every session a closing notice and ends it, stops the external
// modules and flushes the logs. A restart (restart_host) drains the same
// way, re-reads the settings, bans, ranks and modules, listens again
// (Config.Listen, or the same address) and goes on serving. It closes ln.
// The store stays open; the caller closes it after Serve returns.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	pctx, stopPrune := context.WithCancel(context.WithoutCancel(ctx))
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		h.pruneLoop(pctx)
	}()
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		h.moduleCheckLoop(pctx)
	}()
	defer func() {
		stopPrune()
		<-pruned
		<-checked
		h.leaveCluster()
		h.mods.closeAll()
		h.mail.close()
		h.logs.close()
		h.log.Info("host stopped")
	}()
	for {
		reason, err := h.serveListener(ctx, ln)
		if err != nil || reason != stopRestart {
			return err
		}
		addr := ln.Addr().String()
		h.log.Info("host restarting: reloading settings")
		if err := h.reload(ctx); err != nil {
			return fmt.Errorf("host: restart: %w", err)
		}
		if ln, err = h.listen(ctx, addr); err != nil {
			return fmt.Errorf("host: restart: listen: %w", err)
		}
		h.log.Info("host listening again", "addr", ln.Addr().String())
	}
}

// listen opens the listener of a restarted host.
func (h *Host) listen(ctx context.Context, addr string) (net.Listener, error) {
	if h.cfg.Listen != nil {
		return h.cfg.Listen(ctx)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

// serveListener runs the accept loop of one listener and drains when it
// ends.
func (h *Host) serveListener(ctx context.Context, ln net.Listener) (stopReason, error) {
	h.listening.set(ln.Addr().String())
	defer h.listening.set("")
	// Sessions do not end with ctx: the drain ends them after the notice,
	// and cancels sctx only for those that do not go within DrainTimeout.
	sctx, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer cut()
	h.mu.Lock()
	h.notice = ""
	h.mu.Unlock()

	reason := make(chan stopReason, 1)
	acceptDone := make(chan struct{})
	acceptStop := make(chan struct{}) // closed when the listener is closed on purpose
	go func() {
		r := stopFailed
		select {
		case <-ctx.Done():
			r = stopExit
		case r = <-h.stopReq:
		case <-acceptDone:
		}
		h.listening.set("")
		close(acceptStop)
		_ = ln.Close()
		reason <- r
	}()
	var wg sync.WaitGroup
	var failure error
	var delay time.Duration // back-off after a temporary accept error
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			if !temporaryAcceptError(err) {
				failure = fmt.Errorf("host: accept: %w", err)
				break
			}
			// Out of descriptors or a similar passing condition: wait and
			// retry, as net/http does, instead of stopping the host.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			h.log.Error("accept failed; retrying", "err", err, "delay", delay)
			h.metrics.Inc(acceptErrors)
			select {
			case <-time.After(delay):
			case <-acceptStop:
			}
			continue
		}
		delay = 0
		ipText, ip := remoteIP(conn)
		if reason := h.admit(ip); reason != "" {
			h.refuse(conn, ipText, reason)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.recoverSetup(ipText)
			h.handle(sctx, conn, ipText, ip, false)
		}()
	}
	close(acceptDone)
	r := <-reason
	if failure != nil {
		r = stopFailed
	}
	h.drain(r, &wg, cut)
	return r, failure
}

// drain ends every session after its notice and waits for them; sessions
// still there after DrainTimeout are cut.
func (h *Host) drain(r stopReason, wg *sync.WaitGroup, cut context.CancelFunc) {
	notice := NoticeClosing
	if r == stopRestart {
		notice = NoticeRestarting
	}
	h.mu.Lock()
	h.notice = notice
	all := make([]*session.Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	pending := make([]net.Conn, 0, len(h.pending))
	for c := range h.pending {
		pending = append(pending, c)
	}
	h.mu.Unlock()
	h.log.Info("draining", "sessions", len(all), "in_setup", len(pending), "restart", r == stopRestart)
	for _, c := range pending {
		_ = c.Close() // no session yet, so nobody to notify
	}
	for _, s := range all {
		s.EndWithNotice(notice)
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(h.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		h.log.Warn("drain timed out; cutting the remaining sessions", "timeout", h.cfg.DrainTimeout)
		cut()
		<-done
	}
	h.log.Info("drained", "sessions", len(all))
}

// setupStarted records a connection in set-up; it reports false when the
// host is draining (the connection is then not served).
func (h *Host) setupStarted(conn net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notice != "" {
		return false
	}
	h.pending[conn] = struct{}{}
	return true
}

func (h *Host) setupEnded(conn net.Conn) {
	h.mu.Lock()
	delete(h.pending, conn)
	h.mu.Unlock()
}

// reload re-reads what a restart refreshes: settings, bans, ranks and the
// external modules (stopped and started afresh).
func (h *Host) reload(ctx context.Context) error {
	if c, ok := h.cfg.Store.(*settingsCache); ok {
		c.invalidate()
	}
	s, err := h.cfg.Store.Settings(ctx)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if h.cfg.MaxSessions > 0 {
		h.maxSessions.Store(h.cfg.MaxSessions)
	} else {
		h.maxSessions.Store(s.MaxSessions)
	}
	a, err := h.cfg.Store.AdmissionSettings(ctx)
	if err != nil {
		return fmt.Errorf("admission settings: %w", err)
	}
	h.adm.setConfig(a)
	if _, err := h.loadBans(ctx); err != nil {
		return err
	}
	h.ranks.Invalidate()
	h.mods.closeAll()
	return h.mods.reload(ctx)
}

// Exit stops the host gracefully (close_host, ASYNC_EXIT, control stop).
func (h *Host) Exit() { h.request(stopExit) }

// Restart drains the host and starts it again in the same process
// (restart_host, ASYNC_RESTART).
func (h *Host) Restart() { h.request(stopRestart) }

func (h *Host) request(r stopReason) {
	select {
	case h.stopReq <- r:
	default: // a stop is already pending
	}
}

// listenState is the address the host listens on, with a channel closed
// while it is listening.
type listenState struct {
	mu   sync.Mutex
	addr string
	up   chan struct{}
}

func (l *listenState) set(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up == nil {
		l.up = make(chan struct{})
	}
	switch {
	case addr != "" && l.addr == "":
		close(l.up)
	case addr == "" && l.addr != "":
		l.up = make(chan struct{})
	}
	l.addr = addr
}

func (l *listenState) get() (string, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up == nil {
		l.up = make(chan struct{})
	}
	return l.addr, l.up
}

// ListenAddr returns the address the host is listening on, or "" while it
// is not listening.
func (h *Host) ListenAddr() string {
	a, _ := h.listening.get()
	return a
}

// WaitListening waits until the host listens and returns the address.
func (h *Host) WaitListening(ctx context.Context) (string, error) {
	for {
		a, up := h.listening.get()
		if a != "" {
			return a, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// MaxSessions returns the session limit in force.
func (h *Host) MaxSessions() uint32 { return h.maxSessions.Load() }

// Uptime returns how long the host has been running.
func (h *Host) Uptime() time.Duration { return time.Since(h.started) }

// DatabasePath returns the database location shown to administrators.
func (h *Host) DatabasePath() string { return h.cfg.DatabasePath }

// pruneInterval is how often old log rows are pruned.
const pruneInterval = time.Hour

// pruneLoop deletes log rows older than the retention setting, at start
// and then every pruneInterval, until ctx ends.
func (h *Host) pruneLoop(ctx context.Context) {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		h.PruneLogs(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneLogs applies the log retention setting once.
func (h *Host) PruneLogs(ctx context.Context) {
	a, err := h.cfg.Store.AdminSettings(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("log retention: read settings", "err", err)
		}
		return
	}
	if a.LogRetentionDays == 0 {
		return
	}
	before := time.Now().Add(-time.Duration(a.LogRetentionDays) * 24 * time.Hour)
	n, err := h.cfg.Store.PruneLogs(ctx, before)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("log retention: prune", "err", err)
		}
		return
	}
	if n > 0 {
		h.log.Info("log rows pruned", "rows", n, "retention_days", a.LogRetentionDays)
	}
}
