package asynctest

// Sub-channel asyncs: 4 CAST, 16 TO_PEER, 17 LIMITED_CAST, 38 PING_PEERS,
// 39 OPEN_SUBCH, 40 CLOSE_SUBCH.

import (
	"context"
	"testing"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

const (
	whyNotWritable = "not the session's writable list"
	whyPingCast    = "modules may not cast PING_PEERS"
	whyShortCast   = "is too short"
)

func TestAsync04Cast(t *testing.T) {
	t.Parallel()
	e := start(t, opts{inactive: true}) // no PEER_STAT noise
	alice, bob, carol, dave := e.user("alice", 2), e.user("bob", 2), e.user("carol", 2), e.user("dave", 2)
	ch := e.channel("chan", alice, []store.User{bob, carol, dave})
	s1, s2, s3 := e.subChannel(ch, "s1", false), e.subChannel(ch, "s2", false), e.subChannel(ch, "s3", false)
	a, b, c, d, x := e.login("alice"), e.login("bob"), e.login("carol"), e.login("dave"), e.dial("anon")
	w := a.open(s1, s2).Writable
	b.open(s1)
	c.open(s1, s2) // two matching entries: one frame
	d.open(s3)     // no match
	x.open(s2)     // casts reach anonymous openers too
	all := []*peer{a, b, c, d, x}
	e.quiet(all...)

	// [54 writable list][1 type][payload] → [type][cmd 4][branch 0][payload]
	// to every other session with a matching entry open, once.
	a.emit(wire.TypePubIPC, wire.AsyncCast, castData(w, wire.TypeText, wire.EncodeText("hello")))
	for _, p := range []*peer{b, c, x} {
		p.want(wire.TypeText, wire.AsyncCast, wire.EncodeText("hello"))
	}
	e.quiet(all...)

	// With feedback: the same, never back to the sender; any type, any
	// payload (even empty).
	a.emit(wire.TypePubIPCFeedback, wire.AsyncCast, castData(w, wire.TypeBytes, []byte{0, 1, 2, 255}))
	a.emit(wire.TypePubIPC, wire.AsyncCast, castData(w, wire.TypeFileInfo, nil))
	for _, p := range []*peer{b, c, x} {
		p.want(wire.TypeBytes, wire.AsyncCast, []byte{0, 1, 2, 255})
		p.want(wire.TypeFileInfo, wire.AsyncCast, nil)
	}
	e.quiet(all...)

	// The anonymous opener casts to s2 only.
	x.emit(wire.TypePubIPC, wire.AsyncCast, castData(x.snap().Writable, wire.TypeText, wire.EncodeText("from x")))
	for _, p := range []*peer{a, c} {
		p.want(wire.TypeText, wire.AsyncCast, wire.EncodeText("from x"))
	}
	e.quiet(all...)

	// Refused: wrong mode, a list that is not the writable list, PING_PEERS,
	// no type byte.
	a.wantRefused(wire.TypePrivIPC, wire.AsyncCast, castData(w, wire.TypeText, nil), whyAudience)
	a.wantRefused(wire.TypePubIPC, wire.AsyncCast, castData(listOf(s1), wire.TypeText, nil), whyNotWritable)
	a.wantRefused(wire.TypePubIPC, wire.AsyncCast, castData(listOf(s3, s1, s2), wire.TypeText, nil), whyNotWritable)
	a.wantRefused(wire.TypePubIPC, wire.AsyncCast, castData(w, wire.TypePingPeers, peerInfoBytes(a.peerInfo(alice))), whyPingCast)
	a.wantRefused(wire.TypePubIPC, wire.AsyncCast, w.Append(nil), whyShortCast)
	d.wantRefused(wire.TypePubIPC, wire.AsyncCast, castData(listOf(s1), wire.TypeText, nil), whyNotWritable)
	e.quiet(all...)
}

func TestAsync17LimitedCast(t *testing.T) {
	t.Parallel()
	e := start(t, opts{inactive: true})
	alice, bob, carol := e.user("alice", 2), e.user("bob", 2), e.user("carol", 2)
	ch := e.channel("chan", alice, []store.User{bob, carol})
	s1 := e.subChannel(ch, "s1", true) // active updates on
	s2 := e.subChannel(ch, "s2", false)
	a, b, c := e.login("alice"), e.login("bob"), e.login("carol")
	b.open(s1) // active
	w := a.open(s1, s2).Writable
	c.open(s2) // not active
	if !a.snap().Active || !b.snap().Active || c.snap().Active {
		t.Fatal("active flags")
	}
	// Host-originated LIMITED_CAST: PEER_STAT when an active session opens.
	b.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(a.sid(), listOf(s1), false))
	b.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(a.sid(), listOf(s1, s2), false))
	e.quiet(a, b, c)

	// Only active sessions with a matching entry receive it.
	a.emit(wire.TypePubIPC, wire.AsyncLimitedCast, castData(w, wire.TypeText, wire.EncodeText("limited")))
	b.want(wire.TypeText, wire.AsyncLimitedCast, wire.EncodeText("limited"))
	e.quiet(a, b, c)
	a.emit(wire.TypePubIPCFeedback, wire.AsyncLimitedCast, castData(w, wire.TypePeerInfo, peerInfoBytes(a.peerInfo(alice))))
	b.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(a.peerInfo(alice)))
	e.quiet(a, b, c)

	// PEER_STAT when an active session closes a sub-channel, routed by its
	// previous list.
	b.emit(wire.TypePrivIPC, wire.AsyncCloseSubCh, subBytes(s1))
	a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), wire.SubChannelList{}, false))
	e.quiet(b, a, c)

	a.wantRefused(wire.TypePrivIPC, wire.AsyncLimitedCast, castData(w, wire.TypeText, nil), whyAudience)
	a.wantRefused(wire.TypePubIPC, wire.AsyncLimitedCast, castData(listOf(s1), wire.TypeText, nil), whyNotWritable)
	a.wantRefused(wire.TypePubIPC, wire.AsyncLimitedCast, castData(w, wire.TypePingPeers, peerInfoBytes(a.peerInfo(alice))), whyPingCast)
	a.wantRefused(wire.TypePubIPC, wire.AsyncLimitedCast, w.Append(nil), whyShortCast)
	e.quiet(a, b, c)
}

// pingEnv: global active updates off; s active, s3 not. p (alice) has s
// and s3 open, q (bob) s, w (carol) s3 only (not active), r (dave) s2.
func pingEnv(t *testing.T, o opts) (e *env, p, q, w, r *peer, users []store.User) {
	t.Helper()
	o.inactive = true
	e = start(t, o)
	alice, bob, carol, dave := e.user("alice", 2), e.user("bob", 2), e.user("carol", 2), e.user("dave", 2)
	ch := e.channel("chan", alice, []store.User{bob, carol, dave})
	s, s2, s3 := e.subChannel(ch, "s", true), e.subChannel(ch, "s2", true), e.subChannel(ch, "s3", false)
	p, q, w, r = e.login("alice"), e.login("bob"), e.login("carol"), e.login("dave")
	q.open(s)
	r.open(s2)
	w.open(s3)
	p.open(s, s3)
	e.settle(p, q, w, r)
	if !p.snap().Active || !q.snap().Active || w.snap().Active {
		t.Fatal("active flags")
	}
	return e, p, q, w, r, []store.User{alice, bob, carol, dave}
}

func TestAsync16ToPeer(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		e, p, q, w, r, u := pingEnv(t, opts{trust: trust})
		// Restricted: refused from any module, trusted or not, and logged.
		qs := q.sid()
		data := cat(qs[:], []byte{byte(wire.TypeText)}, wire.EncodeText("hi"))
		for _, m := range allModes {
			p.wantRefused(m, wire.AsyncToPeer, data, whyRestricted)
		}
		e.quiet(p, q, w, r)

		// The host itself sends it: the answers to a ping reach the pinging
		// client on ASYNC_TO_PEER typed PEER_INFO (not on LIMITED_CAST as
		// the document says, commands.md §15.1 #7).
		p.emit(wire.TypePrivIPC, wire.AsyncPingPeers, nil)
		q.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(p.peerInfo(u[0])))
		p.want(wire.TypePeerInfo, wire.AsyncToPeer, peerInfoBytes(q.peerInfo(u[1])))
		e.quiet(q, p, w, r)
	}
}

func TestAsync38PingPeers(t *testing.T) {
	t.Parallel()
	e, p, q, w, r, u := pingEnv(t, opts{})
	// PRIV: a LIMITED_CAST typed PING_PEERS with the pinger's PEER_INFO
	// over its writable list. Active sessions sharing an entry answer with
	// their PEER_INFO (TO_PEER) and forward the ping typed PEER_INFO.
	p.emit(wire.TypePrivIPC, wire.AsyncPingPeers, nil)
	q.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(p.peerInfo(u[0])))
	p.want(wire.TypePeerInfo, wire.AsyncToPeer, peerInfoBytes(q.peerInfo(u[1])))
	e.quiet(q, w, r, p)

	// The original's ping_peers sends it as PUB_IPC, which no session acts
	// on (commands.md §15.1 #7): refused and logged here.
	p.wantRefused(wire.TypePubIPC, wire.AsyncPingPeers, nil, whyAudience)
	p.wantRefused(wire.TypePubIPCFeedback, wire.AsyncPingPeers, nil, whyAudience)
	// A session without active updates does not ping.
	w.emit(wire.TypePrivIPC, wire.AsyncPingPeers, nil)
	e.quiet(w, p, q, r)
}

func TestAsync39OpenSubCh(t *testing.T) {
	t.Parallel()
	e := start(t, opts{}) // global active updates on
	alice, bob := e.user("alice", 2), e.user("bob", 2)
	ch := e.channel("chan", alice, []store.User{bob})
	s1, s2 := e.subChannel(ch, "s1", false), e.subChannel(ch, "s2", false)
	if err := e.h.Store.AddReadOnlyFlag(context.Background(), store.ReadOnlyFlag{ChannelID: ch, SubID: s2.Sub, Level: 4}); err != nil {
		t.Fatal(err)
	}
	a, b, x := e.login("alice"), e.login("bob"), e.dial("anon")
	a.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s1))
	e.quiet(a, b)

	// PRIV [8 chid][1 sub]: added to the open list and, unless a read-only
	// flag matches the member's level, to the writable list; the active
	// flag is recomputed and active peers get a PEER_STAT (our choice, the
	// original sends none: commands.md §15.1 #15).
	b.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s1))
	a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), listOf(s1), false))
	b.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s2))
	a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), listOf(s1, s2), false))
	info := b.snap()
	if info.Open != listOf(s1, s2) || info.Writable != listOf(s1) || !info.Active {
		t.Fatalf("member (level 4) after opening s1, read-only s2: %+v", info)
	}
	// The owner (level 1) may write to s2.
	a.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s2))
	b.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(a.sid(), listOf(s1, s2), false))
	if info := a.snap(); info.Writable != listOf(s1, s2) {
		t.Fatalf("owner writable %+v", info.Writable)
	}
	e.quiet(a, b)

	// Errors go to the client as system messages; nothing changes.
	b.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s1))
	b.want(wire.TypeErr, wire.AsyncSysMsg, wire.EncodeText("err: the sub-channel is already open\n"))
	for i := range 6 {
		x.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(wire.SubChannel{Channel: 1000, Sub: uint8(i)}))
	}
	x.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s1))
	x.want(wire.TypeErr, wire.AsyncSysMsg, wire.EncodeText("err: cannot open more than 6 sub-channels at once; close one first\n"))
	if xs := x.snap(); xs.Open.Contains(s1) {
		t.Fatal("seventh sub-channel opened")
	}
	// Channel id 0 is not a sub-channel: ignored.
	b.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(wire.SubChannel{Channel: 0, Sub: 3}))
	e.quiet(b, x, a)
	if b.snap().Open != listOf(s1, s2) {
		t.Fatal("open list changed")
	}

	b.wantRefused(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s1)[:8], whyLength)
	b.wantRefused(wire.TypePrivIPC, wire.AsyncOpenSubCh, cat(subBytes(s1), []byte{0}), whyLength)
	b.wantRefused(wire.TypePubIPC, wire.AsyncOpenSubCh, subBytes(s1), whyAudience)
	b.wantRefused(wire.TypePubIPCFeedback, wire.AsyncOpenSubCh, subBytes(s1), whyAudience)
	e.quiet(b, a)
}

func TestAsync40CloseSubCh(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice, bob := e.user("alice", 2), e.user("bob", 2)
	ch := e.channel("chan", alice, []store.User{bob})
	s1, s2 := e.subChannel(ch, "s1", false), e.subChannel(ch, "s2", false)
	a, b := e.login("alice"), e.login("bob")
	a.open(s1)
	b.open(s1, s2)
	e.settle(a, b)

	// PRIV [8][1]: removed from the open and writable lists; active peers
	// get a PEER_STAT routed by the previous list.
	b.emit(wire.TypePrivIPC, wire.AsyncCloseSubCh, subBytes(s1))
	var now wire.SubChannelList
	now[1] = s2 // slots keep their place
	a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), now, false))
	if info := b.snap(); info.Open != now || info.Writable != now {
		t.Fatalf("after CLOSE_SUBCH: %+v", info)
	}
	e.quiet(b, a)
	// Closing a sub-channel that is not open does nothing; closing s2
	// tells nobody (alice never shared it).
	b.emit(wire.TypePrivIPC, wire.AsyncCloseSubCh, subBytes(s1))
	b.emit(wire.TypePrivIPC, wire.AsyncCloseSubCh, subBytes(s2))
	e.quiet(b, a)
	if info := b.snap(); info.Open.Len() != 0 || info.Active {
		t.Fatalf("after closing everything: %+v", info)
	}

	b.wantRefused(wire.TypePrivIPC, wire.AsyncCloseSubCh, subBytes(s1)[:8], whyLength)
	b.wantRefused(wire.TypePubIPC, wire.AsyncCloseSubCh, subBytes(s1), whyAudience)
	e.quiet(b, a)
}
