package module

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// ExternalConfig configures how the host runs external module processes.
// Zero fields take the defaults of DefaultExternalConfig.
type ExternalConfig struct {
	// IdleTimeout is the single-shot inactivity timer of every module
	// process (modules.md §7): restarted by every frame the module sends
	// and every frame written to it; when it fires the kill sequence runs.
	IdleTimeout time.Duration
	// KillGrace is the time between KILL_CMD and the forced kill.
	KillGrace time.Duration
	// ConnectTimeout bounds the wait for a started process to connect to
	// its pipe; a process that does not connect in time is killed and
	// reported as failed to start.
	ConnectTimeout time.Duration
	// ListTimeout bounds a whole listing (from the connection on).
	ListTimeout time.Duration
	// ListQuiet ends a listing when the module has sent nothing for this
	// long (a module need not send IDLE nor exit after its NEW_CMD frames).
	ListQuiet time.Duration
	// FailureTTL is how long a failed listing is remembered before the
	// module is listed again.
	FailureTTL time.Duration
	// CrashLimit abnormal exits in a row, all within CrashWindow, disable
	// the module host-wide.
	CrashLimit  int
	CrashWindow time.Duration
	// InputFrames and InputBytes bound the frames queued for one instance
	// (while it starts, or when it reads slower than the client writes).
	InputFrames int
	InputBytes  int
	// MaxFrame is the largest IPC payload accepted from a module; a larger
	// announced length is a protocol error.
	MaxFrame int
	// Env holds extra "KEY=value" entries for the environment of module
	// processes, after the clean environment (see moduleEnv); a later entry
	// replaces an earlier one of the same key.
	Env []string
	// TempDir is where the private runtime directory is created
	// (default os.TempDir()). Unix socket paths are limited to about 100
	// bytes, so keep it short.
	TempDir string
	// Debug writes a line to the host debug log (nil: discard).
	Debug func(msg string)
	// Log is the process log (nil: discard).
	Log *slog.Logger
}

// DefaultExternalConfig holds the defaults of ExternalConfig.
var DefaultExternalConfig = ExternalConfig{
	IdleTimeout:    2 * time.Minute,
	KillGrace:      3 * time.Second,
	ConnectTimeout: 5 * time.Second,
	ListTimeout:    10 * time.Second,
	ListQuiet:      2 * time.Second,
	FailureTTL:     30 * time.Second,
	CrashLimit:     5,
	CrashWindow:    time.Minute,
	InputFrames:    256,
	InputBytes:     32 << 20,
	MaxFrame:       wire.MaxPayload,
}

func (c ExternalConfig) withDefaults() ExternalConfig {
	d := DefaultExternalConfig
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.IdleTimeout, d.IdleTimeout)
	set(&c.KillGrace, d.KillGrace)
	set(&c.ConnectTimeout, d.ConnectTimeout)
	set(&c.ListTimeout, d.ListTimeout)
	set(&c.ListQuiet, d.ListQuiet)
	set(&c.FailureTTL, d.FailureTTL)
	set(&c.CrashWindow, d.CrashWindow)
	if c.CrashLimit <= 0 {
		c.CrashLimit = d.CrashLimit
	}
	if c.InputFrames <= 0 {
		c.InputFrames = d.InputFrames
	}
	if c.InputBytes <= 0 {
		c.InputBytes = d.InputBytes
	}
	if c.MaxFrame <= 0 || c.MaxFrame > wire.MaxPayload {
		c.MaxFrame = d.MaxFrame
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Runtime is what the external modules of one host share: their
// configuration, a private directory (mode 0700) holding the module pipes
// and the session data files, and the session data of every live session
// (docs/modules.md "Session data").
//
// The directory exists only while something uses it: it is created when
// the first module process starts or the first session data file is
// needed, and removed when the last process has ended and the last
// session with a data file has ended.
type Runtime struct {
	cfg atomic.Pointer[ExternalConfig]

	mu       sync.Mutex
	dir      string
	refs     int
	hostMem  *mappedFile
	blank    *mappedFile // the all-zero session block listing processes get
	sockSeq  uint64
	sessions sync.Map // wire.SessionID -> *sessionEntry
	count    atomic.Int64

	extMu sync.Mutex
	exts  map[*External]struct{} // modules not closed
}

// NewRuntime returns a runtime with the given configuration.
func NewRuntime(cfg ExternalConfig) *Runtime {
	rt := &Runtime{exts: make(map[*External]struct{})}
	rt.SetConfig(cfg)
	return rt
}

// SetConfig replaces the configuration; processes started afterwards use it.
func (rt *Runtime) SetConfig(cfg ExternalConfig) {
	c := cfg.withDefaults()
	rt.cfg.Store(&c)
}

// Config returns the current configuration (defaults filled in).
func (rt *Runtime) Config() ExternalConfig { return *rt.cfg.Load() }

func (rt *Runtime) debug(msg string) {
	c := rt.cfg.Load()
	c.Log.Warn("module", "msg", msg)
	if c.Debug != nil {
		c.Debug(msg)
	}
}

// runtimeDir holds the paths a process start needs.
type runtimeDir struct {
	dir   string
	host  string // host data file
	blank string // all-zero session data file
	sock  string // a fresh socket path
}

// acquire takes a reference on the private directory, creating it (with
// the host data file and the blank session file) when needed, and returns
// a fresh socket path inside it.
func (rt *Runtime) acquire() (runtimeDir, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.dir == "" {
		if err := rt.createDirLocked(); err != nil {
			return runtimeDir{}, err
		}
	}
	rt.refs++
	rt.sockSeq++
	return runtimeDir{
		dir:   rt.dir,
		host:  rt.hostMem.path,
		blank: rt.blank.path,
		sock:  filepath.Join(rt.dir, fmt.Sprintf("p%d", rt.sockSeq)),
	}, nil
}

func (rt *Runtime) createDirLocked() error {
	dir, err := os.MkdirTemp(rt.cfg.Load().TempDir, "mrci-")
	if err != nil {
		return fmt.Errorf("module runtime: create private directory: %w", err)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // modules get absolute paths
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("module runtime: %w", err)
	}
	host, err := createMapped(filepath.Join(dir, "host"), HostFileSize)
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("module runtime: host data: %w", err)
	}
	copy(host.mem[hostMagicOff:], hostMagic)
	putU32(host.mem[hostVersionOff:], dataLayoutVersion)
	storeU32(host.mem, uint32(max(rt.count.Load(), 0)))
	blank, err := createMapped(filepath.Join(dir, "blank"), SessionFileSize)
	if err != nil {
		host.close()
		_ = os.RemoveAll(dir)
		return fmt.Errorf("module runtime: blank session data: %w", err)
	}
	initSessionFile(blank.mem)
	rt.dir, rt.hostMem, rt.blank = dir, host, blank
	return nil
}

// release drops a reference taken by acquire (or by a session data file)
// and removes the directory when it was the last one.
func (rt *Runtime) release() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.refs--
	if rt.refs > 0 || rt.dir == "" {
		return
	}
	rt.hostMem.close()
	rt.blank.close()
	_ = os.RemoveAll(rt.dir)
	rt.dir, rt.hostMem, rt.blank = "", nil, nil
}

// prefetch starts the listings of a category for every module but one.
func (rt *Runtime) prefetch(cat Category, except *External) {
	rt.extMu.Lock()
	others := make([]*External, 0, len(rt.exts))
	for e := range rt.exts {
		if e != except {
			others = append(others, e)
		}
	}
	rt.extMu.Unlock()
	for _, e := range others {
		e.prefetch(cat)
	}
}

// Dir returns the private directory, or "" while it does not exist.
func (rt *Runtime) Dir() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.dir
}

// Sessions returns the number of live sessions (the host data count).
func (rt *Runtime) Sessions() int { return int(rt.count.Load()) }

func (rt *Runtime) writeCount() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.hostMem != nil {
		storeU32(rt.hostMem.mem, uint32(max(rt.count.Load(), 0)))
	}
}

// sessionEntry is the session data of one live session.
type sessionEntry struct {
	mu    sync.Mutex
	info  *SessionInfo
	file  *mappedFile // nil until a module process of the session needs it
	buf   []byte      // scratch block
	last  []byte      // block last written to file
	ended bool
}

// Publish records a session's latest state (the session calls it after
// every change, through the host). A session with a data file has the
// file updated at once; nil info means the session has ended, and its
// file is removed.
func (rt *Runtime) Publish(id wire.SessionID, info *SessionInfo) {
	if info == nil {
		rt.endSession(id)
		return
	}
	e := rt.entry(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.info = info
	if e.file != nil && !e.ended {
		e.writeLocked()
	}
}

// entry returns the session's entry, creating it (and counting the
// session) on first use.
func (rt *Runtime) entry(id wire.SessionID) *sessionEntry {
	if v, ok := rt.sessions.Load(id); ok {
		return v.(*sessionEntry)
	}
	v, loaded := rt.sessions.LoadOrStore(id, &sessionEntry{})
	if !loaded {
		rt.count.Add(1)
		rt.writeCount()
	}
	return v.(*sessionEntry)
}

func (rt *Runtime) endSession(id wire.SessionID) {
	v, ok := rt.sessions.LoadAndDelete(id)
	if !ok {
		return
	}
	rt.count.Add(-1)
	rt.writeCount()
	e := v.(*sessionEntry)
	e.mu.Lock()
	e.ended = true
	f := e.file
	e.file = nil
	e.mu.Unlock()
	if f != nil {
		f.close()
		rt.release()
	}
}

// writeLocked encodes the entry's state and writes it if it changed.
func (e *sessionEntry) writeLocked() {
	if e.buf == nil {
		e.buf = make([]byte, SessionBlockLen)
		e.last = make([]byte, SessionBlockLen)
	}
	encodeSessionBlock(e.buf, e.info)
	if string(e.buf) == string(e.last) {
		return
	}
	writeSessionBlock(e.file.mem, e.buf, e.last)
	copy(e.last, e.buf)
}

// sessionFile returns the path of the session's data file, creating the
// file from info when the session has none yet.
func (rt *Runtime) sessionFile(info *SessionInfo) (string, error) {
	e := rt.entry(info.SessionID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended {
		return "", fmt.Errorf("module runtime: session %s has ended", info.SessionID)
	}
	if e.file != nil {
		return e.file.path, nil
	}
	if e.info == nil {
		e.info = info
	}
	d, err := rt.acquire()
	if err != nil {
		return "", err
	}
	f, err := createMapped(filepath.Join(d.dir, "s-"+info.SessionID.String()), SessionFileSize)
	if err != nil {
		rt.release()
		return "", fmt.Errorf("module runtime: session data: %w", err)
	}
	initSessionFile(f.mem)
	e.file = f
	e.buf = make([]byte, SessionBlockLen)
	e.last = make([]byte, SessionBlockLen) // the file is all zero
	e.writeLocked()
	return f.path, nil
}

// Close forgets every session and removes their data files. Module
// processes still running keep their references; the directory goes away
// when they have ended.
func (rt *Runtime) Close() {
	rt.sessions.Range(func(k, _ any) bool {
		rt.endSession(k.(wire.SessionID))
		return true
	})
}
