package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/store/postgres/pgschema"
	"github.com/mrci/mrci/pkg/client"
)

// The cluster mode (docs/cluster.md, docs/benchmarks.md "Cluster
// fan-out"): one invocation measures the same cast fan-out on a single
// node and on a cluster of N nodes, each case on a fresh PostgreSQL schema
// with nodes spawned from the --spawn binary, and checks with the NATS
// server's own statistics that every cast crossed NATS once.

// defaultClusterDB is the PostgreSQL server the cluster mode uses unless
// --database names another (the project's local test database).
const defaultClusterDB = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// clusterOpts are the cluster mode's flags.
type clusterOpts struct {
	nodes, n, m, size, rounds int
	rate                      int
	database                  string
	natsURL, natsMonitor      string
	timeout                   time.Duration
}

// clusterCase is the outcome of one case (1 node or N nodes).
type clusterCase struct {
	nodes, n, m  int
	loginRetries int64 // log-ins tried again (the database was busy)
	res          castResult
	nats         *natsCheck // nil for a single node
}

// ok says whether the case delivered every cast exactly once and, for a
// cluster, crossed NATS as expected.
func (c clusterCase) ok() bool { return c.res.exact() && (c.nats == nil || c.nats.ok()) }

func clusterCmd(t *target) *cobra.Command {
	var o clusterOpts
	c := &cobra.Command{
		Use:   "cluster",
		Short: "cast fan-out on 1 node and on --nodes nodes (PostgreSQL, NATS) spawned from --spawn; checks NATS publishes once per cast",
		// The nodes are started per case, not as the single host of the
		// other modes.
		PersistentPreRunE: func(*cobra.Command, []string) error { return t.startProfile() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCluster(cmd.Context(), cmd.OutOrStdout(), t, o)
		},
	}
	f := c.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "nodes of the cluster case (≥2)")
	f.IntVarP(&o.n, "receivers", "n", 1000, "receiving sessions, spread evenly over the nodes")
	f.IntVarP(&o.m, "messages", "m", 2000, "casts per case")
	f.IntVarP(&o.size, "size", "s", 64, "payload bytes per cast (≥16)")
	f.IntVar(&o.rate, "rate", 0, "casts per second (0: back to back); latency is meaningful below saturation")
	f.IntVar(&o.rounds, "rounds", 1, "rounds of (1 node, N nodes), interleaved")
	f.StringVar(&o.database, "database", defaultClusterDB, "PostgreSQL server; each case creates a schema of its own there and drops it")
	f.StringVar(&o.natsURL, "nats", "", "NATS server for the cluster (default: an embedded one on a free loopback port); it must carry no other traffic during the run")
	f.StringVar(&o.natsMonitor, "nats-monitor", "", "monitoring URL of the --nats server (http://host:8222), for /varz and /subsz")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up waiting for deliveries after this long without any")
	return c
}

func runCluster(ctx context.Context, out io.Writer, t *target, o clusterOpts) error {
	switch {
	case t.spawn == "":
		return errors.New("cluster needs --spawn PATH (the mrci binary to start the nodes from)")
	case t.web:
		return errors.New("cluster does not support --web")
	case o.nodes < 2:
		return errors.New("--nodes: want at least 2")
	case o.n < o.nodes:
		return fmt.Errorf("-n %d: want at least one receiver per node (%d)", o.n, o.nodes)
	case o.m < 1 || o.rounds < 1:
		return errors.New("-m and --rounds: want at least 1")
	case (o.natsURL == "") != (o.natsMonitor == ""):
		return errors.New("--nats and --nats-monitor go together")
	}
	if o.natsURL == "" {
		ns, err := natsserver.NewServer(&natsserver.Options{
			Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, HTTPHost: "127.0.0.1", HTTPPort: natsserver.RANDOM_PORT,
			NoLog: true, NoSigs: true,
		})
		if err != nil {
			return fmt.Errorf("embedded NATS server: %w", err)
		}
		go ns.Start()
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		if !ns.ReadyForConnections(30 * time.Second) {
			return errors.New("embedded NATS server: not ready within 30s")
		}
		o.natsURL, o.natsMonitor = ns.ClientURL(), "http://"+ns.MonitorAddr().String()
	}
	mon := newNATSMonitor(o.natsMonitor)
	if _, err := mon.varz(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "cluster: %d receivers, %d casts of %d bytes per case (rate %d), 1 node vs %d nodes, %d round(s); PostgreSQL %s, NATS %s (monitor %s)\n",
		o.n, o.m, max(o.size, 16), o.rate, o.nodes, o.rounds, pgschema.Redact(o.database), pgschema.Redact(o.natsURL), o.natsMonitor)
	var cases []clusterCase
	for r := range o.rounds {
		for _, nodes := range []int{1, o.nodes} {
			c, err := runClusterCase(ctx, t, o, mon, nodes)
			if err != nil {
				return fmt.Errorf("round %d, %d node(s): %w", r+1, nodes, err)
			}
			fmt.Fprintf(out, "round %d %s\n", r+1, c)
			cases = append(cases, c)
		}
	}
	single, multi := summarize(cases, 1), summarize(cases, o.nodes)
	ratio := "n/a (no CPU time measured: too few casts)"
	if single.cpu > 0 {
		r := multi.cpu / single.cpu
		verdict := "within"
		if r > 1.5 {
			verdict = "NOT within"
		}
		ratio = fmt.Sprintf("%.2f (%s the 1.5× target)", r, verdict)
	}
	fmt.Fprintf(out, "summary: host CPU per delivery 1 node %.3f µs, %d nodes %.3f µs: ratio %d nodes / 1 node %s; p99 latency 1 node %v, %d nodes %v\n",
		single.cpu, o.nodes, multi.cpu, o.nodes, ratio, single.p99, o.nodes, multi.p99)
	failed := 0
	for _, c := range cases {
		if !c.ok() {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d cases lost, duplicated or mis-routed casts (FAIL above)", failed, len(cases))
	}
	return nil
}

func (c clusterCase) String() string {
	r := c.res
	status := "PASS"
	if !r.exact() {
		status = "FAIL"
	}
	s := fmt.Sprintf("nodes=%d n=%d m=%d size=%d: delivered %d/%d, lost %d, duplicated %d, disconnected %d, dropped by the load tool %d: %s; "+
		"%.0f msgs/s, host CPU %.3f µs per delivery, latency p50 %v p99 %v",
		c.nodes, c.n, c.m, r.size, r.delivered, r.total, r.lost, r.duplicated, r.disconnected, r.dropped, status,
		r.rate(), r.cpuPerDelivery()/1000, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	if c.loginRetries > 0 {
		s += fmt.Sprintf(" (%d log-ins tried again: the database was busy)", c.loginRetries)
	}
	if c.nats != nil {
		s += "; " + c.nats.String()
	}
	return s
}

// aggregate is one configuration's figures over its rounds.
type aggregate struct {
	cpu float64       // µs per delivery: all rounds' CPU over all their deliveries
	p99 time.Duration // the median of the rounds' p99
}

func summarize(cases []clusterCase, nodes int) aggregate {
	var cpu time.Duration
	var delivered int64
	var p99 []time.Duration
	for _, c := range cases {
		if c.nodes == nodes {
			cpu += c.res.cpu
			delivered += c.res.delivered
			p99 = append(p99, c.res.p99)
		}
	}
	slices.Sort(p99)
	return aggregate{cpu: float64(cpu.Nanoseconds()) / 1000 / float64(max(delivered, 1)), p99: p99[len(p99)/2].Round(time.Microsecond)}
}

// runClusterCase measures one case: nodes nodes (1: a single host without
// NATS) on a fresh schema, the sender and the channel on the first node,
// the receivers spread evenly.
func runClusterCase(ctx context.Context, t *target, o clusterOpts, mon natsMonitor, nodes int) (clusterCase, error) {
	cc := clusterCase{nodes: nodes, n: o.n, m: o.m}
	dsn, _, drop, err := pgschema.Create(ctx, o.database, "mrcibench_")
	if err != nil {
		return cc, err
	}
	defer func() {
		if err := drop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "mrcibench:", err)
		}
	}()
	name := ""
	if nodes > 1 {
		name = "mrcibench" + randomHex(4)
	}
	procs := make([]*node, 0, nodes)
	defer func() { // stop the nodes before the schema is dropped
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range nodes {
		p, err := startNode(ctx, t, dsn, o.natsURL, name, i+1)
		if err != nil {
			return cc, err
		}
		procs = append(procs, p)
	}
	at := func(i int) *target {
		nt := *t
		nt.addr, nt.pid, nt.proc = procs[i].addr, procs[i].cmd.Process.Pid, nil
		nt.user, nt.password = "root", spawnPassword
		nt.asyncBuffer = castBuffer(o.n, o.m)
		return &nt
	}
	// Every session logs in as root: on PostgreSQL the log-ins of one
	// account queue on its row, and on a loaded machine one may exceed the
	// host's database deadline. Such a log-in is tried again (counted in
	// the output) rather than failing the run; each try has a deadline,
	// since a host that accepted the password but could not load the
	// account answers with an error pkg/client's Login does not wait for,
	// and a session whose command list could not be loaded (the host says
	// to reconnect) is replaced too.
	var retried atomic.Int64
	loginAt := func(nt *target) func(context.Context) (*client.Client, error) {
		return func(ctx context.Context) (*client.Client, error) {
			for try := 1; ; try++ {
				c, err := loginTry(ctx, nt)
				if err == nil || try == loginTries || ctx.Err() != nil {
					return c, err
				}
				retried.Add(1)
				select { // back off: the database was busy
				case <-time.After(time.Duration(try) * time.Second):
				case <-ctx.Done():
				}
			}
		}
	}
	sender, err := loginAt(at(0))(ctx)
	if err != nil {
		return cc, fmt.Errorf("sender: %w", err)
	}
	defer sender.Close()
	ch, err := addCastChannel(ctx, sender)
	if err != nil {
		return cc, err
	}
	// Receiver i is on node i mod nodes.
	receivers := make([]*client.Client, o.n)
	defer closeAll(receivers)
	for k := range nodes {
		nt := at(k)
		cs, err := nt.connectMany(ctx, (o.n-k+nodes-1)/nodes, loginAt(nt))
		if err != nil {
			return cc, fmt.Errorf("receivers on node %d: %w", k+1, err)
		}
		for j, c := range cs {
			receivers[k+j*nodes] = c
		}
	}
	run := castRun{
		sender: sender, receivers: receivers, ch: ch, m: o.m, size: o.size, rate: o.rate, timeout: o.timeout,
		cpu: func() time.Duration {
			var d time.Duration
			for _, p := range procs {
				d += procCPU(p.cmd.Process.Pid)
			}
			return d
		},
	}
	var before, after natsSnapshot
	if nodes > 1 {
		run.before = func() (err error) { before, err = mon.snapshot(ctx, name); return err }
		run.after = func() (err error) { after, err = mon.snapshot(ctx, name); return err }
	}
	cc.loginRetries = retried.Load()
	cc.res, err = runCasts(ctx, run)
	if err != nil {
		return cc, err
	}
	if nodes > 1 {
		// Every receiving node but the sender's gets each cast from NATS
		// (the sender's node serves its own receivers directly, and NATS
		// does not echo a node's publishes back to it). The end marker is
		// a cast of the window too.
		cc.nats = newNATSCheck(before, after, int64(o.m)+1, int64(min(nodes, o.n)-1))
	}
	return cc, nil
}

// node is a spawned `mrci serve`.
type node struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	done chan struct{}
}

// startNode starts node number i of a case with its own data directory
// and a free loopback port, on the database dsn, joining the cluster
// natsURL/name unless name is empty, and waits until it listens.
func startNode(ctx context.Context, t *target, dsn, natsURL, name string, i int) (*node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir, err := os.MkdirTemp("", "mrcibench-node-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", dir, "--addr", addr, "--max-sessions", "200000", "--log-level", "warn",
		"--database", dsn, "--node-id", fmt.Sprintf("node%d", i)}
	if name != "" {
		args = append(args, "--cluster", natsURL, "--cluster-name", name)
	}
	if t.tls {
		args = append(args, "--force-tls")
	}
	cmd := exec.Command(t.spawn, args...)
	cmd.Env = append(os.Environ(), "MRCI_ROOT_PASSWORD="+spawnPassword)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = hostProcAttr()
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	p := &node{cmd: cmd, addr: addr, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	// The first node creates the schema (migrations) before it listens;
	// on a loaded machine that takes a while.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			p.stop()
			return nil, fmt.Errorf("node %d exited before it listened (%v)", i, cmd.ProcessState)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("node %d did not listen on %s within 2m", i, addr)
		}
	}
}

// stop interrupts the node, waits for it (killing it after a minute) and
// removes its data directory.
func (p *node) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = os.RemoveAll(p.dir)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loginTries is how often the cluster mode tries one session's log-in,
// loginTimeout how long one try may take.
const (
	loginTries   = 4
	loginTimeout = 30 * time.Second
)

// loginTry logs one session in as nt's user within loginTimeout, and
// waits until the host has announced the commands a run uses.
func loginTry(ctx context.Context, nt *target) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	c, err := nt.login(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"open_sub_ch", "cast"} {
		if _, err := c.WaitCommand(ctx, name); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("logged in, but the host announced no %s: %w", name, err)
		}
	}
	return c, nil
}

// natsMonitor reads a NATS server's monitoring endpoint.
type natsMonitor struct {
	base string
	http *http.Client
}

// newNATSMonitor returns a reader of the monitoring endpoint at base
// (http://host:port); it keeps no idle connection between requests.
func newNATSMonitor(base string) natsMonitor {
	return natsMonitor{base: strings.TrimSuffix(base, "/"), http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (m natsMonitor) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return fmt.Errorf("NATS monitoring: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("NATS monitoring %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("NATS monitoring %s: %w", path, err)
	}
	return nil
}

// varzCounts are the server's message counters.
type varzCounts struct {
	In  int64 `json:"in_msgs"`
	Out int64 `json:"out_msgs"`
}

func (m natsMonitor) varz(ctx context.Context) (varzCounts, error) {
	var v varzCounts
	return v, m.get(ctx, "/varz", &v)
}

// delivered sums the messages the server has delivered to the
// subscriptions that match subject (each subscription counts its own).
func (m natsMonitor) delivered(ctx context.Context, subject string) (int64, error) {
	var s struct {
		Total int `json:"total"`
		Subs  []struct {
			Msgs int64 `json:"msgs"`
		} `json:"subscriptions_list"`
	}
	if err := m.get(ctx, "/subsz?subs=1&limit=100000&test="+url.QueryEscape(subject), &s); err != nil {
		return 0, err
	}
	if s.Total != len(s.Subs) {
		return 0, fmt.Errorf("NATS monitoring: /subsz listed %d of %d subscriptions to %s", len(s.Subs), s.Total, subject)
	}
	var n int64
	for _, sub := range s.Subs {
		n += sub.Msgs
	}
	return n, nil
}

// natsSnapshot is the server's counters at one moment: /varz and the
// deliveries of the node subject (heartbeats), which every node
// subscribes to.
type natsSnapshot struct {
	varzCounts
	nodeMsgs int64
}

// snapshot reads the counters while nothing crosses the server: /varz,
// the node subject's deliveries, a pause, and both again; it repeats
// until nothing changed in between, so the readings belong together (a
// heartbeat falls between two of them otherwise).
func (m natsMonitor) snapshot(ctx context.Context, cluster string) (natsSnapshot, error) {
	read := func() (s natsSnapshot, err error) {
		if s.varzCounts, err = m.varz(ctx); err != nil {
			return s, err
		}
		s.nodeMsgs, err = m.delivered(ctx, cluster+".node")
		return s, err
	}
	prev, err := read()
	if err != nil {
		return prev, err
	}
	for range 100 {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		s, err := read()
		if err != nil {
			return s, err
		}
		if s == prev {
			return s, nil
		}
		prev = s
	}
	return prev, errors.New("NATS monitoring: the counters never stood still for 100ms (is another client using this server?)")
}

// natsCheck compares the server's counters over the measured window with
// what one publish per cast means: in_msgs grows by the casts and the
// heartbeats, out_msgs by casts × the receiving nodes other than the
// sender's plus the heartbeats' deliveries.
type natsCheck struct {
	casts, remoteNodes int64
	in, out            int64 // /varz deltas
	hbIn, hbOut        int64 // heartbeats (and other node-subject traffic) published and delivered
}

func newNATSCheck(before, after natsSnapshot, casts, remoteNodes int64) *natsCheck {
	c := &natsCheck{casts: casts, remoteNodes: remoteNodes,
		in: after.In - before.In, out: after.Out - before.Out, hbOut: after.nodeMsgs - before.nodeMsgs}
	// Every node subscribes to the node subject and none receives its
	// own, so each heartbeat is delivered to the other nodes.
	c.hbIn = c.hbOut / remoteNodes
	return c
}

func (c *natsCheck) wantIn() int64  { return c.casts + c.hbIn }
func (c *natsCheck) wantOut() int64 { return c.casts*c.remoteNodes + c.hbOut }

func (c *natsCheck) ok() bool {
	return c.hbOut%c.remoteNodes == 0 && c.in == c.wantIn() && c.out == c.wantOut()
}

func (c *natsCheck) String() string {
	status := "PASS"
	if !c.ok() {
		status = "FAIL"
	}
	return fmt.Sprintf("NATS /varz in_msgs +%d (want %d casts + %d heartbeats = %d), out_msgs +%d (want %d casts × %d other nodes + %d heartbeat deliveries = %d): %s",
		c.in, c.casts, c.hbIn, c.wantIn(), c.out, c.casts, c.remoteNodes, c.hbOut, c.wantOut(), status)
}
