package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/wire"
)

// Cluster mode (docs/cluster.md): with Config.Cluster enabled the host
// joins the other nodes over NATS. The bus forwards what its sessions
// publish to the nodes whose sessions need it and delivers what those
// nodes publish; this file wires the node to the host: session ids that
// name their node, the presence announced in heartbeats, what is said for
// the sessions of a lost node, host-wide changes (bans, settings) and the
// resynchronisation of that state after a NATS outage.

// joinCluster connects to the cluster when the configuration asks for it.
// It runs at the end of New, before any session joins the bus.
func (h *Host) joinCluster(ctx context.Context) error {
	if !h.cfg.Cluster.Enabled() {
		return nil
	}
	if h.cfg.Cluster.NodeID == "" {
		return errors.New("host: joining a cluster needs a node id (cluster.Options.NodeID)")
	}
	var resyncs atomic.Uint64
	n, err := cluster.Connect(ctx, cluster.Config{
		Options:   h.cfg.Cluster,
		Bus:       h.bus,
		Log:       h.log,
		Sessions:  h.SessionCount,
		NodeLost:  h.nodeLost,
		HostEvent: h.clusterEvent,
		Resync: func() {
			h.clusterResync()
			resyncs.Add(1)
		},
	})
	if err != nil {
		return err
	}
	h.node = n
	h.bus.SetRemote(n)
	if c, ok := h.cfg.Store.(*settingsCache); ok {
		c.saved = func() { h.broadcast(cluster.EventSettings) }
	}
	h.metrics.GaugeFunc("cluster_connected", "1 while this node is connected to NATS, 0 while it is not (cluster mode).",
		func() float64 {
			if n.Status(0).Connected {
				return 1
			}
			return 0
		})
	h.metrics.GaugeFunc("cluster_nodes", "Nodes of the cluster this node hears from, itself included.",
		func() float64 { return float64(len(n.Status(0).Nodes) + 1) })
	h.metrics.GaugeFunc("cluster_sessions", "Sessions on all the nodes of the cluster (this node's and the others' last heartbeats).",
		func() float64 { return float64(n.Status(h.SessionCount()).Sessions) })
	h.metrics.CounterFunc("cluster_disconnects_total", "Times this node lost its connection to NATS.",
		func() float64 { return float64(n.Status(0).Disconnects) })
	h.metrics.CounterFunc("cluster_resyncs_total", "Times this node re-read the bans, settings, modules and command ranks after it or another node reconnected to NATS.",
		func() float64 { return float64(resyncs.Load()) })
	h.metrics.CounterFunc("cluster_nodes_lost_total", "Other nodes declared lost or that left.",
		func() float64 { return float64(n.Status(0).NodesLost) })
	h.metrics.CounterFunc("cluster_published_total", "NATS messages this node published.",
		func() float64 { return float64(n.Status(0).Published) })
	h.metrics.CounterFunc("cluster_publish_errors_total", "NATS messages this node could not publish (NATS unreachable).",
		func() float64 { return float64(n.Status(0).PublishErrors) })
	h.metrics.CounterFunc("cluster_received_total", "NATS messages this node received from other nodes.",
		func() float64 { return float64(n.Status(0).Received) })
	h.metrics.CounterFunc("cluster_dropped_total", "NATS messages dropped because this node fell behind (slow consumer).",
		func() float64 { return float64(n.Status(0).Dropped) })
	return nil
}

// leaveCluster says goodbye to the other nodes; Serve calls it after the
// sessions have drained.
func (h *Host) leaveCluster() {
	if h.node != nil {
		h.node.Close()
	}
}

// newSessionID returns a random session id; in a cluster its last 8 bytes
// name this node's run (cluster.TagOf), so every node knows where a
// session lives.
func (h *Host) newSessionID() wire.SessionID {
	var sid wire.SessionID
	_, _ = rand.Read(sid[:])
	if h.node != nil {
		h.node.StampSessionID(&sid)
	}
	return sid
}

// ClusterStatus reports this node's view of the cluster (`mrci status`,
// host_info); ok is false in single-node mode.
func (h *Host) ClusterStatus() (st cluster.Status, ok bool) {
	if h.node == nil {
		return cluster.Status{}, false
	}
	return h.node.Status(h.SessionCount()), true
}

// ClusterPresentOf returns the sessions of another node (by id) that this
// node would send PEER_STAT for if that node were lost
// (cluster.Node.PresentOf); nil in single-node mode.
func (h *Host) ClusterPresentOf(nodeID string) []wire.SessionID {
	if h.node == nil {
		return nil
	}
	return h.node.PresentOf(nodeID)
}

// ClusterSessionCount returns the number of sessions in the whole cluster
// (this node's own count in single-node mode).
func (h *Host) ClusterSessionCount() int {
	if st, ok := h.ClusterStatus(); ok {
		return st.Sessions
	}
	return h.SessionCount()
}

// ClusterLoad returns the sessions of the whole cluster and the number of
// live nodes (this one included) for host_info; ok is false in
// single-node mode.
func (h *Host) ClusterLoad() (sessions, nodes int, ok bool) {
	st, ok := h.ClusterStatus()
	return st.Sessions, len(st.Nodes) + 1, ok
}

// ClusterFlush waits until the NATS server has everything this node
// published so far; a no-op in single-node mode.
func (h *Host) ClusterFlush(ctx context.Context) error {
	if h.node == nil {
		return nil
	}
	if err := h.node.Flush(ctx); err != nil {
		return fmt.Errorf("cluster: flush: %w", err)
	}
	return nil
}

// ClusterSync waits until every message NATS had queued for this node has
// been handed to its sessions (cluster.Node.Sync); a no-op in single-node
// mode.
func (h *Host) ClusterSync(ctx context.Context) error {
	if h.node == nil {
		return nil
	}
	if err := h.node.Sync(ctx); err != nil {
		return fmt.Errorf("cluster: sync: %w", err)
	}
	return nil
}

// SessionPresence tells the other nodes that a session is present in
// sub-channels with the open list, or (an empty list) not any more
// (session.PresenceObserver): the sessions whose end sends PEER_STAT, for
// which the others speak when this node is lost. A no-op on a single host.
func (h *Host) SessionPresence(id wire.SessionID, open wire.SubChannelList) {
	if h.node != nil {
		h.node.SetPresence(id, open)
	}
}

// nodeLost says for every session of a lost node what its end would have
// said (session.teardown): CLOSE_P2P to this node's sessions linked with
// it, and PEER_STAT (disconnected) to the active sessions sharing one of
// its sub-channels.
func (h *Host) nodeLost(l cluster.Lost) {
	if l.Graceful {
		return
	}
	type link struct{ local, peer wire.SessionID }
	var links []link
	h.mu.Lock()
	for id, s := range h.sessions {
		info := s.Snapshot()
		if info == nil {
			continue
		}
		seen := map[wire.SessionID]bool{}
		for _, set := range [][]wire.SessionID{info.P2PAccepted, info.P2PPendingIn, info.P2PPendingOut} {
			for _, p := range set {
				if cluster.TagOf(p) == l.Tag && !seen[p] {
					seen[p] = true
					links = append(links, link{id, p})
				}
			}
		}
	}
	h.mu.Unlock()
	for _, k := range links {
		data := append([]byte(nil), k.peer[:]...)
		h.bus.SendLocal(k.local, &bus.Message{ID: wire.AsyncCloseP2P, Data: data, From: k.peer})
	}
	for _, p := range l.Presence {
		ps := wire.PeerStat{SessionID: p.Session, Disconnected: true}
		data := p.Open.Append(nil)
		data = append(data, byte(wire.TypePeerStat))
		data = append(data, ps.Marshal()...)
		h.bus.Inject(&bus.Message{ID: wire.AsyncLimitedCast, Data: data, From: p.Session}, bus.Scope{})
	}
	h.log.Info("cluster: told the peers of a lost node's sessions", "lost_node", l.NodeID,
		"p2p_links", len(links), "present", len(l.Presence))
}

// clusterEvent applies a host-wide change another node made.
func (h *Host) clusterEvent(ev cluster.Event, data []byte) {
	switch ev {
	case cluster.EventBans:
		h.reloadBans()
	case cluster.EventSettings:
		h.settingsChanged()
	case cluster.EventNotifyUser:
		if len(data) > wire.UserIDLen {
			var u wire.UserID
			copy(u[:], data)
			h.notifyUser(u, string(data[wire.UserIDLen+1:]), data[wire.UserIDLen] == 1)
		}
	}
}

// clusterResync catches up with the host-wide changes whose events were
// lost while this node and another were apart (cluster.Config.Resync:
// after this node or another reconnected to NATS). It reads them again
// from the database, as the events would have had it do: the settings
// (and max_sessions), the bans (ending the sessions from newly banned
// addresses), the external modules and the command ranks; then it has
// this node's sessions reload their command tables with a
// CMD_RANKS_CHANGED delivered here only (its hook drops the rank cache;
// injected messages are never forwarded). Each step's store I/O is
// bounded by storeTimeout.
func (h *Host) clusterResync() {
	h.settingsChanged()
	h.reloadBans()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	err := h.mods.reload(ctx)
	cancel()
	if err != nil {
		h.log.Error("cluster: resynchronise: reload modules", "err", err)
	}
	h.bus.Inject(&bus.Message{ID: wire.AsyncCmdRanksChanged}, bus.Scope{})
	h.log.Info("cluster: resynchronised after reconnect")
}

// broadcast tells the other nodes about a host-wide change made here.
func (h *Host) broadcast(ev cluster.Event) {
	if h.node != nil {
		h.node.Broadcast(ev, nil)
	}
}

// broadcastNotifyUser has the other nodes run NotifyUser for their
// sessions of the account.
func (h *Host) broadcastNotifyUser(user wire.UserID, text string, logout bool) {
	if h.node == nil {
		return
	}
	data := append(user[:0:0], user[:]...)
	flag := byte(0)
	if logout {
		flag = 1
	}
	data = append(append(data, flag), text...)
	h.node.Broadcast(cluster.EventNotifyUser, data)
}

// settingsChanged drops the cached settings row and applies the stored
// session limit (max_sessions is enforced per node: every node allows that
// many sessions of its own), unless this run overrides it.
func (h *Host) settingsChanged() {
	c, ok := h.cfg.Store.(*settingsCache)
	if !ok {
		return
	}
	c.invalidate()
	if h.cfg.MaxSessions > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	s, err := h.cfg.Store.Settings(ctx)
	if err != nil {
		h.log.Error("cluster: settings changed on another node: reload", "err", err)
		return
	}
	if s.MaxSessions > 0 {
		h.maxSessions.Store(s.MaxSessions)
	}
}
