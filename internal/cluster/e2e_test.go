package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/modsdk/modsdktest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	modsdktest.Main() // the external modules of the module tests
	goleak.VerifyTestMain(m)
}

// wait bounds every positive expectation (a safety net, not a timing
// assertion).
const wait = 15 * time.Second

const userPW = "Pw-Cluster-1234"

// natsServer is an embedded NATS server with monitoring, so a test can
// read its statistics and restart it without touching a shared server.
type natsServer struct {
	t    *testing.T
	port int
	s    *natsserver.Server
	tune func(*natsserver.Options) // changes to the default options, or nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startNATS(t *testing.T) *natsServer { return startNATSWith(t, nil) }

// startNATSWith starts an embedded NATS server whose options tune changes.
func startNATSWith(t *testing.T, tune func(*natsserver.Options)) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, port: freePort(t), tune: tune}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	opts := &natsserver.Options{
		Host: "127.0.0.1", Port: ns.port, HTTPHost: "127.0.0.1", HTTPPort: natsserver.RANDOM_PORT,
		NoLog: true, NoSigs: true,
	}
	if ns.tune != nil {
		ns.tune(opts)
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		ns.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		ns.t.Fatal("embedded NATS server not ready")
	}
	ns.s = s
}

func (ns *natsServer) stop() {
	if ns.s != nil {
		ns.s.Shutdown()
		ns.s.WaitForShutdown()
		ns.s = nil
	}
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

// varz reads in_msgs and out_msgs from the server's monitoring endpoint.
func (ns *natsServer) varz() (in, out int64) {
	ns.t.Helper()
	resp, err := http.Get("http://" + ns.s.MonitorAddr().String() + "/varz")
	if err != nil {
		ns.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		InMsgs  int64 `json:"in_msgs"`
		OutMsgs int64 `json:"out_msgs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		ns.t.Fatal(err)
	}
	return v.InMsgs, v.OutMsgs
}

// world is a three-node cluster with a channel whose sub-channels are
// created on demand.
type world struct {
	t     *testing.T
	hosts []*hosttest.Host
	owner store.User
	ch    uint64
}

// connected reports whether every node is connected to NATS.
func (w *world) connected() bool {
	for _, h := range w.hosts {
		if st, _ := h.ClusterStatus(); !st.Connected {
			return false
		}
	}
	return true
}

func newWorld(t *testing.T, co hosttest.ClusterOptions) *world {
	t.Helper()
	w := &world{t: t, hosts: hosttest.StartCluster(t, hosttest.Options{}, co)}
	w.owner = w.hosts[0].CreateUser(t, "owner", userPW, 2)
	ch, err := w.hosts[0].Store.CreateChannel(context.Background(), "clusterch", w.owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.ch = ch.ID
	w.hosts[0].RankAll(t, 2, "open_sub_ch", "cast", "p2p_request", "p2p_open", "p2p_close", "host_info")
	return w
}

func (w *world) sub(name string) wire.SubChannel {
	w.t.Helper()
	s, err := w.hosts[0].Store.CreateSubChannel(context.Background(), w.ch, name, 50)
	if err != nil {
		w.t.Fatal(err)
	}
	return wire.SubChannel{Channel: w.ch, Sub: s.ID}
}

// member creates an account that is a member of the channel.
func (w *world) member(name string) {
	w.t.Helper()
	u := w.hosts[0].CreateUser(w.t, name, userPW, 2)
	if err := w.hosts[0].Store.AddMember(context.Background(), store.Member{ChannelID: w.ch, UserID: u.ID, Level: 4}); err != nil {
		w.t.Fatal(err)
	}
}

// peer is a logged-in client of one node.
type peer struct {
	t    *testing.T
	name string
	node int
	c    *client.Client
}

// login creates a member of the channel and logs it in on node i.
func (w *world) login(name string, node int) *peer {
	w.t.Helper()
	w.member(name)
	h := w.hosts[node]
	return w.loginAt(name, node, h.Addr, string(h.Cert.CertPEM))
}

// loginAt logs an existing member in at an address (a child process's
// host: loopback, plaintext).
func (w *world) loginAt(name string, node int, addr, pinned string) *peer {
	w.t.Helper()
	ctx := hosttest.Ctx(w.t, wait)
	c, err := client.Dial(ctx, addr, client.Options{PinnedCert: pinned, AppName: "clustertest", AsyncBuffer: 1 << 15})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = c.Close() })
	if err := c.Login(ctx, name, userPW); err != nil {
		w.t.Fatalf("login %s: %v", name, err)
	}
	return &peer{t: w.t, name: name, node: node, c: c}
}

func (p *peer) sid() wire.SessionID { return p.c.SessionID() }

// run runs a command that must succeed.
func (p *peer) run(name string, t wire.TypeID, payload []byte) {
	p.t.Helper()
	ctx := hosttest.Ctx(p.t, wait)
	call, err := p.c.Start(ctx, name)
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, name, err)
	}
	res, err := call.Run(ctx, t, payload, nil)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, name, err)
	}
}

// text runs a command without arguments and returns its text output.
func (p *peer) text(name string) string {
	p.t.Helper()
	ctx := hosttest.Ctx(p.t, wait)
	call, err := p.c.Start(ctx, name)
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, name, err)
	}
	res, err := call.Run(ctx, wire.TypeText, nil, nil)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, name, err)
	}
	return res.Text()
}

func (p *peer) open(w *world, subs ...string) {
	p.t.Helper()
	for _, s := range subs {
		p.run("open_sub_ch", wire.TypeText, wire.EncodeText("-ch_name clusterch -sub_name "+s))
	}
}

// next returns the next async frame that is not a command-table update.
func (p *peer) next() wire.Frame {
	p.t.Helper()
	return p.nextWhere("async frame", func(f wire.Frame) bool {
		return f.Cmd != uint16(wire.AsyncAddCmd) && f.Cmd != uint16(wire.AsyncRmCmd) && f.Cmd != uint16(wire.AsyncSysMsg)
	})
}

// nextWhere returns the next async frame that keep accepts, skipping the
// others; the test fails if none arrives within wait (what names it).
func (p *peer) nextWhere(what string, keep func(wire.Frame) bool) wire.Frame {
	p.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-p.c.Async():
			if !ok {
				p.t.Fatalf("%s: connection ended: %v", p.name, p.c.Err())
			}
			if keep(f) {
				return f
			}
		case <-timer.C:
			p.t.Fatalf("%s: no %s within %v", p.name, what, wait)
		}
	}
}

// nextOf returns the next async frame of an id, skipping others.
func (p *peer) nextOf(id wire.AsyncID, t wire.TypeID) wire.Frame {
	p.t.Helper()
	for {
		if f := p.next(); f.Cmd == uint16(id) && f.Type == t {
			return f
		}
	}
}

// peerStatOf returns the next PEER_STAT about a session, skipping others.
func (p *peer) peerStatOf(sid wire.SessionID) wire.PeerStat {
	p.t.Helper()
	for {
		f := p.nextOf(wire.AsyncLimitedCast, wire.TypePeerStat)
		ps, err := wire.ParsePeerStat(f.Payload)
		if err != nil {
			p.t.Fatalf("%s: PEER_STAT: %v", p.name, err)
		}
		if ps.SessionID == sid {
			return ps
		}
	}
}

// castSeq reads casts until the marker and checks that they are exactly
// 0..n-1 in order: nothing lost, nothing twice, nothing out of order.
func (p *peer) castSeq(n int, marker string) {
	p.t.Helper()
	want := 0
	for {
		f := p.nextOf(wire.AsyncCast, wire.TypeText)
		text := wire.DecodeText(f.Payload)
		if text == marker {
			break
		}
		if text != strconv.Itoa(want) {
			p.t.Fatalf("%s (node %d): cast %q, want %d", p.name, p.node+1, text, want)
		}
		want++
	}
	if want != n {
		p.t.Fatalf("%s (node %d): %d casts before the marker, want %d", p.name, p.node+1, want, n)
	}
}

// flush waits until NATS has what every node published so far, and every
// node has taken in what NATS queued for it.
func (w *world) flush() {
	w.t.Helper()
	for _, h := range w.hosts {
		if err := h.ClusterFlush(hosttest.Ctx(w.t, wait)); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, h := range w.hosts {
		if err := h.ClusterSync(hosttest.Ctx(w.t, wait)); err != nil {
			w.t.Fatal(err)
		}
	}
}

// settlePresence waits until no node has a presence change waiting for
// its delta (deltas are coalesced for up to 20 ms), so that every delta of
// the changes made so far has been published (w.flush then makes sure it
// has been delivered).
func (w *world) settlePresence() {
	w.t.Helper()
	for _, h := range w.hosts {
		waitFor(w.t, "node "+h.NodeID()+"'s presence delta", func() bool {
			st, _ := h.ClusterStatus()
			return st.PresencePending == 0
		})
	}
}

// TestCastExactlyOnceInOrderOnEveryNode casts from one node to receivers
// on all three: every receiver gets every cast once, in the order sent,
// and the NATS server's own statistics show one publish per cast and one
// delivery per cast to each other node with receivers (docs/cluster.md).
func TestCastExactlyOnceInOrderOnEveryNode(t *testing.T) {
	ns := startNATS(t)
	// No heartbeat during the measurement: only the casts move.
	w := newWorld(t, hosttest.ClusterOptions{URLs: []string{ns.url()}, Heartbeat: time.Hour})
	w.sub("talk")
	s := w.login("sender", 0)
	var recv []*peer
	for i := range 6 {
		recv = append(recv, w.login(fmt.Sprintf("recv%d", i), i%3))
	}
	s.open(w, "talk")
	for _, r := range recv {
		r.open(w, "talk")
	}
	// The opens are announced in presence deltas, coalesced for up to
	// 20 ms: wait until every node has heard the others' final presence,
	// so that the last delta is not counted with the casts.
	w.settlePresence()
	w.flush()
	in0, out0 := ns.varz()
	const n = 300
	for i := range n {
		s.run("cast", wire.TypeText, wire.EncodeText(strconv.Itoa(i)))
	}
	s.run("cast", wire.TypeText, wire.EncodeText("end"))
	for _, r := range recv {
		r.castSeq(n, "end")
	}
	w.flush()
	in1, out1 := ns.varz()
	if in1-in0 != n+1 {
		t.Errorf("NATS in_msgs grew by %d for %d casts, want one publish per cast", in1-in0, n+1)
	}
	if out1-out0 != 2*(n+1) {
		t.Errorf("NATS out_msgs grew by %d for %d casts to two other nodes with receivers, want %d", out1-out0, n+1, 2*(n+1))
	}
}

// TestCastOverSeveralSubChannelsReachesEachSessionOnce casts with a
// writable list of two sub-channels: a session with both open gets one
// copy, whichever node it is on (one publish per list entry, each node
// delivers an entry's copy only to sessions without an earlier entry open).
func TestCastOverSeveralSubChannelsReachesEachSessionOnce(t *testing.T) {
	w := newWorld(t, hosttest.ClusterOptions{})
	w.sub("alpha")
	w.sub("beta")
	s := w.login("sender", 0)
	s.open(w, "alpha", "beta")
	var recv []*peer
	for i, subs := range [][]string{{"alpha"}, {"beta"}, {"alpha", "beta"}, {"beta", "alpha"}} {
		for node := range 3 {
			r := w.login(fmt.Sprintf("r%d%d", i, node), node)
			r.open(w, subs...)
			recv = append(recv, r)
		}
	}
	const n = 50
	for i := range n {
		s.run("cast", wire.TypeText, wire.EncodeText(strconv.Itoa(i)))
	}
	s.run("cast", wire.TypeText, wire.EncodeText("end"))
	for _, r := range recv {
		r.castSeq(n, "end")
	}
}

// cutter is a NATS dialer whose connections a test can cut, and whose
// later dials then fail: the node is cut off as if killed.
type cutter struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cutter) dial(network, address string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, fmt.Errorf("cut off")
	}
	conn, err := net.DialTimeout(network, address, 5*time.Second)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) cutOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

// TestKilledNodesPeersAreTold cuts a node off NATS without a goodbye
// while its session is in a sub-channel and in p2p links with sessions on
// the other nodes: they get what the session's end would have sent them,
// P2P_CLOSE and PEER_STAT (disconnected).
func TestKilledNodesPeersAreTold(t *testing.T) {
	cut := &cutter{}
	w := newWorld(t, hosttest.ClusterOptions{Dial: func(i int) func(string, string) (net.Conn, error) {
		if i == 2 {
			return cut.dial
		}
		return nil
	}})
	w.sub("room")
	a, b, c := w.login("alice", 0), w.login("bob", 1), w.login("carol", 2)
	a.open(w, "room")
	b.open(w, "room")
	c.open(w, "room")
	for _, p := range []*peer{a, b} {
		if ps := p.peerStatOf(c.sid()); ps.Disconnected {
			t.Fatalf("%s: PEER_STAT %+v, want carol's open", p.name, ps)
		}
	}
	// carol–alice: an open link; bob→carol: a pending request.
	csid, asid := c.sid(), a.sid()
	c.run("p2p_request", wire.TypeSessionID, asid[:])
	a.nextOf(wire.AsyncP2P, wire.TypeP2PRequest)
	a.run("p2p_open", wire.TypeSessionID, csid[:])
	c.nextOf(wire.AsyncP2P, wire.TypeP2POpen)
	b.run("p2p_request", wire.TypeSessionID, csid[:])
	c.nextOf(wire.AsyncP2P, wire.TypeP2PRequest)

	// The others learn carol's presence from node 3's heartbeats.
	waitFor(t, "node 3's heartbeat announcing carol", func() bool {
		for _, h := range w.hosts[:2] {
			st, _ := h.ClusterStatus()
			found := false
			for _, n := range st.Nodes {
				found = found || (n.ID == "n3" && n.Present == 1)
			}
			if !found {
				return false
			}
		}
		return true
	})

	start := time.Now()
	cut.cutOff()
	w.hosts[2].Stop() // its sessions end, but nothing reaches the others
	for _, p := range []*peer{a, b} {
		f := p.nextOf(wire.AsyncP2P, wire.TypeP2PClose)
		if !bytes.Equal(f.Payload, csid[:]) {
			t.Fatalf("%s: P2P_CLOSE for % x, want carol's", p.name, f.Payload)
		}
	}
	for _, p := range []*peer{a, b} {
		if ps := p.peerStatOf(csid); !ps.Disconnected || ps.Open.Len() != 0 {
			t.Fatalf("%s: PEER_STAT %+v, want carol disconnected", p.name, ps)
		}
	}
	t.Logf("peers told %v after the node was cut off (dead after %v)", time.Since(start), hosttest.ClusterDeadAfter)
}

// TestNATSRestartUnderLoad restarts the NATS server while a node casts
// continuously: the nodes reconnect, restore their subscriptions, and casts
// reach the other nodes again.
func TestNATSRestartUnderLoad(t *testing.T) {
	ns := startNATS(t)
	w := newWorld(t, hosttest.ClusterOptions{URLs: []string{ns.url()}})
	w.sub("load")
	s := w.login("sender", 0)
	r0, r1, r2 := w.login("r0", 0), w.login("r1", 1), w.login("r2", 2)
	s.open(w, "load")
	r0.open(w, "load")
	r1.open(w, "load")
	r2.open(w, "load")

	ctx, cancel := context.WithCancel(context.Background())
	castErr := make(chan error, 1)
	go func() {
		call, err := s.c.Start(ctx, "cast")
		if err != nil {
			castErr <- err
			return
		}
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := call.Run(ctx, wire.TypeText, wire.EncodeText("load"), nil); err != nil && ctx.Err() == nil {
				castErr <- err
				return
			}
		}
		castErr <- nil
	}()
	for _, r := range []*peer{r1, r2} {
		if f := r.nextOf(wire.AsyncCast, wire.TypeText); wire.DecodeText(f.Payload) != "load" {
			t.Fatalf("%s: cast %q", r.name, f.Payload)
		}
	}
	ns.stop()
	waitFor(t, "every node to notice the loss", func() bool {
		for _, h := range w.hosts {
			if st, _ := h.ClusterStatus(); st.Connected {
				return false
			}
		}
		return true
	})
	// Without NATS, the sessions of one node still reach each other.
	s.run("cast", wire.TypeText, wire.EncodeText("during"))
	for wire.DecodeText(r0.nextOf(wire.AsyncCast, wire.TypeText).Payload) != "during" {
	}
	if st, _ := w.hosts[0].ClusterStatus(); st.Connected || st.LastError == "" {
		t.Fatalf("status while NATS is down: %+v", st)
	}
	ns.start()
	waitFor(t, "every node to reconnect", w.connected)
	cancel()
	if err := <-castErr; err != nil {
		t.Fatalf("casting during the restart: %v", err)
	}
	w.flush()
	s.run("cast", wire.TypeText, wire.EncodeText("after"))
	for _, r := range []*peer{r1, r2} {
		for {
			if f := r.nextOf(wire.AsyncCast, wire.TypeText); wire.DecodeText(f.Payload) == "after" {
				break
			}
		}
	}
	if st, _ := w.hosts[0].ClusterStatus(); st.Disconnects == 0 || st.Reconnects == 0 {
		t.Fatalf("status after the restart: %+v", st)
	}
}

// TestHostWideChangesReachEveryNode changes the session limit and the
// bans on one node: the others apply them (within a second in production;
// here the test waits for it).
func TestHostWideChangesReachEveryNode(t *testing.T) {
	w := newWorld(t, hosttest.ClusterOptions{})
	w.hosts[0].SetMaxSessions(7)
	if err := w.hosts[0].Store.AddBan(context.Background(), "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	w.hosts[0].ReloadBans()
	banned := netipMust(t, "192.0.2.7")
	waitFor(t, "the limit and the ban on every node", func() bool {
		for _, h := range w.hosts {
			if h.MaxSessions() != 7 || !h.Banned(banned) {
				return false
			}
		}
		return true
	})
}

// TestNotifyUserReachesEveryNode: the e-mail commands' notice (and the
// logout after a password reset) reaches the account's sessions on every
// node.
func TestNotifyUserReachesEveryNode(t *testing.T) {
	w := newWorld(t, hosttest.ClusterOptions{})
	p := w.login("dave", 2)
	u, err := w.hosts[0].Store.UserByName(context.Background(), "dave")
	if err != nil {
		t.Fatal(err)
	}
	w.hosts[0].NotifyUser(u.ID, "\nyour password was reset\n", true)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f := <-p.c.Async():
			if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeText && wire.DecodeText(f.Payload) == "\nyour password was reset\n" {
				waitFor(t, "dave's session on node 3 to be logged out", func() bool { return len(w.hosts[2].Bus().SessionsOf(u.ID)) == 0 })
				return
			}
		case <-timer.C:
			t.Fatal("the notice never reached the session on node 3")
		}
	}
}

// TestClusterLoad: every node counts the sessions of the whole cluster.
func TestClusterLoad(t *testing.T) {
	w := newWorld(t, hosttest.ClusterOptions{})
	for i := range 5 {
		w.login(fmt.Sprintf("u%d", i), i%3)
	}
	waitFor(t, "every node to count 5 sessions in the cluster", func() bool {
		for _, h := range w.hosts {
			if h.ClusterSessionCount() != 5 {
				return false
			}
		}
		return true
	})
	// host_info on node 2 (u1 and u4 are there, the asker makes 6).
	p := w.login("asker", 1)
	waitFor(t, "every node to count the asker", func() bool { return w.hosts[0].ClusterSessionCount() == 6 && w.hosts[2].ClusterSessionCount() == 6 })
	waitFor(t, "node 2 to count the asker", func() bool { return w.hosts[1].ClusterSessionCount() == 6 })
	text := p.text("host_info")
	for _, want := range []string{"Load:           3/", "Cluster Load:   6 sessions on 3 nodes"} {
		if !strings.Contains(text, want) {
			t.Fatalf("host_info lacks %q:\n%s", want, text)
		}
	}
}

func netipMust(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitFor polls a condition that other goroutines make true (heartbeats,
// reconnects); the deadline is a safety net.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGKILLedNodesPeersAreTold kills a node running in its own process
// with SIGKILL while its session is in a sub-channel and p2p links with
// sessions on the two other nodes: they get P2P_CLOSE and PEER_STAT
// (disconnected) from the survivors.
func TestSIGKILLedNodesPeersAreTold(t *testing.T) {
	dsn, natsURL := hosttest.PostgresDSN(t), hosttest.NATSURL(t)
	name := fmt.Sprintf("mrcikill%d", time.Now().UnixNano())
	w := newWorld(t, hosttest.ClusterOptions{Nodes: 2, DSN: dsn, Name: name})
	w.sub("room")
	w.member("carol")
	n3 := spawn(t, dsn, natsURL, name, "n3")
	a, b := w.login("alice", 0), w.login("bob", 1)
	c := w.loginAt("carol", 2, n3.addr, "")
	a.open(w, "room")
	b.open(w, "room")
	c.open(w, "room")
	for _, p := range []*peer{a, b} {
		if ps := p.peerStatOf(c.sid()); ps.Disconnected {
			t.Fatalf("%s: PEER_STAT %+v, want carol's open", p.name, ps)
		}
	}
	csid, asid := c.sid(), a.sid()
	c.run("p2p_request", wire.TypeSessionID, asid[:])
	a.nextOf(wire.AsyncP2P, wire.TypeP2PRequest)
	a.run("p2p_open", wire.TypeSessionID, csid[:])
	c.nextOf(wire.AsyncP2P, wire.TypeP2POpen)
	b.run("p2p_request", wire.TypeSessionID, csid[:])
	c.nextOf(wire.AsyncP2P, wire.TypeP2PRequest)
	waitFor(t, "n3's heartbeat announcing carol", func() bool {
		for _, h := range w.hosts {
			st, _ := h.ClusterStatus()
			found := false
			for _, n := range st.Nodes {
				found = found || (n.ID == "n3" && n.Present == 1)
			}
			if !found {
				return false
			}
		}
		return true
	})
	start := time.Now()
	n3.kill(t)
	for _, p := range []*peer{a, b} {
		if f := p.nextOf(wire.AsyncP2P, wire.TypeP2PClose); !bytes.Equal(f.Payload, csid[:]) {
			t.Fatalf("%s: P2P_CLOSE for % x, want carol's", p.name, f.Payload)
		}
		if ps := p.peerStatOf(csid); !ps.Disconnected || ps.Open.Len() != 0 {
			t.Fatalf("%s: PEER_STAT %+v, want carol disconnected", p.name, ps)
		}
	}
	t.Logf("peers told %v after SIGKILL (dead after %v)", time.Since(start), hosttest.ClusterDeadAfter)
}

// nopLocal is a bus that receives nothing (a node alone in its cluster).
type nopLocal struct{}

func (nopLocal) Inject(*bus.Message, bus.Scope)              {}
func (nopLocal) SendLocal(wire.SessionID, *bus.Message) bool { return false }

// TestConnectAuthAndErrors: a node authenticates to NATS with the
// configured user and password, and fails at start with an error naming
// the server (without the password) when it cannot get in.
func TestConnectAuthAndErrors(t *testing.T) {
	ns := startNATSWith(t, func(o *natsserver.Options) { o.Username, o.Password = "mrci", "s3cret" })
	ctx := hosttest.Ctx(t, wait)
	opts := cluster.Options{URLs: []string{ns.url()}, Name: "authtest", NodeID: "a1", User: "mrci", Password: "s3cret"}
	var logs hosttest.Buffer
	n, err := cluster.Connect(ctx, cluster.Config{Options: opts, Bus: nopLocal{}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("connect with the right password: %v", err)
	}
	if st := n.Status(0); !st.Connected || st.NodeID != "a1" || st.Cluster != "authtest" {
		t.Fatalf("status %+v", st)
	}
	n.Close()
	// Leaving is not losing NATS: no warning on a graceful close.
	if out := logs.String(); strings.Contains(out, "lost NATS") || !strings.Contains(out, "left the cluster") {
		t.Fatalf("log of a graceful close:\n%s", out)
	}

	opts.Password = "wrong"
	if _, err := cluster.Connect(ctx, cluster.Config{Options: opts, Bus: nopLocal{}}); err == nil ||
		!strings.Contains(err.Error(), "cluster: connect to NATS at "+ns.url()) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
	opts.Password = "s3cret"
	opts.URLs = []string{"nats://mrci:pw@127.0.0.1:" + strconv.Itoa(freePort(t))}
	if _, err := cluster.Connect(ctx, cluster.Config{Options: opts, Bus: nopLocal{}}); err == nil ||
		!strings.Contains(err.Error(), "nats://mrci:xxx@127.0.0.1") {
		t.Fatalf("no server: %v", err)
	}
	opts.NodeID = ""
	if _, err := cluster.Connect(ctx, cluster.Config{Options: opts, Bus: nopLocal{}}); err == nil {
		t.Fatal("connected without a node id")
	}
}
