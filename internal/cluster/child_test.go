package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store/postgres"
)

// Child processes: the test binary re-executed with MRCI_CLUSTER_CHILD set
// runs one host (a node of a cluster when MRCI_CHILD_NATS is set) on a
// PostgreSQL schema, prints "ready <address>" and serves until SIGTERM or
// SIGKILL. Tests kill such a node for real; the fan-out benchmark measures
// the hosts' own CPU time, apart from the clients'.

const childEnv = "MRCI_CLUSTER_CHILD"

// runChild is the child's main; it returns the exit status.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if b := os.Getenv("MRCI_CHILD_BIND"); b != "" {
		// This node's own view of one directory (spawn started it in a
		// mount namespace of its own): as on another machine, the files
		// there are not the other nodes'.
		src, dst, _ := strings.Cut(b, "=")
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			return fail(fmt.Errorf("make the mount namespace private: %w", err))
		}
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			return fail(fmt.Errorf("bind %s over %s: %w", src, dst, err))
		}
	}
	st, err := postgres.Open(ctx, os.Getenv("MRCI_CHILD_DSN"))
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	var copts cluster.Options
	if u := os.Getenv("MRCI_CHILD_NATS"); u != "" {
		copts = cluster.Options{
			URLs: []string{u}, Name: os.Getenv("MRCI_CHILD_NAME"), NodeID: os.Getenv("MRCI_CHILD_NODE"),
			Heartbeat: hosttest.ClusterHeartbeat, DeadAfter: hosttest.ClusterDeadAfter, ReconnectWait: 100 * time.Millisecond,
		}
		if hb, err := time.ParseDuration(os.Getenv("MRCI_CHILD_HEARTBEAT")); err == nil {
			copts.Heartbeat = hb
		}
	}
	moduleCheck, _ := time.ParseDuration(os.Getenv("MRCI_CHILD_MODULE_CHECK"))
	dir, err := os.MkdirTemp("", "mrci-child-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(ctx, host.Config{
		Store: st, Log: log, PasswordParams: hosttest.Params, Version: "child", Dir: dir,
		MaxSessions: 20000, DrainTimeout: 5 * time.Second, Cluster: copts, ModuleCheck: moduleCheck,
	})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	fmt.Printf("ready %s\n", ln.Addr())
	if err := h.Serve(ctx, ln); err != nil {
		return fail(err)
	}
	return 0
}

// child is a host running in a child process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	done   chan struct{}
	stderr *hosttest.Buffer // what it wrote on stderr (its warnings), also copied to ours
}

// spawn starts a child host on the schema of dsn; natsURL empty makes it
// a single node. It is killed when the test ends. env adds variables:
// MRCI_CHILD_HEARTBEAT (the node's heartbeat interval),
// MRCI_CHILD_MODULE_CHECK (host.Config.ModuleCheck) and MRCI_CHILD_BIND
// ("src=dst": the node runs in a mount namespace of its own where the
// directory src is mounted over dst, so it sees other files at dst than
// the test and the other nodes do).
func spawn(t testing.TB, dsn, natsURL, name, node string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "MRCI_CHILD_DSN="+dsn, "MRCI_CHILD_NATS="+natsURL,
		"MRCI_CHILD_NAME="+name, "MRCI_CHILD_NODE="+node)
	cmd.Env = append(cmd.Env, env...)
	for _, e := range env {
		if strings.HasPrefix(e, "MRCI_CHILD_BIND=") {
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
			if uid, gid := os.Getuid(), os.Getgid(); uid != 0 {
				// Without root, a user namespace gives the child the
				// right to mount in its own mount namespace.
				cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
				cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
				cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
				cmd.SysProcAttr.GidMappingsEnableSetgroups = false
			}
		}
	}
	stderr := &hosttest.Buffer{}
	cmd.Stderr = io.MultiWriter(os.Stderr, stderr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), stderr: stderr}
	ready := make(chan string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- a
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	select {
	case c.addr = <-ready:
	case <-c.done:
		t.Fatalf("child %s exited before it was ready", node)
	case <-time.After(wait):
		t.Fatalf("child %s not ready within %v", node, wait)
	}
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

// cpu returns the child's user+system CPU time so far (Linux /proc).
func (c *child) cpu(t testing.TB) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15 (1-based).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ut, st int64
	fmt.Sscan(fields[11], &ut)
	fmt.Sscan(fields[12], &st)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}
