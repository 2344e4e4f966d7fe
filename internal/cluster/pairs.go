package cluster

import (
	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// A channel member event that names a user (NEW_CH_MEMBER, RM_CH_MEMBER,
// ...) is published twice: on the channel's subject for the members and
// on the user's subject for that user's sessions that are not members. A
// node with both kinds of receivers gets both copies, in publish order,
// and the event itself changes its sessions' channel lists in between: a
// member removed by RM_CH_MEMBER is no member any more when the user's
// copy arrives, and deciding "not a member" then would deliver the event
// to it twice. So a node delivers the channel copy to both parts at once
// (one pass, each session once) and drops the user's copy that follows.
//
// pairs remembers the channel copies whose user copy is still due. Only
// the node's delivery goroutine uses it. It is bounded: a user copy that
// never comes (the node stopped needing the user's subject in between)
// is forgotten after maxPairs later events.
type pairs struct {
	due   map[pairKey]int
	order []pairKey // oldest first, for the bound
}

type pairKey struct {
	id   wire.AsyncID
	from wire.SessionID
	data string
}

const maxPairs = 1024

// channelCopy is called for a channel-subject copy; it returns the scope
// to deliver it with.
func (p *pairs) channelCopy(msg *bus.Message, sc bus.Scope) bus.Scope {
	if _, named := bus.NamedUser(msg); !named || sc.Part != bus.PartChannel {
		return sc
	}
	if p.due == nil {
		p.due = make(map[pairKey]int)
	}
	k := pairKey{msg.ID, msg.From, string(msg.Data)}
	p.due[k]++
	p.order = append(p.order, k)
	if len(p.order) > maxPairs {
		p.forget(p.order[0])
		p.order = p.order[1:]
	}
	return bus.Scope{Part: bus.PartAll}
}

// userCopy reports whether a user-subject copy was already delivered with
// its channel copy (and is to be dropped).
func (p *pairs) userCopy(msg *bus.Message, sc bus.Scope) bool {
	if sc.Part != bus.PartNamed {
		return false
	}
	k := pairKey{msg.ID, msg.From, string(msg.Data)}
	if p.due[k] == 0 {
		return false
	}
	p.forget(k)
	for i, o := range p.order {
		if o == k {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	return true
}

func (p *pairs) forget(k pairKey) {
	if p.due[k] <= 1 {
		delete(p.due, k)
	} else {
		p.due[k]--
	}
}
