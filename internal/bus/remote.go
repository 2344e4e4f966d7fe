package bus

import "github.com/mrci/mrci/internal/wire"

// Remote carries asyncs between this node's bus and the other nodes of a
// cluster (internal/cluster implements it; docs/cluster.md "Routing"). A
// bus without a Remote is a single host and pays nothing for it.
//
// The bus calls Forward and SendTo in the publisher's goroutine, after the
// local fan-out, in the order the publisher published; so everything one
// sender publishes leaves the node in order. It calls Interest outside its
// lock, in order for each session.
type Remote interface {
	// Forward sends a message published on this node to the nodes whose
	// sessions its route can reach. Only public routes are forwarded
	// (private and ToSelf ids act on the emitting session only), and a
	// session-targeted message only when its session is not on this node.
	Forward(msg *Message)
	// SendTo sends a host-originated message to a session that is not on
	// this node (CLOSE_P2P at logout, PEER_INFO answering a ping).
	SendTo(to wire.SessionID, msg *Message)
	// Interest tells the remote that local sessions started (Delta 1) or
	// stopped (Delta -1) needing the messages of keys. A key is needed
	// while the sum of its deltas is above zero.
	Interest(changes []Interest)
}

// KeyKind says which index a Key is in.
type KeyKind uint8

// The kinds of interest keys: one per routing index.
const (
	KeySession KeyKind = iota + 1 // a session (ToSession, SendTo)
	KeyUser                       // a logged-in user (ToUser, named user of channel events)
	KeyChannel                    // a channel: members and sessions with one of its sub-channels open
	KeySub                        // an open sub-channel (casts, ToSubChannel)
)

// Key names what a node's sessions need from the other nodes.
type Key struct {
	Kind    KeyKind
	Session wire.SessionID
	User    wire.UserID
	Sub     wire.SubChannel // Channel alone for KeyChannel
}

// Interest is one change of how many local sessions need a key.
type Interest struct {
	Key   Key
	Delta int
}

// Scope narrows the local fan-out of a message received from another node
// to the part of its route the subject it came on covers, so that every
// session receives it once although several subjects may carry it.
type Scope struct {
	// Entry, for ids routed by a sub-channel list (CAST, LIMITED_CAST), is
	// 1 + the index of the list entry whose subject the message came on:
	// it reaches the sessions with that entry open and none of the
	// earlier entries. 0 reaches every entry's sessions.
	Entry int
	// Part, for channel events, says which receivers the subject covers.
	Part Part
}

// Part divides the receivers of a channel event.
type Part uint8

// Parts of a channel event's route.
const (
	PartAll     Part = iota // members, openers and the named user's sessions
	PartChannel             // members and sessions with a sub-channel of it open
	PartNamed               // the named user's sessions that are neither
)

// SetRemote connects the bus to a cluster. It must be called before the
// first Join; nil (the default) is a single host.
func (b *Bus) SetRemote(r Remote) { b.remote = r }

// Forwarded reports whether the bus forwards a public message of this
// route to other nodes at all.
func Forwarded(r Route) bool {
	return r.Audience == Public && r.Target != ToSelf
}

// Inject delivers a message received from another node to this node's
// sessions within the scope of the subject it came on. Hooks run (once,
// for the whole-route scope), nothing is forwarded again (no loops), and
// the caller never waits for a receiver that is behind: a remote sender
// cannot be slowed down, so such a receiver is disconnected at its hard
// limit instead.
func (b *Bus) Inject(msg *Message, sc Scope) {
	if sc == (Scope{}) {
		if hs := b.hooks.Load(); hs != nil {
			for _, h := range hs[msg.ID] {
				h(msg)
			}
		}
	}
	var p fanout
	b.mu.RLock()
	b.route(&p, msg, false, sc)
	b.mu.RUnlock()
	b.delivered.Add(p.n)
}

// SendLocal delivers a message to one session of this node, if it is
// joined, and reports whether it was (SendTo without forwarding).
func (b *Bus) SendLocal(to wire.SessionID, msg *Message) bool {
	b.mu.RLock()
	e, ok := b.sessions[to]
	b.mu.RUnlock()
	if ok {
		b.delivered.Add(1)
		e.m.Deliver(msg)
	}
	return ok
}

// interest records index changes for the remote while the lock is held;
// flush hands them over once it is released.
type interest []Interest

func (in *interest) add(k Key, d int) { *in = append(*in, Interest{Key: k, Delta: d}) }

func (b *Bus) flushInterest(in interest) {
	if len(in) > 0 {
		b.remote.Interest(in)
	}
}
