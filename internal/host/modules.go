package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

// externalModules is the host's set of external modules: the executables
// registered in the store (add_mod / rm_mod), in table order, minus the
// ones the crash limit disabled. It is loaded when the host starts and
// reloaded by bus hooks on ASYNC_ENABLE_MOD and ASYNC_DISABLE_MOD, which
// run before the sessions react to those asyncs, so that every session
// reloads its commands against the new set.
//
// A registered module whose executable is missing on this node (or is not
// an executable regular file) is left out of the set: in a cluster every
// node runs the modules of its own sessions from its own file system, and
// the database lists what was registered anywhere. The node logs one
// warning when it finds a file missing (naming the path and the node),
// counts such modules (mrci_modules_missing), ls_mods marks them, and its
// sessions never see their commands. The files are looked at on every
// reload and every Config.ModuleCheck (CheckModules); when a missing file
// appears (or a present one disappears) the node's sessions reload their
// commands as after add_mod (rm_mod), without a restart.
//
// A module disabled by the crash limit stays out of the set until it is
// removed from the store (rm_mod; add_mod then brings it back with a clean
// record) or the host process restarts. Disabling publishes
// ASYNC_DISABLE_MOD with the path, so sessions unload its commands (with
// ASYNC_RM_CMD) and kill its running instances.
type externalModules struct {
	h  *Host
	rt *module.Runtime

	mu       sync.Mutex
	byPath   map[string]*module.External
	order    []string
	disabled map[string]bool
	missing  map[string]string // registered paths whose file this node lacks: why

	list atomic.Pointer[[]module.Module] // what Host.Modules returns
}

// storeTimeout bounds the store reads of the bus hooks.
const storeTimeout = 5 * time.Second

func newExternalModules(ctx context.Context, h *Host) (*externalModules, error) {
	m := &externalModules{
		h:        h,
		rt:       module.NewRuntime(module.ExternalConfig{Debug: h.Debug, Log: h.log}),
		byPath:   make(map[string]*module.External),
		disabled: make(map[string]bool),
		missing:  make(map[string]string),
	}
	if err := m.reload(ctx); err != nil {
		return nil, err
	}
	h.metrics.GaugeFunc("modules_missing", "Registered external modules whose executable is missing (or not executable) on this node; their commands are not offered here.",
		func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			return float64(len(m.missing))
		})
	h.bus.Hook(wire.AsyncEnableMod, func(msg *bus.Message) { m.changed(msg, true) })
	h.bus.Hook(wire.AsyncDisableMod, func(msg *bus.Message) { m.changed(msg, false) })
	return m, nil
}

// changed runs before sessions handle ASYNC_ENABLE_MOD / ASYNC_DISABLE_MOD:
// the set is reloaded from the store, and an enabled module that was
// already known gets its cached listings refreshed.
func (m *externalModules) changed(msg *bus.Message, enable bool) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := m.reload(ctx); err != nil {
		m.h.log.Error("reload modules", "err", err)
		return
	}
	if enable {
		m.mu.Lock()
		e := m.byPath[wire.DecodeText(msg.Data)]
		m.mu.Unlock()
		if e != nil {
			e.Refresh()
		}
	}
}

// reload makes the set match the store: new paths get a module, removed
// ones are closed (their running instances are killed by the sessions
// unloading their commands).
func (m *externalModules) reload(ctx context.Context) error {
	paths, err := m.h.cfg.Store.Modules(ctx)
	if err != nil {
		return fmt.Errorf("host: modules: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[string]*module.External, len(paths))
	order := make([]string, 0, len(paths))
	for _, p := range paths {
		if _, dup := next[p]; dup {
			continue
		}
		e := m.byPath[p]
		if e == nil {
			e = m.rt.NewExternal(p, m.crashed)
		}
		next[p] = e
		order = append(order, p)
	}
	for p, e := range m.byPath {
		if next[p] == nil {
			e.Close()
			delete(m.disabled, p)
			delete(m.missing, p)
		}
	}
	m.byPath, m.order = next, order
	m.checkFilesLocked()
	m.rebuildLocked()
	return nil
}

// fileProblem says why a module executable cannot run on this node, or
// returns "" when it is an executable regular file.
func fileProblem(p string) string {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return "not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		return "not executable"
	}
	return ""
}

// checkFilesLocked looks at the file of every registered module (m.mu
// held), records the missing ones and logs each change once; it returns
// the paths that appeared and those that disappeared.
func (m *externalModules) checkFilesLocked() (appeared, vanished []string) {
	for _, p := range m.order {
		why := fileProblem(p)
		_, was := m.missing[p]
		switch {
		case why != "" && !was:
			m.missing[p] = why
			vanished = append(vanished, p)
			m.h.log.Warn("module executable missing on this node; its commands are not offered here until it is installed",
				"module", p, "node_id", m.h.NodeID(), "reason", why)
		case why == "" && was:
			delete(m.missing, p)
			appeared = append(appeared, p)
			m.h.log.Info("module executable found on this node; its commands are offered again", "module", p, "node_id", m.h.NodeID())
		case why != "":
			m.missing[p] = why
		}
	}
	return appeared, vanished
}

// CheckModules looks at the executables of the registered modules again
// (every Config.ModuleCheck, and on every module-list reload): a module
// whose file appeared on this node is added to the node's set and one
// whose file disappeared is removed, and the node's sessions reload their
// commands as they do after add_mod or rm_mod (the other nodes are not
// told: each looks at its own files).
func (h *Host) CheckModules() {
	m := h.mods
	m.mu.Lock()
	appeared, vanished := m.checkFilesLocked()
	if len(appeared)+len(vanished) > 0 {
		m.rebuildLocked()
	}
	m.mu.Unlock()
	for _, p := range appeared {
		h.bus.Inject(&bus.Message{ID: wire.AsyncEnableMod, Data: wire.EncodeText(p)}, bus.Scope{})
	}
	for _, p := range vanished {
		h.bus.Inject(&bus.Message{ID: wire.AsyncDisableMod, Data: wire.EncodeText(p)}, bus.Scope{})
	}
}

// ModuleMissing returns why a registered module's executable cannot run
// on this node ("no such file", "not executable", ...), or "" when it can
// (or the path is not registered). ls_mods shows it.
func (h *Host) ModuleMissing(path string) string {
	h.mods.mu.Lock()
	defer h.mods.mu.Unlock()
	return h.mods.missing[path]
}

// defaultModuleCheck is how often the module files are looked at when
// Config.ModuleCheck is zero.
const defaultModuleCheck = 10 * time.Second

// moduleCheckLoop runs CheckModules every Config.ModuleCheck until ctx
// ends.
func (h *Host) moduleCheckLoop(ctx context.Context) {
	every := h.cfg.ModuleCheck
	if every < 0 {
		return
	}
	if every == 0 {
		every = defaultModuleCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.CheckModules()
		}
	}
}

func (m *externalModules) rebuildLocked() {
	l := make([]module.Module, 0, 1+len(m.h.cfg.ExtraModules)+len(m.order))
	l = append(l, m.h.internal)
	l = append(l, m.h.cfg.ExtraModules...)
	for _, p := range m.order {
		if _, gone := m.missing[p]; !gone && !m.disabled[p] {
			l = append(l, m.byPath[p])
		}
	}
	m.list.Store(&l)
}

// crashed is called when the crash limit disables a module.
func (m *externalModules) crashed(e *module.External) {
	m.mu.Lock()
	if m.byPath[e.Path()] != e {
		m.mu.Unlock()
		return
	}
	m.disabled[e.Path()] = true
	m.rebuildLocked()
	m.mu.Unlock()
	m.h.log.Warn("module disabled after repeated crashes", "module", e.Path())
	m.h.bus.Publish(&bus.Message{ID: wire.AsyncDisableMod, Data: wire.EncodeText(e.Path())}, true)
}

func (m *externalModules) modules() []module.Module { return *m.list.Load() }

// ConfigureModules changes how external module processes are run (idle
// timeout, kill grace, connect and listing timeouts, crash limit, queue
// bounds); processes started afterwards use it. Debug and Log default to
// the host's debug log and logger.
func (h *Host) ConfigureModules(cfg module.ExternalConfig) {
	if cfg.Debug == nil {
		cfg.Debug = h.Debug
	}
	if cfg.Log == nil {
		cfg.Log = h.log
	}
	h.mods.rt.SetConfig(cfg)
}

// ExternalModule returns the registered external module with the given
// (stored) path, or nil.
func (h *Host) ExternalModule(path string) *module.External {
	h.mods.mu.Lock()
	defer h.mods.mu.Unlock()
	return h.mods.byPath[path]
}

// ModuleRuntime returns the runtime shared by the external modules
// (session data, private directory).
func (h *Host) ModuleRuntime() *module.Runtime { return h.mods.rt }

// SessionPublished keeps the session data external modules read up to
// date (session.Observer).
func (h *Host) SessionPublished(id wire.SessionID, info *module.SessionInfo) {
	h.mods.rt.Publish(id, info)
}

// closeAll stops every external module (listing processes are killed;
// command instances were ended with their sessions) and empties the set.
func (m *externalModules) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, e := range m.byPath {
		e.Close()
		m.h.log.Info("module stopped", "module", p)
	}
	m.byPath, m.order = map[string]*module.External{}, nil
	m.disabled = map[string]bool{}
	m.missing = map[string]string{}
	m.rebuildLocked()
}
