package cluster_test

import (
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/wire"
)

// peerStatsUntil reads async frames until the first one that satisfies
// stop and returns every PEER_STAT read on the way (stop's frame included
// when it is one).
func (p *peer) peerStatsUntil(stop func(f wire.Frame) bool) []wire.PeerStat {
	p.t.Helper()
	var out []wire.PeerStat
	for {
		f := p.next()
		if f.Cmd == uint16(wire.AsyncLimitedCast) && f.Type == wire.TypePeerStat {
			ps, err := wire.ParsePeerStat(f.Payload)
			if err != nil {
				p.t.Fatalf("%s: PEER_STAT: %v", p.name, err)
			}
			out = append(out, ps)
		}
		if stop(f) {
			return out
		}
	}
}

// disconnectOf stops at the PEER_STAT telling that sid ended.
func disconnectOf(sid wire.SessionID) func(wire.Frame) bool {
	return func(f wire.Frame) bool {
		if f.Cmd != uint16(wire.AsyncLimitedCast) || f.Type != wire.TypePeerStat {
			return false
		}
		ps, err := wire.ParsePeerStat(f.Payload)
		return err == nil && ps.SessionID == sid && ps.Disconnected
	}
}

// castText stops at the cast with the given text.
func castText(text string) func(wire.Frame) bool {
	return func(f wire.Frame) bool {
		return f.Cmd == uint16(wire.AsyncCast) && f.Type == wire.TypeText && wire.DecodeText(f.Payload) == text
	}
}

// countAbout counts the PEER_STATs about a session, and those of them
// that say it ended.
func countAbout(stats []wire.PeerStat, sid wire.SessionID) (all, ended int) {
	for _, ps := range stats {
		if ps.SessionID == sid {
			all++
			if ps.Disconnected {
				ended++
			}
		}
	}
	return all, ended
}

// markers has a and b cast a marker to each other and returns the
// PEER_STATs each read before the other's marker: once a node has
// delivered a later cast, whatever it was going to say earlier is said.
func markers(a, b *peer, prefix string) (seenByA, seenByB []wire.PeerStat) {
	a.run("cast", wire.TypeText, wire.EncodeText(prefix+"-a"))
	seenByB = b.peerStatsUntil(castText(prefix + "-a"))
	b.run("cast", wire.TypeText, wire.EncodeText(prefix+"-b"))
	seenByA = a.peerStatsUntil(castText(prefix + "-b"))
	return seenByA, seenByB
}

// TestPresenceDeltaSpeaksForALateOpen: a session on node 3 opens a
// sub-channel shared with a session on node 1, a session on node 2 opens
// it after, and node 3 is SIGKILLed right then. Heartbeats are an hour
// apart, so node 3 never announced the session in one, and node 2 had no
// interest in the sub-channel when the session's PEER_STAT went out: only
// the presence delta can have told it. The node is detected lost when it
// comes back under the same id (a new run), and both peers get the
// PEER_STAT (disconnected) the session's end would have sent, once. A
// session of node 3 that had ended normally before (one PEER_STAT, from
// its end) is not spoken for again.
func TestPresenceDeltaSpeaksForALateOpen(t *testing.T) {
	dsn, natsURL := hosttest.PostgresDSN(t), hosttest.NATSURL(t)
	name := fmt.Sprintf("mrcidelta%d", time.Now().UnixNano())
	w := newWorld(t, hosttest.ClusterOptions{Nodes: 2, DSN: dsn, Name: name, Heartbeat: time.Hour})
	w.sub("room")
	w.member("carol")
	w.member("dave")
	hb := "MRCI_CHILD_HEARTBEAT=1h"
	n3 := spawn(t, dsn, natsURL, name, "n3", hb)
	a, b := w.login("alice", 0), w.login("bob", 1)
	c := w.loginAt("carol", 2, n3.addr, "")
	d := w.loginAt("dave", 2, n3.addr, "")
	a.open(w, "room")

	// dave is present, then ends normally: his own end tells the peers.
	d.open(w, "room")
	dsid := d.sid()
	if ps := a.peerStatOf(dsid); ps.Disconnected {
		t.Fatalf("alice: PEER_STAT %+v, want dave's open", ps)
	}
	if err := d.c.Close(); err != nil {
		t.Fatal(err)
	}
	a.peerStatsUntil(disconnectOf(dsid))

	// carol opens the room: alice is told.
	c.open(w, "room")
	csid := c.sid()
	if ps := a.peerStatOf(csid); ps.Disconnected {
		t.Fatalf("alice: PEER_STAT %+v, want carol's open", ps)
	}
	// Node 2, which had no session in the room, learns it from the deltas
	// (dave's end and carol's open, in that order).
	waitFor(t, "node 2 to know carol, and only carol, is present", func() bool {
		p := w.hosts[1].ClusterPresentOf("n3")
		return len(p) == 1 && p[0] == csid
	})
	// bob opens the room after carol: on one host, carol's end would
	// tell him too. Then node 3 dies.
	b.open(w, "room")
	n3.kill(t)
	spawn(t, dsn, natsURL, name, "n3", hb) // the same node, a new run: the old one is lost

	var seen [2][]wire.PeerStat
	for i, p := range []*peer{a, b} {
		seen[i] = p.peerStatsUntil(disconnectOf(csid))
		if ps := seen[i][len(seen[i])-1]; ps.Open.Len() != 0 {
			t.Fatalf("%s: PEER_STAT %+v, want carol disconnected with no list", p.name, ps)
		}
	}
	sa, sb := markers(a, b, "mark")
	seen[0], seen[1] = append(seen[0], sa...), append(seen[1], sb...)
	for i, p := range []*peer{a, b} {
		if all, _ := countAbout(seen[i], csid); all != 1 {
			t.Errorf("%s: %d PEER_STATs about carol after the kill, want 1", p.name, all)
		}
		if all, _ := countAbout(seen[i], dsid); all != 0 {
			t.Errorf("%s: %d PEER_STATs about dave, who had ended before, want 0", p.name, all)
		}
	}
}

// TestPresenceGracefulEndsSayItOnce: sessions that end normally, and a
// node that stops gracefully, tell their peers once (the sessions' own
// PEER_STAT); the presence deltas add nothing the peers see.
func TestPresenceGracefulEndsSayItOnce(t *testing.T) {
	w := newWorld(t, hosttest.ClusterOptions{Heartbeat: time.Hour})
	w.sub("room")
	a, b := w.login("alice", 0), w.login("bob", 1)
	c, e := w.login("carol", 2), w.login("erin", 2)
	a.open(w, "room")
	b.open(w, "room")
	c.open(w, "room")
	e.open(w, "room")
	csid, esid := c.sid(), e.sid()
	for _, p := range []*peer{a, b} {
		p.peerStatOf(csid)
		p.peerStatOf(esid)
	}
	// Nodes that forward a PEER_STAT know its presence change.
	for i, h := range w.hosts[:2] {
		st, _ := h.ClusterStatus()
		for _, n := range st.Nodes {
			if n.ID == "n3" && n.Present != 2 {
				t.Fatalf("node %d sees %d sessions of n3 present, want 2", i+1, n.Present)
			}
		}
	}
	// carol's session ends normally, then node 3 stops (erin's ends).
	if err := c.c.Close(); err != nil {
		t.Fatal(err)
	}
	var seen [2][]wire.PeerStat
	for i, p := range []*peer{a, b} {
		seen[i] = p.peerStatsUntil(disconnectOf(csid))
	}
	w.hosts[2].Stop()
	for i, p := range []*peer{a, b} {
		seen[i] = append(seen[i], p.peerStatsUntil(disconnectOf(esid))...)
	}
	// The goodbye has been handled on nodes 1 and 2 once they delivered
	// what NATS queued for them.
	for _, h := range w.hosts[:2] {
		if err := h.ClusterFlush(hosttest.Ctx(t, wait)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range w.hosts[:2] {
		if err := h.ClusterSync(hosttest.Ctx(t, wait)); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := markers(a, b, "mark")
	seen[0], seen[1] = append(seen[0], sa...), append(seen[1], sb...)
	for i, p := range []*peer{a, b} {
		for _, who := range []struct {
			name string
			sid  wire.SessionID
		}{{"carol", csid}, {"erin", esid}} {
			if all, ended := countAbout(seen[i], who.sid); all != 1 || ended != 1 {
				t.Errorf("%s: %d PEER_STATs about %s (%d disconnected), want exactly one", p.name, all, who.name, ended)
			}
		}
	}
	for i, h := range w.hosts[:2] {
		if st, _ := h.ClusterStatus(); len(st.Nodes) != 1 {
			t.Errorf("node %d still hears from %d other nodes, want 1", i+1, len(st.Nodes))
		}
	}
}

// TestPresenceDeltasAreCoalesced: a node whose sessions change presence
// as fast as they can publishes at most one delta per coalescing gap, and
// the other node's view still ends with each session's last state.
func TestPresenceDeltasAreCoalesced(t *testing.T) {
	url := hosttest.NATSURL(t)
	name := fmt.Sprintf("mrcicoalesce%d", time.Now().UnixNano())
	ctx := hosttest.Ctx(t, wait)
	connect := func(id string) *cluster.Node {
		n, err := cluster.Connect(ctx, cluster.Config{Options: cluster.Options{URLs: []string{url}, Name: name, NodeID: id,
			Heartbeat: time.Hour}, Bus: nopLocal{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return n
	}
	a, b := connect("a"), connect("b")
	waitFor(t, "the nodes to hear each other", func() bool {
		return len(a.Status(0).Nodes) == 1 && len(b.Status(0).Nodes) == 1
	})
	var open wire.SubChannelList
	open.Add(wire.SubChannel{Channel: 1, Sub: 1})
	const sessions, toggles = 50, 200
	start := time.Now()
	for i := range toggles {
		for s := range sessions {
			sid := wire.SessionID{byte(s), 1}
			a.StampSessionID(&sid)
			if i%2 == 0 {
				a.SetPresence(sid, open)
			} else {
				a.SetPresence(sid, wire.SubChannelList{})
			}
		}
	}
	// Leave 10 sessions present.
	for s := range 10 {
		sid := wire.SessionID{byte(s), 1}
		a.StampSessionID(&sid)
		a.SetPresence(sid, open)
	}
	elapsed := time.Since(start)
	waitFor(t, "node b to see node a's last state", func() bool {
		st := b.Status(0)
		return len(st.Nodes) == 1 && st.Nodes[0].Present == 10
	})
	st := a.Status(0)
	// One delta at once, then at most one per 20 ms gap, plus the one
	// that closes the last gap.
	if limit := uint64(elapsed/(20*time.Millisecond)) + 2; st.PresenceDeltas > limit {
		t.Errorf("%d presence deltas for %d changes in %v, want at most %d", st.PresenceDeltas, sessions*toggles+10, elapsed, limit)
	}
	if st.Present != 10 {
		t.Errorf("node a counts %d present sessions, want 10", st.Present)
	}
	t.Logf("%d changes in %v: %d deltas", sessions*toggles+10, elapsed, st.PresenceDeltas)
}

// TestPresenceOverThePayloadLimit: a node with more present sessions than
// one NATS message holds (a server with a 4 KB payload limit here, 1 MB
// by default) sends them in several deltas, and its heartbeat, which
// would be too large, goes out without the list followed by the list in
// deltas: the other node sees every session and keeps hearing the node.
func TestPresenceOverThePayloadLimit(t *testing.T) {
	ns := startNATSWith(t, func(o *natsserver.Options) { o.MaxPayload = 4096 })
	ctx := hosttest.Ctx(t, wait)
	connect := func(id string) *cluster.Node {
		n, err := cluster.Connect(ctx, cluster.Config{Options: cluster.Options{URLs: []string{ns.url()}, Name: "payload", NodeID: id,
			Heartbeat: 50 * time.Millisecond, DeadAfter: time.Minute}, Bus: nopLocal{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return n
	}
	a, b := connect("a"), connect("b")
	var open wire.SubChannelList
	open.Add(wire.SubChannel{Channel: 1, Sub: 1})
	const present = 130 // about 10.7 KB of presence list
	for i := range present {
		sid := wire.SessionID{byte(i), byte(i >> 8), 7}
		a.StampSessionID(&sid)
		a.SetPresence(sid, open)
	}
	after := time.Now()
	waitFor(t, "node b to see all of node a's sessions in a heartbeat sent after they were present", func() bool {
		st := b.Status(0)
		return len(st.Nodes) == 1 && st.Nodes[0].Present == present && st.Nodes[0].LastSeen.After(after.Add(100*time.Millisecond))
	})
	if st := a.Status(0); st.PublishErrors != 0 {
		t.Fatalf("node a failed to publish %d messages", st.PublishErrors)
	}
}
