package cluster

import (
	"bytes"
	"testing"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

func TestAsyncCodec(t *testing.T) {
	from, to := wire.SessionID{1, 2, 3}, wire.SessionID{9, 8, 7}
	var l wire.SubChannelList
	l.Add(wire.SubChannel{Channel: 5, Sub: 1})
	cast := &bus.Message{ID: wire.AsyncCast, Mode: wire.TypePubIPC, From: from, Data: append(append(l.Append(nil), byte(wire.TypeText)), "hi"...)}
	b := append(encodeAsync(nil, kindPublish, cast, bus.Scope{Entry: 1}), cast.Data...)
	got, sc, _, ok := decodeAsync(b)
	if !ok || got.ID != cast.ID || got.Mode != cast.Mode || got.From != from || !bytes.Equal(got.Data, cast.Data) || sc != (bus.Scope{Entry: 1}) {
		t.Fatalf("cast round trip: %+v %+v %v", got, sc, ok)
	}
	closeP2P := &bus.Message{ID: wire.AsyncCloseP2P, From: from, Data: from[:]}
	b = append(append(encodeAsync(nil, kindSendTo, closeP2P, bus.Scope{}), to[:]...), closeP2P.Data...)
	got, _, gotTo, ok := decodeAsync(b)
	if !ok || gotTo != to || !bytes.Equal(got.Data, from[:]) {
		t.Fatalf("send-to round trip: %+v to %v %v", got, gotTo, ok)
	}

	// What another node (or anything that can publish on the cluster's
	// subjects) sends is checked before the bus routes it.
	bad := map[string][]byte{
		"short header":      b[:asyncHeader-1],
		"undefined id":      append(encodeAsync(nil, kindPublish, &bus.Message{ID: 60}, bus.Scope{}), 1, 2),
		"private id":        append(encodeAsync(nil, kindPublish, &bus.Message{ID: wire.AsyncMaxSes}, bus.Scope{}), 1, 0, 0, 0),
		"entry too large":   append(encodeAsync(nil, kindPublish, cast, bus.Scope{Entry: 7}), cast.Data...),
		"unknown part":      append(encodeAsync(nil, kindPublish, cast, bus.Scope{Part: 9}), cast.Data...),
		"short channel id":  append(encodeAsync(nil, kindPublish, &bus.Message{ID: wire.AsyncDelCh}, bus.Scope{}), 1, 2, 3),
		"short cast":        append(encodeAsync(nil, kindPublish, cast, bus.Scope{}), 1),
		"send-to no target": encodeAsync(nil, kindSendTo, closeP2P, bus.Scope{}),
	}
	for name, b := range bad {
		if _, _, _, ok := decodeAsync(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNodeCodec(t *testing.T) {
	var open wire.SubChannelList
	open.Add(wire.SubChannel{Channel: 3, Sub: 2})
	p := []Presence{{Session: wire.SessionID{4}, Open: open}, {Session: wire.SessionID{5}}}
	tag := Tag{1, 2, 3, 4, 5, 6, 7, 8}
	b := encodeNode(kindHeartbeat, tag, "node-a", 42, p)
	h, ok := decodeNode(b)
	if !ok || h.tag != tag || h.id != "node-a" || h.sessions != 42 || len(h.present) != 2 ||
		h.present[0].Session != p[0].Session || h.present[0].Open != open || h.present[1].Open.Len() != 0 {
		t.Fatalf("round trip: %+v %v", h, ok)
	}
	for _, n := range []int{0, 5, 14, len(b) - 1} {
		if _, ok := decodeNode(b[:n]); ok {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
	if _, ok := decodeNode(append(b, 0)); ok {
		t.Error("trailing byte: accepted")
	}
}

func TestPresenceCodec(t *testing.T) {
	var open wire.SubChannelList
	open.Add(wire.SubChannel{Channel: 9, Sub: 4})
	tag := Tag{8, 7, 6, 5, 4, 3, 2, 1}
	in := []Presence{{Session: wire.SessionID{1}, Open: open}, {Session: wire.SessionID{2}}}
	b := encodePresence(tag, in)
	gotTag, got, ok := decodePresence(b)
	if !ok || gotTag != tag || len(got) != 2 || got[0] != in[0] || got[1] != in[1] {
		t.Fatalf("round trip: %v %+v %v", gotTag, got, ok)
	}
	for _, n := range []int{0, 12, 13 + 20, len(b) - 1} {
		if _, _, ok := decodePresence(b[:n]); ok {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
	if _, _, ok := decodePresence(append(b, 0)); ok {
		t.Error("trailing byte: accepted")
	}
	huge := append([]byte(nil), b[:13]...)
	huge[9], huge[10], huge[11], huge[12] = 0xff, 0xff, 0xff, 0xff
	if _, _, ok := decodePresence(huge); ok {
		t.Error("count beyond the data: accepted")
	}
}

func TestTagOfStampedSession(t *testing.T) {
	n := &Node{tag: Tag{0xAA, 1, 2, 3, 4, 5, 6, 0xBB}}
	id := wire.SessionID{0x11, 0x22}
	n.StampSessionID(&id)
	if TagOf(id) != n.tag || id[0] != 0x11 || id[1] != 0x22 {
		t.Fatalf("stamped id % x", id)
	}
}
