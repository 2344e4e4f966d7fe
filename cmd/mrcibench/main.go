// Command mrcibench is the project's load tool. It measures a running host
// (or one it starts itself with --spawn) over loopback, with or without TLS:
//
//	mrcibench cast  -n 100 -m 200000 -s 64    1 sender, n receivers on one sub-channel
//	mrcibench rtt   -m 20000                  sequential round trips of a cheap command
//	mrcibench conn  -m 2000 -c 8              connections with full set-up per second
//	mrcibench idle  -n 1000                   host memory per idle logged-in session
//	mrcibench --web cast -n 100 -s 64         any mode over the web console's WebSockets
//	mrcibench cluster --nodes 3 -n 1000       casts on 1 node vs 3 (PostgreSQL, NATS), /varz check
//
// With --spawn PATH it starts PATH (the mrci binary) as `mrci serve` on a
// free port with a temporary data directory, so it also knows the host's
// process id for memory readings.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/pkg/client"
)

func main() {
	// Ctrl-C or SIGTERM ends the run through its context, so what it
	// started (hosts, the cluster mode's database schemas) is removed.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	root, t := newRoot(os.Stdout)
	err := root.ExecuteContext(ctx)
	// The spawned host is stopped on every exit: a run that fails (a login
	// refused, say) must not leave it running, holding the terminal's or
	// the pipe's stderr so that the caller waits for ever.
	t.stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "err:", err)
		os.Exit(1)
	}
}

// target says where the host is and how to reach it.
type target struct {
	addr     string
	user     string
	password string
	tls      bool
	spawn    string
	webAddr  string // the web console's address (web.go)
	web      bool   // every session over the web console's WebSocket (web.go)
	pid      int
	workers  int
	proc     *exec.Cmd
	// asyncBuffer is the client async channel capacity (0: the default).
	asyncBuffer int
	cpuProfile  string
	profFile    *os.File
	metricsAddr string // the spawned host's metrics and profiler (memory.go)
}

// newRoot returns the command tree and its target; the caller stops the
// target (and a spawned host) when the command returns.
func newRoot(out io.Writer) (*cobra.Command, *target) {
	t := &target{}
	root := &cobra.Command{Use: "mrcibench", Short: "load tool for MRCI hosts", SilenceUsage: true, SilenceErrors: true}
	f := root.PersistentFlags()
	f.StringVar(&t.addr, "addr", "127.0.0.1:35516", "host address")
	f.StringVar(&t.user, "user", "root", "account to log in as")
	f.StringVar(&t.password, "password", os.Getenv("MRCI_PASSWORD"), "password (env MRCI_PASSWORD)")
	f.BoolVar(&t.tls, "tls", false, "spawn the host with --force-tls (loopback clients then use TLS)")
	f.StringVar(&t.spawn, "spawn", "", "path of an mrci binary to start for the run")
	f.StringVar(&t.webAddr, "web-addr", "", "the host's web console address (passed to the spawned host as --web-addr)")
	f.BoolVar(&t.web, "web", false, "connect every session through the web console's WebSocket (--web-addr; with --spawn a free loopback port)")
	f.IntVar(&t.pid, "host-pid", 0, "process id of the host, for memory readings")
	f.IntVar(&t.workers, "workers", 8, "concurrent workers for connecting and logging in")
	f.StringVar(&t.cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file")
	root.SetOut(out)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return t.start(cmd.Context()) }
	root.AddCommand(castCmd(t), rttCmd(t), connCmd(t), idleCmd(t), webIdleCmd(t))
	root.AddCommand(floodCmd(t), headerlessCmd(t), transferCmd(t), clusterCmd(t))
	return root, t
}

const spawnPassword = "Bench-Root-Pass-1"

func (t *target) start(ctx context.Context) error {
	if err := t.startProfile(); err != nil {
		return err
	}
	if t.spawn == "" {
		return nil
	}
	return t.startHost(ctx)
}

// startProfile starts the load tool's CPU profile (--cpuprofile).
func (t *target) startProfile() error {
	if t.cpuProfile != "" {
		f, err := os.Create(t.cpuProfile)
		if err != nil {
			return err
		}
		t.profFile = f
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	return nil
}

// startHost starts the --spawn binary as a single host.
func (t *target) startHost(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	t.addr = ln.Addr().String()
	_ = ln.Close()
	extra, err := t.prepareSpawn()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mrcibench-")
	if err != nil {
		return err
	}
	args := []string{"serve", "--data-dir", dir, "--addr", t.addr, "--max-sessions", "200000", "--log-level", "warn"}
	if t.tls {
		args = append(args, "--force-tls")
	}
	if t.webAddr != "" {
		args = append(args, "--web-addr", t.webAddr)
	}
	args = append(args, extra...)
	t.proc = exec.Command(t.spawn, args...)
	t.proc.Env = append(os.Environ(), "MRCI_ROOT_PASSWORD="+spawnPassword)
	t.proc.Stderr = os.Stderr
	t.proc.SysProcAttr = hostProcAttr()
	if err := t.proc.Start(); err != nil {
		return err
	}
	t.pid = t.proc.Process.Pid
	t.user, t.password = "root", spawnPassword
	for range 200 {
		c, err := net.Dial("tcp", t.addr)
		if err == nil {
			_ = c.Close()
			return t.waitWeb(ctx)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return errors.New("spawned host did not start listening")
}

// stop ends the CPU profile and the spawned host; it may be called again.
func (t *target) stop() {
	if t.profFile != nil {
		pprof.StopCPUProfile()
		_ = t.profFile.Close()
		t.profFile = nil
	}
	if t.proc != nil {
		defer func() { t.proc = nil }()
		_ = t.proc.Process.Signal(os.Interrupt)
		_ = t.proc.Wait()
		for _, a := range t.proc.Args {
			if strings.HasPrefix(a, filepath.Join(os.TempDir(), "mrcibench-")) {
				_ = os.RemoveAll(a)
			}
		}
		t.proc = nil
	}
}

// dial connects a client; receivers of casts get a deep async buffer so
// the load tool itself does not drop frames.
func (t *target) dial(ctx context.Context) (*client.Client, error) {
	return client.Dial(ctx, t.addr, client.Options{AppName: "mrcibench", TrustHostCert: true, AsyncBuffer: t.asyncBuffer, DialContext: t.webDialer()})
}

func (t *target) login(ctx context.Context) (*client.Client, error) {
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, t.user, t.password); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// loginMany logs n sessions in with the configured number of workers.
func (t *target) loginMany(ctx context.Context, n int) ([]*client.Client, error) {
	return t.connectMany(ctx, n, t.login)
}

// dialMany connects n anonymous sessions.
func (t *target) dialMany(ctx context.Context, n int) ([]*client.Client, error) {
	return t.connectMany(ctx, n, t.dial)
}

func (t *target) connectMany(ctx context.Context, n int, connect func(context.Context) (*client.Client, error)) ([]*client.Client, error) {
	out := make([]*client.Client, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range t.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := connect(ctx)
				if err != nil {
					errs <- fmt.Errorf("session %d: %w", i, err)
					continue
				}
				out[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	// Every session must connect (and log in): a run with fewer would
	// under-count, so any failure fails the run, with how many failed.
	if first := <-errs; first != nil {
		closeAll(out)
		return nil, fmt.Errorf("%d of %d sessions failed to connect or log in as %q (first: %w)", len(errs)+1, n, t.user, first)
	}
	return out, nil
}

func closeAll(cs []*client.Client) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

// run runs a command and fails on ERR frames.
func run(ctx context.Context, c *client.Client, name, args string) error {
	res, err := c.Run(ctx, name, args)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// quantiles returns p50 and p99 of the samples.
func quantiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return d[len(d)*50/100], d[min(len(d)*99/100, len(d)-1)]
}

// hostCPU returns the CPU time (user + system) the host process has used
// so far, or 0 if its process id is not known. Unlike rates, CPU time per
// delivery hardly moves with the load other processes put on the machine.
func (t *target) hostCPU() time.Duration { return procCPU(t.pid) }

// rss returns the resident set size of a process in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}
