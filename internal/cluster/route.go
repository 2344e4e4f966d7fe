package cluster

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// Subjects (docs/cluster.md "Routing"), all under the cluster name:
//
//	<name>.s.<session hex>   a session: TO_PEER, P2P, and SendTo
//	<name>.u.<user hex>      a logged-in user: ids routed ToUser, and the
//	                         named user of channel member events
//	<name>.c.<channel>       a channel's members and the sessions with one
//	                         of its sub-channels open: channel events
//	<name>.sc.<channel>.<sub> an open sub-channel: CAST, LIMITED_CAST,
//	                         CH_ACT_FLAG
//	<name>.all               every node: ids routed ToAll
//	<name>.node              every node: heartbeats, goodbyes, host events

func (n *Node) sessionSubject(id wire.SessionID) string {
	return n.pfx + "s." + hex.EncodeToString(id[:])
}
func (n *Node) userSubject(u wire.UserID) string { return n.pfx + "u." + hex.EncodeToString(u[:]) }
func (n *Node) channelSubject(ch uint64) string  { return n.pfx + "c." + strconv.FormatUint(ch, 10) }
func (n *Node) subSubject(sc wire.SubChannel) string {
	return n.pfx + "sc." + strconv.FormatUint(sc.Channel, 10) + "." + strconv.Itoa(int(sc.Sub))
}

func (n *Node) keySubject(k bus.Key) string {
	switch k.Kind {
	case bus.KeySession:
		return n.sessionSubject(k.Session)
	case bus.KeyUser:
		return n.userSubject(k.User)
	case bus.KeyChannel:
		return n.channelSubject(k.Sub.Channel)
	default:
		return n.subSubject(k.Sub)
	}
}

// Forward publishes a message published on this node to the subjects its
// route covers (bus.Remote). A cast is published once per entry of its
// sub-channel list (once for the usual list of one sub-channel), never
// once per receiver; the receiving nodes fan it out to their sessions.
func (n *Node) Forward(msg *bus.Message) {
	r := bus.Routes[msg.ID]
	d := msg.Data
	switch r.Target {
	case bus.ToAll:
		n.publishAsync(n.pfx+"all", kindPublish, msg, bus.Scope{})
	case bus.ToUser:
		var u wire.UserID
		copy(u[:], d)
		n.publishAsync(n.userSubject(u), kindPublish, msg, bus.Scope{})
	case bus.ToSession:
		var sid wire.SessionID
		copy(sid[:], d)
		n.publishAsync(n.sessionSubject(sid), kindPublish, msg, bus.Scope{})
	case bus.ToSubChannel:
		sc, err := wire.ParseSubChannel(d)
		if err == nil {
			n.publishAsync(n.subSubject(sc), kindPublish, msg, bus.Scope{})
		}
	case bus.ToSubChannels:
		list, err := wire.ParseSubChannelList(d)
		if err != nil {
			return
		}
		for i, sc := range list.Entries() {
			n.publishAsync(n.subSubject(sc), kindPublish, msg, bus.Scope{Entry: i + 1})
		}
	case bus.ToChannel:
		if len(d) < 8 {
			return
		}
		n.publishAsync(n.channelSubject(binary.LittleEndian.Uint64(d)), kindPublish, msg, bus.Scope{Part: bus.PartChannel})
		if u, ok := bus.NamedUser(msg); ok {
			n.publishAsync(n.userSubject(u), kindPublish, msg, bus.Scope{Part: bus.PartNamed})
		}
	}
}

// SendTo sends a host-originated message to a session of another node
// (bus.Remote).
func (n *Node) SendTo(to wire.SessionID, msg *bus.Message) {
	if TagOf(to) == n.tag {
		return // one of ours that has ended
	}
	b := encodeAsync(make([]byte, 0, asyncHeader+wire.SessionIDLen+len(msg.Data)), kindSendTo, msg, bus.Scope{})
	b = append(b, to[:]...)
	b = append(b, msg.Data...)
	n.publish(n.sessionSubject(to), b)
}

func (n *Node) publishAsync(subject string, kind byte, msg *bus.Message, sc bus.Scope) {
	b := encodeAsync(make([]byte, 0, asyncHeader+len(msg.Data)), kind, msg, sc)
	n.publish(subject, append(b, msg.Data...))
}

// Interest subscribes to the subject of every key that local sessions
// start needing and unsubscribes from those no local session needs any
// more (bus.Remote). New subscriptions are confirmed by the server before
// it returns, so a session that opened a sub-channel receives the casts
// sent from other nodes after its open completed.
func (n *Node) Interest(changes []bus.Interest) {
	// Net the changes first: a session that changes its open list from
	// [a b] to [b] reports -a -b +b, and b must not be unsubscribed and
	// subscribed again (messages sent in between would be lost).
	net := make(map[bus.Key]int, len(changes))
	for _, c := range changes {
		net[c.Key] += c.Delta
	}
	added := false
	n.mu.Lock()
	for key, delta := range net {
		if delta == 0 {
			continue
		}
		c := bus.Interest{Key: key, Delta: delta}
		was := n.count[c.Key]
		now := was + c.Delta
		if now <= 0 {
			delete(n.count, c.Key)
		} else {
			n.count[c.Key] = now
		}
		switch {
		case was <= 0 && now > 0:
			sub, err := n.nc.ChanSubscribe(n.keySubject(c.Key), n.msgs)
			if err != nil {
				n.setErr(err)
				n.log.Error("cluster: subscribe", "subject", n.keySubject(c.Key), "err", err)
				continue
			}
			n.subs[c.Key] = sub
			added = true
		case was > 0 && now <= 0:
			if sub := n.subs[c.Key]; sub != nil {
				_ = sub.Unsubscribe()
				delete(n.subs, c.Key)
			}
		}
	}
	n.mu.Unlock()
	if added && n.nc.Status() == nats.CONNECTED {
		if err := n.nc.FlushTimeout(subscribeFlush); err != nil {
			n.log.Warn("cluster: new subscriptions not confirmed by NATS; messages sent meanwhile may be missed", "err", err)
		}
	}
}

// nodeMsg is a decoded heartbeat or goodbye.
type nodeMsg struct {
	tag      Tag
	id       string
	sessions int
	present  []Presence
}
