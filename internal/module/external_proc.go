package module

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// process is one started module process and the pipe it must connect to.
type process struct {
	rt     *Runtime
	cmd    *exec.Cmd
	ln     *net.UnixListener
	sock   string
	exited chan struct{} // closed once Wait has returned
	err    error         // Wait's result, valid after exited
	forced atomic.Bool   // the host force-killed it
	once   sync.Once
}

// spawn creates the pipe and starts path with the modules.md §3.1 command
// line: -pipe_name <socket> -mem_ses <file> -mem_host <file> <mode...>.
// sessionFile "" means the blank session block. dir is the working
// directory ("" or a missing directory: the host's). stdout and stderr
// receive the process output.
func (rt *Runtime) spawn(path string, mode []string, sessionFile, dir string, stdout, stderr io.Writer) (*process, error) {
	d, err := rt.acquire()
	if err != nil {
		return nil, err
	}
	ln, err := listenUnix(d.sock)
	if err != nil {
		rt.release()
		return nil, err
	}
	if sessionFile == "" {
		sessionFile = d.blank
	}
	args := append([]string{"-pipe_name", d.sock, "-mem_ses", sessionFile, "-mem_host", d.host}, mode...)
	cmd := exec.Command(path, args...)
	if dir != "" {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			cmd.Dir = dir
		}
	}
	cmd.Env = moduleEnv(os.Environ(), rt.Config().Env)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		rt.release()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	rt.cfg.Load().Log.Info("module process started", "module", path, "pid", cmd.Process.Pid, "mode", strings.Join(mode, " "))
	p := &process{rt: rt, cmd: cmd, ln: ln, sock: d.sock, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// passedEnv are the variables of the host's environment a module process
// inherits (docs/modules.md): what programs need to find executables, the
// home and temporary directories, and the locale and time zone. Nothing
// else is passed: the host's environment holds secrets
// (MRCI_ROOT_PASSWORD, database DSNs) that modules must not see.
var passedEnv = []string{"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"}

// PassEnvVar names the variable of the host's environment that lists (by
// name, separated by commas or spaces) further variables the operator
// passes on to module processes, e.g. MRCI_MODULE_ENV=MRCI_NOTEBOOK_DIR.
const PassEnvVar = "MRCI_MODULE_ENV"

// moduleEnv returns the environment of a module process: the passedEnv
// variables, every LC_* variable and the variables PassEnvVar names, taken
// from host; then EXENAME=mrci, then the configured extra entries.
func moduleEnv(host, extra []string) []string {
	var named []string
	for _, kv := range host {
		if v, ok := strings.CutPrefix(kv, PassEnvVar+"="); ok {
			named = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		}
	}
	env := make([]string, 0, len(passedEnv)+len(named)+len(extra)+4)
	for _, kv := range host {
		k, _, ok := strings.Cut(kv, "=")
		if ok && (slices.Contains(passedEnv, k) || strings.HasPrefix(k, "LC_") || slices.Contains(named, k)) {
			env = append(env, kv)
		}
	}
	env = append(env, "EXENAME=mrci")
	return append(env, extra...)
}

// listenUnix listens on path; if that fails, a leftover file of that name
// is removed and listening is tried once more (modules.md §3.3).
func listenUnix(path string) (*net.UnixListener, error) {
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	ln, err := net.ListenUnix("unix", addr)
	if err != nil {
		_ = os.Remove(path)
		if ln, err = net.ListenUnix("unix", addr); err != nil {
			return nil, fmt.Errorf("listen on module pipe: %w", err)
		}
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// errNoConnect is wrapped by accept's errors.
var errNoConnect = errors.New("module did not connect to its pipe")

// accept waits for the process to connect. Exactly one connection is
// accepted: the listener (and its socket file) is closed afterwards, so
// later attempts fail. Connections from other processes are refused.
func (p *process) accept(timeout time.Duration) (*net.UnixConn, error) {
	type result struct {
		c   *net.UnixConn
		err error
	}
	ch := make(chan result, 1)
	pid := p.cmd.Process.Pid
	go func() {
		for {
			c, err := p.ln.AcceptUnix()
			if err != nil {
				ch <- result{nil, err}
				return
			}
			if err := checkPeer(c, pid); err != nil {
				p.rt.debug(fmt.Sprintf("module pipe %s: refused a connection: %v", p.sock, err))
				_ = c.Close()
				continue
			}
			ch <- result{c, nil}
			return
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var why error
	select {
	case r := <-ch:
		_ = p.ln.Close()
		if r.err != nil {
			return nil, fmt.Errorf("%w: %w", errNoConnect, r.err)
		}
		return r.c, nil
	case <-p.exited:
		why = fmt.Errorf("%w: it exited first (%v)", errNoConnect, p.exitText())
	case <-t.C:
		why = fmt.Errorf("%w within %v", errNoConnect, timeout)
	}
	_ = p.ln.Close()
	// A fast module may have connected, written everything and exited
	// before the accept was seen: take that connection.
	if r := <-ch; r.c != nil {
		return r.c, nil
	}
	return nil, why
}

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// forceKill kills the process (and its process group) if it still runs.
func (p *process) forceKill() {
	if p.running() {
		p.forced.Store(true)
		killTree(p.cmd.Process)
	}
}

// waitExit waits up to d for the process to exit, then force-kills it and
// waits for that.
func (p *process) waitExit(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return
	case <-t.C:
	}
	p.forceKill()
	<-p.exited
}

// exitText describes how the process ended.
func (p *process) exitText() string {
	ps := p.cmd.ProcessState
	if ps == nil {
		return "still running"
	}
	if sig, ok := signalled(ps); ok {
		return "killed by " + sig
	}
	return fmt.Sprintf("exit status %d", ps.ExitCode())
}

// crashed reports whether the process died from a signal the host did
// not send.
func (p *process) crashed() bool {
	if p.forced.Load() || p.cmd.ProcessState == nil {
		return false
	}
	_, sig := signalled(p.cmd.ProcessState)
	return sig
}

// finish closes the pipe and drops the runtime reference; call it once
// the process has exited.
func (p *process) finish() {
	p.once.Do(func() {
		_ = p.ln.Close()
		p.rt.release()
	})
}
