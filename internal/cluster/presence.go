package cluster

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// Presence directory (docs/cluster.md "Node failure"): every node keeps
// the list of its sessions that are present in sub-channels (active with
// sub-channels open, so their end sends PEER_STAT) and tells the others
// each change at once, in a presence delta on the node subject, so that a
// node that dies right after one of its sessions opened a sub-channel is
// still spoken for. The heartbeat carries the full list as the resync.
//
// Deltas are coalesced: the first change after a quiet period is published
// at once (before the PEER_STAT the session sends next); changes within
// deltaGap of the last delta wait for one message at the end of the gap,
// which carries each changed session's latest state only. A node thus
// publishes at most one delta per deltaGap (plus one per maxDeltaEntries
// changed sessions), however often its sessions open and close
// sub-channels. A node that receives a session's PEER_STAT also takes the
// change from it (notePeerStat), so the peers that were told a session is
// present are told when its node dies even if the delta was delayed.

const (
	// deltaGap is the least time between two presence deltas of a node.
	deltaGap = 20 * time.Millisecond
	// maxDeltaEntries bounds one delta message (about 680 KB, under the
	// NATS server's default 1 MB payload limit; a server with a lower
	// limit gets smaller messages, see perMessage).
	maxDeltaEntries = 8192
	// presenceEntry is the size of one session in a delta or heartbeat.
	presenceEntry = wire.SessionIDLen + wire.SubChannelListLen
)

// perMessage is how many sessions one delta may carry on this connection.
func (n *Node) perMessage() int {
	room := int(n.nc.MaxPayload()) - 1 - 8 - 4
	return max(1, min(maxDeltaEntries, room/presenceEntry))
}

// presence is this node's side of the directory.
type presence struct {
	mu      sync.Mutex
	local   map[wire.SessionID]wire.SubChannelList // present sessions and their open lists
	pending map[wire.SessionID]wire.SubChannelList // changed since the last delta or heartbeat; empty list: left
	last    time.Time                              // when the last delta was published
	timer   *time.Timer                            // the scheduled delta, if any
	closed  bool
	deltas  uint64 // delta messages published (Status)
}

// SetPresence records that a session of this node is present with the
// given open list (an empty list: it is not present any more: it left its
// sub-channels, became inactive, logged out or ended) and tells the other
// nodes. The host calls it before the session sends the PEER_STAT that
// announces the change, on the session's goroutine. Setting the state a
// session already has is free.
func (n *Node) SetPresence(id wire.SessionID, open wire.SubChannelList) {
	p := &n.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, was := p.local[id]
	switch {
	case open.Len() == 0 && !was:
		return
	case open.Len() == 0:
		delete(p.local, id)
	case was && cur == open:
		return
	default:
		p.local[id] = open
	}
	p.pending[id] = open
	if p.timer != nil || p.closed {
		return // the scheduled delta will carry it
	}
	if wait := deltaGap - time.Since(p.last); wait > 0 {
		p.timer = time.AfterFunc(wait, n.flushPresence)
		return
	}
	n.publishDeltaLocked()
}

// flushPresence publishes the delta a recent one delayed.
func (n *Node) flushPresence() {
	p := &n.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if !p.closed {
		n.publishDeltaLocked()
	}
}

// publishDeltaLocked publishes the pending changes (p.mu held, so deltas
// and heartbeats leave in the order of the changes they carry).
func (n *Node) publishDeltaLocked() {
	p := &n.pres
	if len(p.pending) == 0 {
		return
	}
	entries := make([]Presence, 0, len(p.pending))
	for id, open := range p.pending {
		entries = append(entries, Presence{Session: id, Open: open})
	}
	n.publishDeltasLocked(entries)
	clear(p.pending)
	p.last = time.Now()
}

// publishDeltasLocked publishes entries in as many deltas as the NATS
// payload limit needs (p.mu held).
func (n *Node) publishDeltasLocked(entries []Presence) {
	per := n.perMessage()
	for len(entries) > 0 {
		k := min(per, len(entries))
		n.publish(n.opts.Subject("node"), encodePresence(n.tag, entries[:k]))
		n.pres.deltas++
		entries = entries[k:]
	}
}

// presentLocked returns the present sessions (p.mu held) for a heartbeat,
// which makes the pending changes redundant.
func (n *Node) presentLocked() []Presence {
	p := &n.pres
	out := make([]Presence, 0, len(p.local))
	for id, open := range p.local {
		out = append(out, Presence{Session: id, Open: open})
	}
	clear(p.pending)
	return out
}

// closePresence stops the scheduled delta (Close).
func (n *Node) closePresence() {
	p := &n.pres
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// PresentOf returns the sessions of another live node (by its id) that
// this node would speak for if that node were lost: those present in its
// last heartbeat and the deltas and PEER_STATs after it, in no order.
func (n *Node) PresentOf(nodeID string) []wire.SessionID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []wire.SessionID
	for _, p := range n.peers {
		if p.id == nodeID {
			for id := range p.present {
				out = append(out, id)
			}
		}
	}
	return out
}

// applyPresence applies another node's delta to its last known list. A
// delta from a node not heard of (yet, or any more) is dropped: its next
// heartbeat carries the full list.
func (n *Node) applyPresence(tag Tag, entries []Presence) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[tag]
	if p == nil {
		return
	}
	for _, e := range entries {
		if e.Open.Len() == 0 {
			delete(p.present, e.Session)
		} else {
			p.present[e.Session] = e.Open
		}
	}
}

// notePeerStat updates the sender's entry from a PEER_STAT another node
// forwarded (before it is delivered here): the peers that read it are the
// ones its node's death must be told to, and a delta delayed by the
// coalescing gap arrives after it. The PEER_STAT gives the open list
// after the change; the delta that follows corrects the rare case of a
// session left with sub-channels open but no longer active.
func (n *Node) notePeerStat(msg *bus.Message) {
	const at = wire.SubChannelListLen // [route][type][PEER_STAT]
	d := msg.Data
	if msg.ID != wire.AsyncLimitedCast || len(d) < at+1+wire.PeerStatLen || wire.TypeID(d[at]) != wire.TypePeerStat {
		return
	}
	ps, err := wire.ParsePeerStat(d[at+1:])
	if err != nil || ps.SessionID != msg.From {
		return
	}
	open := ps.Open
	if ps.Disconnected {
		open = wire.SubChannelList{}
	}
	n.applyPresence(TagOf(ps.SessionID), []Presence{{Session: ps.SessionID, Open: open}})
}

// Presence delta (kindPresence; nodes that do not know the kind ignore
// it, the heartbeat stays as it was):
//
//	[kind][tag: 8][count: u32] then per session [session: 28][open list: 54]
//
// an open list without entries means the session is not present any more.
func encodePresence(tag Tag, entries []Presence) []byte {
	const per = wire.SessionIDLen + wire.SubChannelListLen
	b := make([]byte, 0, 1+8+4+len(entries)*per)
	b = append(b, kindPresence)
	b = append(b, tag[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.Session[:]...)
		b = e.Open.Append(b)
	}
	return b
}

func decodePresence(d []byte) (Tag, []Presence, bool) {
	var tag Tag
	if len(d) < 1+8+4 {
		return tag, nil, false
	}
	copy(tag[:], d[1:])
	cnt := int(binary.LittleEndian.Uint32(d[9:]))
	d = d[13:]
	list, ok := decodePresent(d, cnt)
	return tag, list, ok
}

// decodePresent decodes cnt [session][open list] records filling d.
func decodePresent(d []byte, cnt int) ([]Presence, bool) {
	const per = wire.SessionIDLen + wire.SubChannelListLen
	if cnt < 0 || cnt > len(d)/per || len(d) != cnt*per {
		return nil, false
	}
	out := make([]Presence, cnt)
	for i := range out {
		copy(out[i].Session[:], d)
		list, err := wire.ParseSubChannelList(d[wire.SessionIDLen:per])
		if err != nil {
			return nil, false
		}
		out[i].Open = list
		d = d[per:]
	}
	return out, true
}
