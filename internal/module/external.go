package module

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// Errors of external modules.
var (
	// ErrModuleDisabled is returned by an External that was disabled after
	// repeated crashes.
	ErrModuleDisabled = errors.New("module disabled after repeated crashes")
	// ErrModuleClosed is returned by an External that was removed.
	ErrModuleClosed = errors.New("module removed")
)

// maxListed bounds the commands one listing may announce.
const maxListed = 4096

// External is a Module backed by an executable that speaks the module
// protocol of modules.md §3-§8 (see pkg/modsdk for writing one).
//
// Listings are cached per category: every session of a category sees the
// same list, so the module is asked once and the answer is reused until
// the cache is refreshed, which happens when
//   - Refresh is called (the host does on ASYNC_ENABLE_MOD for the path),
//   - the executable changes on disk (size or modification time), or
//   - a failed listing is older than ExternalConfig.FailureTTL.
//
// Run mode starts one process per command instance, kept alive across
// calls until it exits, is killed by the session, or is idle-killed.
type External struct {
	rt        *Runtime
	path      string
	onDisable func(*External)

	mu       sync.Mutex
	gen      uint64
	cache    map[Category]*listing
	crashes  []time.Time
	disabled bool
	closed   bool
	procs    map[*process]bool // running processes; true for listing ones
	listRuns int               // listing processes started (tests)
}

// listing is one (possibly in-flight) listing of one category.
type listing struct {
	key  fileKey
	gen  uint64
	done chan struct{}
	defs []Def
	err  error
	at   time.Time
}

// fileKey identifies one version of the executable on disk.
type fileKey struct {
	size  int64
	mtime time.Time
}

// NewExternal returns the module for an executable path (its identity in
// command_ranks; store the canonical path, see CanonicalPath). onDisable,
// if not nil, is called (on its own goroutine) when the crash limit
// disables the module.
func (rt *Runtime) NewExternal(path string, onDisable func(*External)) *External {
	e := &External{rt: rt, path: path, onDisable: onDisable,
		cache: make(map[Category]*listing), procs: make(map[*process]bool)}
	rt.extMu.Lock()
	rt.exts[e] = struct{}{}
	rt.extMu.Unlock()
	return e
}

// ID returns the executable path.
func (e *External) ID() string { return e.path }

// Path returns the executable path.
func (e *External) Path() string { return e.path }

// Refresh drops the cached listings; the next List asks the module again.
func (e *External) Refresh() {
	e.mu.Lock()
	e.gen++
	e.mu.Unlock()
}

// Disabled reports whether the crash limit has disabled the module.
func (e *External) Disabled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.disabled
}

// Running returns the number of the module's processes that have not
// ended yet (listing and run mode).
func (e *External) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.procs)
}

// Close marks the module removed: nothing new is started, and listing
// processes still running are killed. Running command instances are ended
// by their sessions (which unload the module's commands).
func (e *External) Close() {
	e.rt.extMu.Lock()
	delete(e.rt.exts, e)
	e.rt.extMu.Unlock()
	e.mu.Lock()
	e.closed = true
	var listings []*process
	for p, isListing := range e.procs {
		if isListing {
			listings = append(listings, p)
		}
	}
	e.mu.Unlock()
	for _, p := range listings {
		p.forceKill()
	}
}

func (e *External) usable() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return fmt.Errorf("module %s: %w", e.path, ErrModuleClosed)
	case e.disabled:
		return fmt.Errorf("module %s: %w", e.path, ErrModuleDisabled)
	}
	return nil
}

func (e *External) track(p *process, isListing bool) {
	e.mu.Lock()
	e.procs[p] = isListing
	e.mu.Unlock()
}

func (e *External) untrack(p *process) {
	e.mu.Lock()
	delete(e.procs, p)
	e.mu.Unlock()
}

func statKey(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileKey{}, fmt.Errorf("%s is not a regular file", path)
	}
	return fileKey{size: fi.Size(), mtime: fi.ModTime()}, nil
}

// List returns the commands the module announces in a category, from the
// cache when it is valid. Concurrent calls share one listing process. When
// it has to start a listing, the other modules of the runtime start theirs
// for the same category too, so that a session listing several cold
// modules one after the other waits for the slowest rather than for all
// of them in turn.
func (e *External) List(ctx context.Context, cat Category, env Env) ([]Def, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	key, err := statKey(e.path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", e.path, err)
	}
	dir := ""
	if env.Session != nil {
		if s := env.Session.Snapshot(); s != nil {
			dir = s.Dir
		}
	}
	ttl := e.rt.Config().FailureTTL
	e.mu.Lock()
	l, started := e.flightLocked(cat, key, dir, ttl)
	e.mu.Unlock()
	if started {
		e.rt.prefetch(cat, e)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("module %s: list: %w", e.path, ctx.Err())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return l.defs, l.err
}

// prefetch starts the listing of a category in the background unless a
// valid one exists.
func (e *External) prefetch(cat Category) {
	if e.usable() != nil {
		return
	}
	key, err := statKey(e.path)
	if err != nil {
		return
	}
	ttl := e.rt.Config().FailureTTL
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flightLocked(cat, key, "", ttl)
}

// flightLocked returns the valid listing of a category, starting a new
// listing process when there is none. e.mu is held.
func (e *External) flightLocked(cat Category, key fileKey, dir string, ttl time.Duration) (l *listing, started bool) {
	l = e.cache[cat]
	if l != nil && l.key == key && l.gen == e.gen {
		select {
		case <-l.done:
			if l.err == nil || time.Since(l.at) < ttl {
				return l, false
			}
		default:
			return l, false // in flight
		}
	}
	l = &listing{key: key, gen: e.gen, done: make(chan struct{})}
	e.cache[cat] = l
	e.listRuns++
	go func() {
		defs, err := e.list(cat, dir)
		e.mu.Lock()
		l.defs, l.err, l.at = defs, err, time.Now()
		e.mu.Unlock()
		close(l.done)
	}()
	return l, true
}

// catOption is the listing option of a category.
func catOption(cat Category) string {
	switch cat {
	case Public:
		return "-public_cmds"
	case Exempt:
		return "-exempt_cmds"
	}
	return "-user_cmds"
}

// limitedBuffer keeps the first n bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.n - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// list runs one listing process (modules.md §5.2-§5.4).
func (e *External) list(cat Category, dir string) ([]Def, error) {
	cfg := e.rt.Config()
	out := &limitedBuffer{n: 4096}
	p, err := e.rt.spawn(e.path, []string{catOption(cat)}, "", dir, out, out)
	if err != nil {
		e.record(false, fmt.Sprintf("%s listing failed to start: %v", cat, err))
		return nil, fmt.Errorf("module %s: %w", e.path, err)
	}
	e.track(p, true)
	defs, idle, err := e.collect(p, cat, cfg)
	// Reap in the background: the listing is complete from here on.
	go func() {
		p.waitExit(cfg.KillGrace)
		e.untrack(p)
		p.finish()
		if s := out.String(); s != "" {
			e.rt.debug(fmt.Sprintf("module %s (%s listing) output: %s", e.path, cat, strings.TrimSpace(s)))
		}
		switch {
		case err != nil:
			e.record(false, fmt.Sprintf("%s listing failed: %v", cat, err))
		case p.forced.Load() || p.crashed():
			e.record(false, fmt.Sprintf("%s listing process did not end by itself (%s)", cat, p.exitText()))
		case idle:
			e.record(true, "")
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("module %s: %s listing: %w", e.path, cat, err)
	}
	return defs, nil
}

// collect talks to a listing process: HOST_VER, then NEW_CMD and ERR
// frames until IDLE, the end of the pipe, ListQuiet without a frame or
// ListTimeout. It then sends KILL_CMD and closes the pipe. idle reports
// whether the listing ended with IDLE.
func (e *External) collect(p *process, cat Category, cfg ExternalConfig) (defs []Def, idle bool, err error) {
	conn, err := p.accept(cfg.ConnectTimeout)
	if err != nil {
		p.forceKill()
		return nil, false, err
	}
	defer conn.Close()
	hv, _ := wire.AppendIPCFrame(nil, wire.TypeHostVer, wire.EncodeHostVer(wire.Version))
	_ = conn.SetWriteDeadline(time.Now().Add(cfg.ListTimeout))
	if _, err := conn.Write(hv); err != nil && !isClosed(err) {
		return nil, false, fmt.Errorf("send HOST_VER: %w", err)
	}
	deadline := time.Now().Add(cfg.ListTimeout)
	r := newIPCReader(conn, cfg.MaxFrame)
	seen := make(map[string]bool)
	for {
		_ = conn.SetReadDeadline(minTime(time.Now().Add(cfg.ListQuiet), deadline))
		f, rerr := r.next()
		if rerr != nil {
			if isEndOfPipe(rerr) {
				break
			}
			return nil, false, rerr
		}
		switch f.Type {
		case wire.TypeNewCmd:
			if d, ok := parseNewCmd(f.Payload); ok && !seen[d.Name] && len(defs) < maxListed {
				seen[d.Name] = true
				defs = append(defs, d)
			}
		case wire.TypeErr:
			e.rt.debug(fmt.Sprintf("module %s (%s listing): %s", e.path, cat, strings.TrimSpace(wire.DecodeText(f.Payload))))
		case wire.TypeIdle:
			idle = true
		}
		if idle {
			break
		}
	}
	kill, _ := wire.AppendIPCFrame(nil, wire.TypeKillCmd, nil)
	_ = conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = conn.Write(kill)
	return defs, idle, nil
}

// parseNewCmd applies the NEW_CMD rules of modules.md §5.4: at least 259
// bytes, and a name that is valid once trimmed and lower-cased.
func parseNewCmd(b []byte) (Def, bool) {
	if len(b) < wire.NewCmdMinLen {
		return Def{}, false
	}
	nc, err := wire.ParseNewCmd(b)
	if err != nil {
		return Def{}, false
	}
	name := strings.ToLower(strings.TrimSpace(nc.Name))
	if !validate.CommandName(name) {
		return Def{}, false
	}
	return Def{Name: name, GenFile: nc.GenFile, Library: nc.Library, Summary: nc.Summary, IO: nc.IO, Long: nc.Long}, true
}

// errMalformed is wrapped by ipcReader errors that are the module's fault:
// an announced length over the limit, or a frame cut short.
var errMalformed = errors.New("malformed IPC frame")

// ipcReader reads IPC frames from a module (modules.md §4) and tells a
// clean end of the pipe (nothing of a next frame read: EOF, reset, closed,
// read deadline) from a malformed frame.
type ipcReader struct {
	r     *bufio.Reader
	limit int
	hdr   [wire.IPCHeaderLen]byte
}

func newIPCReader(r io.Reader, limit int) *ipcReader {
	return &ipcReader{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// next returns the next frame; errors wrap errMalformed or mean the end of
// the pipe.
func (x *ipcReader) next() (wire.IPCFrame, error) {
	if n, err := io.ReadFull(x.r, x.hdr[:]); err != nil {
		if n == 0 {
			return wire.IPCFrame{}, err
		}
		return wire.IPCFrame{}, fmt.Errorf("%w: header cut short after %d bytes (%v)", errMalformed, n, err)
	}
	size := int(x.hdr[1]) | int(x.hdr[2])<<8 | int(x.hdr[3])<<16
	if size > x.limit {
		return wire.IPCFrame{}, fmt.Errorf("%w: %v frame of %d bytes announced, limit %d", errMalformed, wire.TypeID(x.hdr[0]), size, x.limit)
	}
	p, err := wire.ReadGrowing(x.r, size)
	if err != nil {
		return wire.IPCFrame{}, fmt.Errorf("%w: %v frame of %d bytes cut short (%v)", errMalformed, wire.TypeID(x.hdr[0]), size, err)
	}
	return wire.IPCFrame{Type: wire.TypeID(x.hdr[0]), Payload: p}, nil
}

// isEndOfPipe reports whether a read error means the module went away or
// went quiet (as opposed to sending a malformed frame).
func isEndOfPipe(err error) bool { return !errors.Is(err, errMalformed) }

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// record counts one end of a module process: a clean one resets the
// crash count, an abnormal one is logged and may disable the module
// (CrashLimit abnormal ends in a row within CrashWindow).
func (e *External) record(clean bool, reason string) {
	cfg := e.rt.Config()
	e.mu.Lock()
	if clean {
		e.crashes = e.crashes[:0]
		e.mu.Unlock()
		return
	}
	now := time.Now()
	e.crashes = append(e.crashes, now)
	for len(e.crashes) > 0 && now.Sub(e.crashes[0]) > cfg.CrashWindow {
		e.crashes = e.crashes[1:]
	}
	disable := !e.disabled && len(e.crashes) >= cfg.CrashLimit
	if disable {
		e.disabled = true
	}
	n := len(e.crashes)
	e.mu.Unlock()
	e.rt.debug(fmt.Sprintf("module %s: %s", e.path, reason))
	if disable {
		e.rt.debug(fmt.Sprintf("module %s disabled: %d abnormal exits in a row within %v", e.path, n, cfg.CrashWindow))
		if e.onDisable != nil {
			go e.onDisable(e)
		}
	}
}
