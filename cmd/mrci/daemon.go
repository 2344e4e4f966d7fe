package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Daemon control (host.md §10.1-10.2): a running `mrci serve` listens on a
// unix socket in its data directory (mode 0600). `mrci status` and
// `mrci stop` send one JSON request line and read one JSON reply line; for
// stop the host keeps the connection open until the process is about to
// exit, so the client knows when it is gone.

const controlName = "mrci.sock"

// controlRequest is what a client sends.
type controlRequest struct {
	Op string `json:"op"` // "status" or "stop"
}

// controlStatus is the reply to status (and, with OK, to stop).
type controlStatus struct {
	OK            bool    `json:"ok"`
	Error         string  `json:"error,omitempty"`
	PID           int     `json:"pid"`
	Version       string  `json:"version"`
	WireVersion   string  `json:"wire_version"`
	DataDir       string  `json:"data_dir"`
	Database      string  `json:"database"`
	Listening     string  `json:"listening"`
	StoredAddr    string  `json:"stored_addr"`
	Sessions      int     `json:"sessions"`
	MaxSessions   uint32  `json:"max_sessions"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	NodeID        string  `json:"node_id"`
	// Cluster describes the node's cluster (clusterSummarizer);
	// ClusterOK is false while the node is cut off from it.
	Cluster   string `json:"cluster"`
	ClusterOK bool   `json:"cluster_ok"`
}

// clusterSummarizer is what `mrci status` asks the host about its cluster
// (host.Host.ClusterSummary): a one-line summary, and whether the node is
// connected to the rest of its cluster ("single node", true without one).
type clusterSummarizer interface {
	ClusterSummary() (summary string, ok bool)
}

// control is the host side of the control socket.
type control struct {
	ln   net.Listener
	path string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// listenControl opens the control socket of a data directory. A socket
// that answers means a host already runs there: that is an error. A stale
// socket (nothing answers) is removed; a file of that name that is not a
// socket is left alone and reported.
func listenControl(dataDir string) (*control, error) {
	path := filepath.Join(dataDir, controlName)
	if c, err := net.DialTimeout("unix", path, 2*time.Second); err == nil {
		_ = c.Close()
		return nil, fmt.Errorf("a host is already running on data directory %s (control socket %s answers)", dataDir, path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; not removing it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &control{ln: ln, path: path, conns: map[net.Conn]struct{}{}}, nil
}

// statusSource is what a status reply reads besides the host.
type statusSource struct {
	st      store.Store
	dataDir string
	dbPath  string
}

func (c *control) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *control) untrack(conn net.Conn) {
	c.mu.Lock()
	delete(c.conns, conn)
	c.mu.Unlock()
}

// serve answers control requests until Close.
func (c *control) serve(h *host.Host, src statusSource, log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		if !c.track(conn) {
			_ = conn.Close()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.handle(conn, h, src, log)
		}()
	}
}

func (c *control) handle(conn net.Conn, h *host.Host, src statusSource, log *slog.Logger) {
	stopping := false
	defer func() {
		if !stopping {
			c.untrack(conn)
			_ = conn.Close()
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadBytes('\n')
	if err != nil {
		return
	}
	var req controlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		_ = json.NewEncoder(conn).Encode(controlStatus{Error: "bad request"})
		return
	}
	st := status(h, src)
	switch req.Op {
	case "status", "stop":
	default:
		st = controlStatus{Error: fmt.Sprintf("unknown op %q", req.Op)}
	}
	_ = json.NewEncoder(conn).Encode(st)
	if req.Op == "stop" {
		// The reply is written first; the connection then stays open
		// until Close: its end tells the client the process is exiting.
		log.Info("stop requested through the control socket")
		stopping = true
		_ = conn.SetDeadline(time.Time{})
		h.Exit()
	}
}

func status(h *host.Host, src statusSource) controlStatus {
	st := controlStatus{OK: true, PID: os.Getpid(), Version: version, WireVersion: wire.Version.String(),
		DataDir: src.dataDir, Database: src.dbPath, Listening: h.ListenAddr(), Sessions: h.SessionCount(),
		MaxSessions: h.MaxSessions(), UptimeSeconds: h.Uptime().Seconds(), NodeID: h.NodeID()}
	var cs clusterSummarizer = h
	st.Cluster, st.ClusterOK = cs.ClusterSummary()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := src.st.Settings(ctx); err == nil {
		st.StoredAddr = storedAddr(s)
	}
	return st
}

// Close stops accepting, ends every control connection (stop callers
// learn the host is gone) and removes the socket.
func (c *control) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	_ = c.ln.Close() // removes the socket file
	for conn := range conns {
		_ = conn.Close()
	}
}

// errNotRunning means nothing answers on the control socket.
var errNotRunning = errors.New("not running")

// request sends one control request and decodes the reply; the returned
// connection is open for stop (the caller waits for its end).
func request(ctx context.Context, dataDir, op string) (controlStatus, net.Conn, error) {
	path := filepath.Join(dataDir, controlName)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return controlStatus{}, nil, errNotRunning
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := json.NewEncoder(conn).Encode(controlRequest{Op: op}); err != nil {
		_ = conn.Close()
		return controlStatus{}, nil, err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadBytes('\n')
	if err != nil {
		_ = conn.Close()
		return controlStatus{}, nil, fmt.Errorf("control socket: %w", err)
	}
	var st controlStatus
	if err := json.Unmarshal(line, &st); err != nil {
		_ = conn.Close()
		return st, nil, fmt.Errorf("control socket: %w", err)
	}
	if !st.OK {
		_ = conn.Close()
		return st, nil, fmt.Errorf("host: %s", st.Error)
	}
	return st, conn, nil
}

func statusCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "show whether a host runs on the data directory, its load and addresses (legacy: -status); exit 3 when not running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.absDataDir(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, conn, err := request(ctx, opts.dataDir, "status")
			if errors.Is(err, errNotRunning) {
				fmt.Fprintf(cmd.OutOrStdout(), "mrci is not running (data directory %s)\n", opts.dataDir)
				return exitError{3, fmt.Errorf("the host instance is not running")}
			}
			if err != nil {
				return err
			}
			_ = conn.Close()
			w := cmd.OutOrStdout()
			cl := st.Cluster
			if !st.ClusterOK {
				cl = "DEGRADED: " + cl
			}
			listening := st.Listening
			if listening == "" {
				listening = "(not listening: stopping or restarting)"
			}
			fmt.Fprintf(w, "mrci is running (pid %d)\n", st.PID)
			fmt.Fprintf(w, "Version:        mrci %s (wire version %s)\n", st.Version, st.WireVersion)
			fmt.Fprintf(w, "Load:           %d/%d\n", st.Sessions, st.MaxSessions)
			fmt.Fprintf(w, "Listening:      %s\n", listening)
			fmt.Fprintf(w, "Stored Addr:    %s\n", st.StoredAddr)
			fmt.Fprintf(w, "Data Dir:       %s\n", st.DataDir)
			fmt.Fprintf(w, "Database:       %s\n", st.Database)
			fmt.Fprintf(w, "Uptime:         %s\n", (time.Duration(st.UptimeSeconds) * time.Second).String())
			fmt.Fprintf(w, "Node ID:        %s\n", st.NodeID)
			fmt.Fprintf(w, "Cluster:        %s\n", cl)
			return nil
		},
	}
}

func stopCmd(opts *options) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "stop",
		Short: "stop the host running on the data directory gracefully and wait until it has exited (legacy: -stop)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.absDataDir(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st, conn, err := request(ctx, opts.dataDir, "stop")
			if errors.Is(err, errNotRunning) {
				fmt.Fprintf(cmd.OutOrStdout(), "mrci is not running (data directory %s)\n", opts.dataDir)
				return nil
			}
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "stopping mrci (pid %d)...\n", st.PID)
			// The host closes the connection when it is about to exit.
			if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, net.ErrClosed) {
				if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
					return exitError{1, fmt.Errorf("the host (pid %d) did not exit within %s", st.PID, timeout)}
				}
			}
			// Wait for the process itself to be gone.
			for processAlive(st.PID) {
				select {
				case <-ctx.Done():
					return exitError{1, fmt.Errorf("the host (pid %d) did not exit within %s", st.PID, timeout)}
				case <-time.After(20 * time.Millisecond):
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "mrci stopped")
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for the host to exit (exit code 1 after it)")
	return c
}

// processAlive reports whether a process with the pid exists (and is not a
// zombie of ours).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Field 3 is the state; Z is a zombie waiting for its parent.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
		return true
	}
	return syscall.Kill(pid, 0) == nil
}

func startCmd(opts *options) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "start [-- serve flags]",
		Short: "start the host as a detached background process (legacy: -start); refuses when one runs on the data directory",
		Long: "Starts `mrci serve` detached from the terminal, with its output appended to mrci.log in the data " +
			"directory, and returns once it answers on its control socket. Flags after -- are passed to serve.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.absDataDir(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if st, conn, err := request(ctx, opts.dataDir, "status"); err == nil {
				_ = conn.Close()
				return fmt.Errorf("a host is already running on data directory %s (pid %d)", opts.dataDir, st.PID)
			}
			if err := os.MkdirAll(opts.dataDir, 0o700); err != nil {
				return fmt.Errorf("create data directory: %w", err)
			}
			logPath := filepath.Join(opts.dataDir, "mrci.log")
			logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("log file: %w", err)
			}
			defer logf.Close()
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			start, _ := logf.Seek(0, io.SeekEnd)
			child := exec.Command(exe, append([]string{"serve", "--data-dir", opts.dataDir, "--log-level", opts.logLevel}, args...)...)
			child.Stdout, child.Stderr = logf, logf
			child.Env = opts.startEnv()
			child.Dir = "/"
			child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := child.Start(); err != nil {
				return fmt.Errorf("start the host: %w", err)
			}
			exited := make(chan error, 1)
			go func() { exited <- child.Wait() }()
			for {
				if st, conn, err := request(ctx, opts.dataDir, "status"); err == nil {
					_ = conn.Close()
					if st.PID == child.Process.Pid && st.Listening != "" {
						fmt.Fprintf(cmd.OutOrStdout(), "mrci started (pid %d), listening on %s; log: %s\n", st.PID, st.Listening, logPath)
						return nil
					}
				}
				select {
				case err := <-exited:
					return fmt.Errorf("the host exited at start (%v):\n%s", err, logTail(logPath, start))
				case <-ctx.Done():
					_ = child.Process.Kill()
					return fmt.Errorf("the host did not answer within %s; see %s", timeout, logPath)
				case <-time.After(20 * time.Millisecond):
				}
			}
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the host to answer")
	return c
}

// logTail returns what was written to the log file after offset (at most
// 4 KiB).
func logTail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	b = b[offset:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}
