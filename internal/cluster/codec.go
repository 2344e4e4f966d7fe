package cluster

import (
	"encoding/binary"
	"net/url"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// Message kinds: the first byte of every NATS message between nodes.
const (
	kindPublish   byte = 1 // an async for the subject's sessions: bus.Inject
	kindSendTo    byte = 2 // an async for one session: bus.SendLocal
	kindHeartbeat byte = 3
	kindBye       byte = 4
	kindEvent     byte = 5 // a host-wide change (Event)
	kindPresence  byte = 6 // a presence delta (presence.go)
)

// asyncHeader is the length of an async's header:
//
//	[kind][async id][IPC mode][scope entry][scope part][from: 28 bytes]
//
// followed, for kindSendTo, by the 28-byte target session, then the data.
const asyncHeader = 5 + wire.SessionIDLen

func encodeAsync(b []byte, kind byte, msg *bus.Message, sc bus.Scope) []byte {
	b = append(b, kind, byte(msg.ID), byte(msg.Mode), byte(sc.Entry), byte(sc.Part))
	return append(b, msg.From[:]...)
}

// decodeAsync returns the message (its Data aliases d, which the caller
// never reuses), its scope and, for kindSendTo, the target session.
func decodeAsync(d []byte) (*bus.Message, bus.Scope, wire.SessionID, bool) {
	var to wire.SessionID
	if len(d) < asyncHeader {
		return nil, bus.Scope{}, to, false
	}
	msg := &bus.Message{ID: wire.AsyncID(d[1]), Mode: wire.TypeID(d[2])}
	r, ok := bus.Lookup(msg.ID)
	if !ok || (d[0] == kindPublish && !bus.Forwarded(r)) {
		return nil, bus.Scope{}, to, false
	}
	sc := bus.Scope{Entry: int(d[3]), Part: bus.Part(d[4])}
	if sc.Entry > wire.MaxOpenSubChannels || sc.Part > bus.PartNamed {
		return nil, bus.Scope{}, to, false
	}
	copy(msg.From[:], d[5:])
	kind := d[0]
	d = d[asyncHeader:]
	if kind == kindSendTo {
		if len(d) < wire.SessionIDLen {
			return nil, bus.Scope{}, to, false
		}
		copy(to[:], d)
		d = d[wire.SessionIDLen:]
	}
	// The payload checks of commands.md §15.2, as Bus.Emit applies them to
	// a module's asyncs: the routing reads the fields they guarantee.
	if kind == kindPublish && ((r.ExactLen > 0 && len(d) != r.ExactLen) || (r.MinLen > 0 && len(d) < r.MinLen)) {
		return nil, bus.Scope{}, to, false
	}
	msg.Data = d
	return msg, sc, to, true
}

// Heartbeat and goodbye:
//
//	[kind][tag: 8][sessions: u32][id length: u8][id][count: u32]
//	then per present session [session: 28][open list: 54]
func encodeNode(kind byte, tag Tag, id string, sessions int, present []Presence) []byte {
	if len(id) > 255 {
		id = id[:255]
	}
	b := make([]byte, 0, 1+8+4+1+len(id)+4+len(present)*(wire.SessionIDLen+wire.SubChannelListLen))
	b = append(b, kind)
	b = append(b, tag[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(sessions))
	b = append(b, byte(len(id)))
	b = append(b, id...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(present)))
	for _, p := range present {
		b = append(b, p.Session[:]...)
		b = p.Open.Append(b)
	}
	return b
}

func decodeNode(d []byte) (nodeMsg, bool) {
	var h nodeMsg
	if len(d) < 1+8+4+1 {
		return h, false
	}
	copy(h.tag[:], d[1:])
	h.sessions = int(binary.LittleEndian.Uint32(d[9:]))
	l := int(d[13])
	d = d[14:]
	if len(d) < l+4 {
		return h, false
	}
	h.id = string(d[:l])
	cnt := int(binary.LittleEndian.Uint32(d[l:]))
	present, ok := decodePresent(d[l+4:], cnt)
	h.present = present
	return h, ok
}

// redact hides the password of a NATS URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}
