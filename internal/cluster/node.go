package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// Local is what a node needs from its host's bus: delivering messages that
// came from other nodes to the sessions of this node.
type Local interface {
	// Inject fans a message out to the local sessions within a scope,
	// without forwarding it again.
	Inject(msg *bus.Message, sc bus.Scope)
	// SendLocal delivers a message to one local session.
	SendLocal(to wire.SessionID, msg *bus.Message) bool
}

// Presence is a session that, were it to end, would send PEER_STAT: it is
// active and has sub-channels open. Nodes announce each change of theirs
// (SetPresence) and the full list in every heartbeat, so the others can
// speak for them when the node is lost.
type Presence struct {
	Session wire.SessionID
	Open    wire.SubChannelList
}

// Lost describes a node that stopped: its id, its tag (the last 8 bytes
// of every session id it gave out, see StampSessionID) and its sessions
// that were present in sub-channels as of its last heartbeat and the
// presence deltas it sent after it.
type Lost struct {
	NodeID   string
	Tag      Tag
	Presence []Presence
	Graceful bool // the node said goodbye (its sessions ended normally)
}

// Event is a host-wide change made on one node that the others must apply.
type Event uint8

// Host-wide events.
const (
	// EventBans: the ban list changed (UPDATE_BANS); reload it.
	EventBans Event = iota + 1
	// EventSettings: the settings row changed; drop cached copies.
	EventSettings
	// EventNotifyUser: tell an account's sessions something and maybe log
	// them out (the e-mail commands); data is [user id: 32][logout: 1][text].
	EventNotifyUser
)

// eventReconnected, broadcast by a node that reconnected to NATS, has the
// others call Config.Resync: what it broadcast while cut off never reached
// them. The node handles it itself; HostEvent never sees it.
const eventReconnected Event = 0xff

// Config configures a Node.
type Config struct {
	Options Options
	// Bus delivers messages from other nodes to this node's sessions.
	Bus Local
	Log *slog.Logger
	// Sessions returns this node's number of sessions (announced in every
	// heartbeat, with the sessions present in sub-channels that the host
	// reports through SetPresence).
	Sessions func() int
	// NodeLost is called when another node stopped or has been silent
	// for DeadAfter; the host ends that node's sessions for its peers.
	NodeLost func(Lost)
	// HostEvent is called when another node reports a host-wide change,
	// with the data it broadcast.
	HostEvent func(ev Event, data []byte)
	// Resync, if set, is called after this node reconnected to NATS
	// (its subscriptions restored) and after another node said it did:
	// the host-wide events broadcast while they were apart were lost, so
	// the host reads that state again from the database. It runs on a
	// goroutine of its own, one call at a time (requests that arrive
	// during a call make one more call), and Close waits for it.
	Resync func()
}

// Tag identifies one run of a node; session ids given out by that run end
// with it, so every node knows which node a session lives on.
type Tag [8]byte

// TagOf returns the tag of the node a session id was given out by.
func TagOf(id wire.SessionID) Tag {
	var t Tag
	copy(t[:], id[wire.SessionIDLen-len(t):])
	return t
}

// Node is this host's member of a cluster: one NATS connection carrying
// every async that leaves or reaches this node, subscriptions following
// the interest of the local sessions, and heartbeats. It implements
// bus.Remote.
type Node struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	nc   *nats.Conn
	tag  Tag
	pfx  string // subject prefix: the cluster name and a dot

	msgs  chan *nats.Msg // every subscription delivers here, in arrival order
	pairs pairs          // channel copies of member events whose user copy is due (pairs.go)
	stop  chan struct{}
	wg    sync.WaitGroup

	resync chan struct{} // a pending Config.Resync call (capacity 1)

	mu    sync.Mutex
	count map[bus.Key]int
	subs  map[bus.Key]*nats.Subscription
	peers map[Tag]*peer

	marks sync.Map // *nats.Msg → chan struct{}: Sync's markers
	st    stats
	pres  presence
}

type peer struct {
	id       string
	sessions int
	last     time.Time
	present  map[wire.SessionID]wire.SubChannelList
}

func (p *peer) presentList() []Presence {
	out := make([]Presence, 0, len(p.present))
	for id, open := range p.present {
		out = append(out, Presence{Session: id, Open: open})
	}
	return out
}

// stats are the node's counters (Status, metrics).
type stats struct {
	published, received, publishErrs, dropped atomic.Uint64
	disconnects, reconnects, lost             atomic.Uint64
	connected                                 atomic.Bool
	lastErr                                   atomic.Pointer[string]
}

// Defaults of the timing options.
const (
	defaultHeartbeat     = time.Second
	defaultDeadAfter     = 3 * time.Second
	defaultReconnectWait = time.Second
	// inbox is the capacity of the channel the subscriptions deliver to;
	// a node that falls this far behind is a slow consumer for NATS
	// (messages dropped, logged and counted).
	inbox = 1 << 16
	// subscribeFlush bounds the wait for the server to confirm new
	// subscriptions (and the node's start).
	subscribeFlush = 10 * time.Second
)

// Connect joins the cluster: it connects to NATS (failing with a clear
// error when no server answers), subscribes to the node-wide subjects and
// starts the heartbeat. Close leaves.
func Connect(ctx context.Context, cfg Config) (*Node, error) {
	o := cfg.Options
	if !o.Enabled() {
		return nil, errors.New("cluster: no NATS URL")
	}
	if o.NodeID == "" {
		return nil, errors.New("cluster: the node has no id")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = defaultHeartbeat
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = defaultDeadAfter
	}
	o.DeadAfter = max(o.DeadAfter, 2*o.Heartbeat)
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = defaultReconnectWait
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg: cfg, opts: o, log: cfg.Log.With("node", o.NodeID),
		pfx:   o.Subject(""),
		msgs:  make(chan *nats.Msg, inbox),
		stop:  make(chan struct{}),
		count: make(map[bus.Key]int),
		subs:  make(map[bus.Key]*nats.Subscription),
		peers: make(map[Tag]*peer),
		pres: presence{local: make(map[wire.SessionID]wire.SubChannelList),
			pending: make(map[wire.SessionID]wire.SubChannelList)},
	}
	n.resync = make(chan struct{}, 1)
	if _, err := rand.Read(n.tag[:]); err != nil {
		return nil, fmt.Errorf("cluster: node tag: %w", err)
	}
	nopts, err := n.natsOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nopts.Connect()
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS at %s: %w", redactedURLs(o.URLs), err)
	}
	n.nc = nc
	n.st.connected.Store(true)
	if _, err := nc.ChanSubscribe(o.Subject("node"), n.msgs); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	if _, err := nc.ChanSubscribe(o.Subject("all"), n.msgs); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	dl, ok := ctx.Deadline()
	wait := subscribeFlush
	if ok {
		wait = min(wait, time.Until(dl))
	}
	if err := nc.FlushTimeout(wait); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: NATS at %s: %w", redactedURLs(o.URLs), err)
	}
	n.wg.Add(2)
	go n.dispatch()
	go n.monitor()
	if cfg.Resync != nil {
		n.wg.Add(1)
		go n.resyncer()
	}
	n.log.Info("joined the cluster", "cluster", o.Name, "nats", nc.ConnectedUrlRedacted())
	return n, nil
}

func (n *Node) natsOptions() (nats.Options, error) {
	o := n.opts
	no := nats.GetDefaultOptions()
	no.Servers = o.URLs
	no.Name = "mrci " + o.NodeID
	no.NoEcho = true
	no.AllowReconnect = true
	no.MaxReconnect = -1
	no.ReconnectWait = o.ReconnectWait
	// Messages for other nodes are not queued while NATS is away: they
	// would arrive after the peers were told this node was lost.
	no.ReconnectBufSize = -1
	no.Timeout = 5 * time.Second
	no.DisconnectedErrCB = func(_ *nats.Conn, err error) {
		select {
		case <-n.stop:
			n.st.connected.Store(false)
			return // Close: leaving, not lost
		default:
		}
		if n.st.connected.Swap(false) {
			n.st.disconnects.Add(1)
			n.setErr(err)
			n.log.Warn("cluster: lost NATS; local sessions go on, other nodes are unreachable", "err", err)
		}
	}
	no.ReconnectedCB = func(nc *nats.Conn) {
		n.st.connected.Store(true)
		n.st.reconnects.Add(1)
		n.log.Info("cluster: NATS reachable again; subscriptions restored", "nats", nc.ConnectedUrlRedacted())
		n.heartbeat() // let the others know at once
		// Host-wide events were lost both ways while NATS was away.
		n.publish(n.opts.Subject("node"), []byte{kindEvent, byte(eventReconnected)})
		n.requestResync()
	}
	no.AsyncErrorCB = func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			n.st.dropped.Add(1)
		}
		n.setErr(err)
		n.log.Error("cluster: NATS error", "err", err)
	}
	if o.Dial != nil {
		no.CustomDialer = dialer(o.Dial)
	}
	var extra []nats.Option
	if o.CredsFile != "" {
		extra = append(extra, nats.UserCredentials(o.CredsFile))
	}
	if o.User != "" {
		extra = append(extra, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		extra = append(extra, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		extra = append(extra, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		extra = append(extra, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	for _, f := range extra {
		if err := f(&no); err != nil {
			return no, fmt.Errorf("cluster: NATS options: %w", err)
		}
	}
	return no, nil
}

type dialer func(network, address string) (net.Conn, error)

func (d dialer) Dial(network, address string) (net.Conn, error) { return d(network, address) }

func (n *Node) setErr(err error) {
	if err != nil {
		s := err.Error()
		n.st.lastErr.Store(&s)
	}
}

// Tag returns this run's tag.
func (n *Node) Tag() Tag { return n.tag }

// StampSessionID makes a new session id this node's: its last 8 bytes
// become the node's tag (the other 20 stay random).
func (n *Node) StampSessionID(id *wire.SessionID) {
	copy(id[wire.SessionIDLen-len(n.tag):], n.tag[:])
}

// Flush waits until the NATS server has received everything this node
// published so far (and the subscriptions it asked for).
func (n *Node) Flush(ctx context.Context) error {
	return n.nc.FlushWithContext(ctx)
}

// Sync waits until every message NATS had queued for this node when Sync
// was called has been handed to the local sessions: a PING/PONG round trip
// (the server answers after the messages it queued before), then a marker
// through the dispatcher behind them. Flush on every node followed by Sync
// on every node orders everything published so far before whatever is
// delivered next, locally or remotely (the tests' barriers).
func (n *Node) Sync(ctx context.Context) error {
	if err := n.nc.FlushWithContext(ctx); err != nil {
		return err
	}
	mark := &nats.Msg{}
	done := make(chan struct{})
	n.marks.Store(mark, done)
	defer n.marks.Delete(mark)
	select {
	case n.msgs <- mark:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-n.stop:
		return errors.New("cluster: node closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close leaves the cluster: it says goodbye (so the others drop this node
// at once instead of after DeadAfter), stops the heartbeat and the
// dispatcher and closes the NATS connection. Call it after the host's
// sessions have ended.
func (n *Node) Close() {
	select {
	case <-n.stop:
		return
	default:
	}
	n.closePresence()
	n.publishNode(kindBye)
	_ = n.nc.FlushTimeout(time.Second)
	close(n.stop)
	n.nc.Close()
	n.wg.Wait()
	n.log.Info("left the cluster")
}

// dispatch hands every message from the other nodes to the local bus, one
// at a time in the order the connection received them: everything one
// node sent this node (on whatever subject) is delivered in order.
func (n *Node) dispatch() {
	defer n.wg.Done()
	for {
		select {
		case m := <-n.msgs:
			n.handle(m)
		case <-n.stop:
			return
		}
	}
}

// monitor sends the heartbeat and declares silent nodes lost.
func (n *Node) monitor() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.Heartbeat)
	defer t.Stop()
	n.heartbeat()
	for {
		select {
		case <-t.C:
			n.heartbeat()
			n.reap(time.Now())
		case <-n.stop:
			return
		}
	}
}

func (n *Node) heartbeat() { n.publishNode(kindHeartbeat) }

// publishNode publishes a heartbeat (the session count and the full
// presence list) or a goodbye. The presence list is taken and published
// under the directory's lock, so it leaves after the deltas of the
// changes it includes and before those of later changes.
func (n *Node) publishNode(kind byte) {
	if kind != kindHeartbeat {
		n.publish(n.opts.Subject("node"), encodeNode(kind, n.tag, n.opts.NodeID, 0, nil))
		return
	}
	sessions := 0
	if n.cfg.Sessions != nil {
		sessions = n.cfg.Sessions()
	}
	n.pres.mu.Lock()
	defer n.pres.mu.Unlock()
	present := n.presentLocked()
	b := encodeNode(kind, n.tag, n.opts.NodeID, sessions, present)
	if int64(len(b)) <= n.nc.MaxPayload() {
		n.publish(n.opts.Subject("node"), b)
		return
	}
	// Too many present sessions for one message: a heartbeat with an
	// empty list (the others clear theirs), then the list in deltas.
	n.publish(n.opts.Subject("node"), encodeNode(kind, n.tag, n.opts.NodeID, sessions, nil))
	n.publishDeltasLocked(present)
}

// Broadcast tells the other nodes about a host-wide change.
func (n *Node) Broadcast(ev Event, data []byte) {
	n.publish(n.opts.Subject("node"), append([]byte{kindEvent, byte(ev)}, data...))
}

func (n *Node) publish(subject string, data []byte) {
	if err := n.nc.Publish(subject, data); err != nil {
		n.st.publishErrs.Add(1)
		return
	}
	n.st.published.Add(1)
}

// reap declares lost the nodes silent for longer than DeadAfter.
func (n *Node) reap(now time.Time) {
	var lost []Lost
	n.mu.Lock()
	for tag, p := range n.peers {
		if now.Sub(p.last) > n.opts.DeadAfter {
			delete(n.peers, tag)
			lost = append(lost, Lost{NodeID: p.id, Tag: tag, Presence: p.presentList()})
		}
	}
	n.mu.Unlock()
	for _, l := range lost {
		n.nodeLost(l)
	}
}

func (n *Node) nodeLost(l Lost) {
	n.st.lost.Add(1)
	if l.Graceful {
		n.log.Info("cluster: node left", "lost_node", l.NodeID)
	} else {
		n.log.Warn("cluster: node lost; ending its sessions for their peers", "lost_node", l.NodeID, "present", len(l.Presence))
	}
	if n.cfg.NodeLost != nil {
		n.cfg.NodeLost(l)
	}
}

// handle acts on one message from another node.
func (n *Node) handle(m *nats.Msg) {
	if m.Sub == nil {
		if done, ok := n.marks.Load(m); ok {
			close(done.(chan struct{}))
		}
		return
	}
	n.st.received.Add(1)
	d := m.Data
	if len(d) == 0 {
		return
	}
	switch d[0] {
	case kindPublish, kindSendTo:
		msg, sc, to, ok := decodeAsync(d)
		if !ok {
			n.log.Warn("cluster: undecodable message", "subject", m.Subject, "bytes", len(d))
			return
		}
		if d[0] == kindSendTo {
			n.cfg.Bus.SendLocal(to, msg)
		} else {
			if n.pairs.userCopy(msg, sc) {
				return // delivered with its channel copy
			}
			n.notePeerStat(msg)
			n.cfg.Bus.Inject(msg, n.pairs.channelCopy(msg, sc))
		}
	case kindHeartbeat, kindBye:
		h, ok := decodeNode(d)
		if !ok {
			n.log.Warn("cluster: undecodable heartbeat", "bytes", len(d))
			return
		}
		n.heard(h, d[0] == kindBye)
	case kindPresence:
		tag, entries, ok := decodePresence(d)
		if !ok {
			n.log.Warn("cluster: undecodable presence delta", "bytes", len(d))
			return
		}
		n.applyPresence(tag, entries)
	case kindEvent:
		if len(d) >= 2 && Event(d[1]) == eventReconnected {
			n.requestResync()
		} else if len(d) >= 2 && n.cfg.HostEvent != nil {
			n.cfg.HostEvent(Event(d[1]), d[2:])
		}
	}
}

// heard records a heartbeat or a goodbye. A node id heard with a new tag
// is a restarted node: its previous run is lost. A node heard for the
// first time gets this node's heartbeat at once.
func (n *Node) heard(h nodeMsg, bye bool) {
	var lost []Lost
	joined := false
	n.mu.Lock()
	for tag, p := range n.peers {
		if p.id == h.id && tag != h.tag {
			delete(n.peers, tag)
			lost = append(lost, Lost{NodeID: p.id, Tag: tag, Presence: p.presentList()})
		}
	}
	if bye {
		if p := n.peers[h.tag]; p != nil {
			delete(n.peers, h.tag)
			// Its sessions ended one by one before the goodbye and told
			// their peers themselves; nothing is left to say for them.
			lost = append(lost, Lost{NodeID: p.id, Tag: h.tag, Graceful: true})
		}
	} else {
		p := n.peers[h.tag]
		if p == nil {
			p = &peer{id: h.id}
			n.peers[h.tag] = p
			joined = true
			n.log.Info("cluster: node joined", "other_node", h.id)
		}
		p.sessions, p.last = h.sessions, time.Now()
		// The heartbeat's full list replaces what the deltas built.
		p.present = make(map[wire.SessionID]wire.SubChannelList, len(h.present))
		for _, e := range h.present {
			if e.Open.Len() > 0 {
				p.present[e.Session] = e.Open
			}
		}
	}
	n.mu.Unlock()
	for _, l := range lost {
		n.nodeLost(l)
	}
	if joined {
		// A node that joins learns of this one (and of its present
		// sessions) now rather than at the next heartbeat.
		n.heartbeat()
	}
}

// Status is what `mrci status` and host_info show about the cluster.
type Status struct {
	NodeID    string
	Cluster   string
	Connected bool
	// Server is the NATS server connected to (credentials redacted).
	Server string
	// Sessions is the cluster total: this node's sessions and those the
	// other nodes announced in their last heartbeats.
	Sessions int
	// Nodes are the other live nodes.
	Nodes                   []NodeStatus
	Disconnects, Reconnects uint64
	// Published and Received count NATS messages; PublishErrors those
	// that could not be sent (NATS unreachable); Dropped those NATS
	// dropped because this node fell behind.
	Published, Received, PublishErrors, Dropped uint64
	// NodesLost counts nodes declared lost (or that left).
	NodesLost uint64
	// PresenceDeltas counts the presence deltas this node published.
	PresenceDeltas uint64
	// Present is the number of this node's sessions present in
	// sub-channels.
	Present int
	// PresencePending is the number of this node's sessions whose last
	// presence change waits for the next delta (at most deltaGap).
	PresencePending int
	// Subscriptions is the number of interest subscriptions.
	Subscriptions int
	LastError     string
}

// NodeStatus is another node as this one sees it.
type NodeStatus struct {
	ID       string
	Sessions int
	// Present is the number of its sessions present in sub-channels
	// (active with sub-channels open) as of its last heartbeat and the
	// deltas after it.
	Present  int
	LastSeen time.Time
}

// Status reports the node's view of the cluster; localSessions is this
// node's own count.
func (n *Node) Status(localSessions int) Status {
	s := Status{
		NodeID: n.opts.NodeID, Cluster: strings.TrimSuffix(n.pfx, "."),
		Connected:   n.st.connected.Load() && n.nc.IsConnected(),
		Sessions:    localSessions,
		Disconnects: n.st.disconnects.Load(), Reconnects: n.st.reconnects.Load(),
		Published: n.st.published.Load(), Received: n.st.received.Load(),
		PublishErrors: n.st.publishErrs.Load(), Dropped: n.st.dropped.Load(),
		NodesLost: n.st.lost.Load(),
	}
	if s.Connected {
		s.Server = n.nc.ConnectedUrlRedacted()
	}
	if e := n.st.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	n.pres.mu.Lock()
	s.PresenceDeltas, s.Present, s.PresencePending = n.pres.deltas, len(n.pres.local), len(n.pres.pending)
	n.pres.mu.Unlock()
	n.mu.Lock()
	for _, p := range n.peers {
		s.Nodes = append(s.Nodes, NodeStatus{ID: p.id, Sessions: p.sessions, Present: len(p.present), LastSeen: p.last})
		s.Sessions += p.sessions
	}
	s.Subscriptions = len(n.subs)
	n.mu.Unlock()
	return s
}

func redactedURLs(urls []string) string {
	out := ""
	for i, u := range urls {
		if i > 0 {
			out += ","
		}
		out += redact(u)
	}
	return out
}

// requestResync asks the resyncer for a Config.Resync call; a request
// already pending covers this one.
func (n *Node) requestResync() {
	select {
	case n.resync <- struct{}{}:
	default:
	}
}

// resyncer makes the Config.Resync calls, off the NATS callback and
// dispatcher goroutines, until Close.
func (n *Node) resyncer() {
	defer n.wg.Done()
	for {
		select {
		case <-n.resync:
			select {
			case <-n.stop:
				return
			default:
			}
			n.cfg.Resync()
		case <-n.stop:
			return
		}
	}
}
