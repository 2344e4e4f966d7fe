package asynctest

// Peer-to-peer asyncs: 19 P2P and 20 CLOSE_P2P, with the state machine of
// commands.md §9 "Notes for the re-implementation": a session records its
// own side of a request/open/close from the feedback of its own
// PUB_IPC_WITH_FEEDBACK async, and the peer's side when the async reaches it.

import (
	"slices"
	"testing"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

// p2p builds [28 dst][28 src][1 type][payload].
func p2p(dst, src wire.SessionID, t wire.TypeID, payload []byte) []byte {
	return cat(dst[:], src[:], []byte{byte(t)}, payload)
}

func sids(ids ...wire.SessionID) []wire.SessionID {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func (p *peer) wantLinks(accepted, in, out []wire.SessionID) module.SessionInfo {
	p.t.Helper()
	info := p.snap()
	sorted := func(s []wire.SessionID) []wire.SessionID {
		s = slices.Clone(s)
		slices.SortFunc(s, func(a, b wire.SessionID) int { return slices.Compare(a[:], b[:]) })
		return s
	}
	if !slices.Equal(info.P2PAccepted, sorted(accepted)) || !slices.Equal(info.P2PPendingIn, sorted(in)) || !slices.Equal(info.P2PPendingOut, sorted(out)) {
		p.t.Fatalf("%s: p2p accepted %x in %x out %x; want %x %x %x", p.name,
			info.P2PAccepted, info.P2PPendingIn, info.P2PPendingOut, accepted, in, out)
	}
	return info
}

// link makes a and b peers: a requests, b opens.
func link(e *env, a, b *peer, aInfo []byte) {
	e.t.Helper()
	as, bs := a.sid(), b.sid()
	a.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(bs, as, wire.TypeP2PRequest, aInfo))
	b.want(wire.TypeP2PRequest, wire.AsyncP2P, aInfo)
	b.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(as, bs, wire.TypeP2POpen, bs[:]))
	a.want(wire.TypeP2POpen, wire.AsyncP2P, bs[:])
}

func TestAsync19P2P(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice := e.user("alice", 2)
	e.user("bob", 2)
	a, b, c := e.login("alice"), e.login("bob"), e.dial("anon")
	as, bs, cs := a.sid(), b.sid(), c.sid()
	aInfo := peerInfoBytes(a.peerInfo(alice))

	// 1. Request: the target records a pending request and forwards the
	// payload (the requester's PEER_INFO) typed P2P_REQUEST; the requester
	// records its outgoing request from the feedback.
	a.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(bs, as, wire.TypeP2PRequest, aInfo))
	b.want(wire.TypeP2PRequest, wire.AsyncP2P, aInfo)
	e.quiet(a, b, c)
	a.wantLinks(nil, nil, sids(bs))
	b.wantLinks(nil, sids(as), nil)
	// A repeated request and data before acceptance are not forwarded;
	// neither is an open from a session that was not asked.
	a.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(bs, as, wire.TypeP2PRequest, aInfo))
	a.emit(wire.TypePubIPC, wire.AsyncP2P, p2p(bs, as, wire.TypeText, wire.EncodeText("too early")))
	c.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(as, cs, wire.TypeP2POpen, cs[:]))
	e.quiet(a, b, c)

	// 2. Open: the requester moves the target to accepted and its client
	// gets P2P_OPEN with the opener's id.
	b.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(as, bs, wire.TypeP2POpen, bs[:]))
	a.want(wire.TypeP2POpen, wire.AsyncP2P, bs[:])
	e.quiet(a, b, c)
	a.wantLinks(sids(bs), nil, nil)
	b.wantLinks(sids(as), nil, nil)

	// 3. Data: any type, delivered with the source id prepended, both ways.
	a.emit(wire.TypePubIPC, wire.AsyncP2P, p2p(bs, as, wire.TypeText, wire.EncodeText("hello")))
	b.want(wire.TypeText, wire.AsyncP2P, cat(as[:], wire.EncodeText("hello")))
	b.emit(wire.TypePubIPC, wire.AsyncP2P, p2p(as, bs, wire.TypeBytes, []byte{1, 2, 3}))
	a.want(wire.TypeBytes, wire.AsyncP2P, cat(bs[:], []byte{1, 2, 3}))
	// A session that is not linked cannot send data.
	c.emit(wire.TypePubIPC, wire.AsyncP2P, p2p(bs, cs, wire.TypeText, wire.EncodeText("spam")))
	e.quiet(a, b, c)

	// The source must be the emitting session; the mode must be public.
	c.wantRefused(wire.TypePubIPC, wire.AsyncP2P, p2p(bs, as, wire.TypeText, nil), "source session id is not this session's")
	c.wantRefused(wire.TypePubIPC, wire.AsyncP2P, cat(bs[:], cs[:]), "source session id is not this session's")
	c.wantRefused(wire.TypePrivIPC, wire.AsyncP2P, p2p(bs, cs, wire.TypeText, nil), whyAudience)
	e.quiet(a, b, c)

	// 4. Close: the peer drops the link and gets P2P_CLOSE with the
	// closer's id; the closer drops it from the feedback.
	b.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(as, bs, wire.TypeP2PClose, bs[:]))
	a.want(wire.TypeP2PClose, wire.AsyncP2P, bs[:])
	e.quiet(a, b, c)
	a.wantLinks(nil, nil, nil)
	b.wantLinks(nil, nil, nil)
	b.emit(wire.TypePubIPC, wire.AsyncP2P, p2p(as, bs, wire.TypeText, wire.EncodeText("after close")))
	e.quiet(a, b)

	// Declining a request: the requester is told and forgets it.
	c.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(as, cs, wire.TypeP2PRequest, []byte("c's info")))
	a.want(wire.TypeP2PRequest, wire.AsyncP2P, []byte("c's info"))
	a.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(cs, as, wire.TypeP2PClose, as[:]))
	c.want(wire.TypeP2PClose, wire.AsyncP2P, as[:])
	e.quiet(a, c)
	a.wantLinks(nil, nil, nil)
	c.wantLinks(nil, nil, nil)
}

func TestAsync20CloseP2P(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice, carol := e.user("alice", 2), e.user("carol", 2)
	e.user("bob", 2)
	a, b, c, d := e.login("alice"), e.login("bob"), e.login("carol"), e.dial("anon")
	bs := b.sid()

	// A disconnect: every linked peer gets P2P_CLOSE (ASYNC_P2P) with the
	// departed session's id and forgets it.
	link(e, a, b, peerInfoBytes(a.peerInfo(alice)))
	as := a.sid()
	_ = a.c.Close()
	b.want(wire.TypeP2PClose, wire.AsyncP2P, as[:])
	e.quiet(b, c, d)
	b.wantLinks(nil, nil, nil)

	// A logout also ends links, including a request that is only pending
	// (commands.md §15.1 #19).
	cs := c.sid()
	c.emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2p(bs, cs, wire.TypeP2PRequest, peerInfoBytes(c.peerInfo(carol))))
	b.want(wire.TypeP2PRequest, wire.AsyncP2P, peerInfoBytes(c.peerInfo(carol)))
	c.emit(wire.TypePrivIPC, wire.AsyncLogout, nil)
	b.want(wire.TypeP2PClose, wire.AsyncP2P, cs[:])
	e.quiet(b, c, d)
	b.wantLinks(nil, nil, nil)
	c.wantLinks(nil, nil, nil)

	// From a module: [28 own id], public; every session holding a link
	// with the emitter drops it.
	ds := d.sid()
	link(e, d, b, []byte("d's info"))
	d.emit(wire.TypePubIPC, wire.AsyncCloseP2P, ds[:])
	b.want(wire.TypeP2PClose, wire.AsyncP2P, ds[:])
	e.quiet(b, c, d)
	b.wantLinks(nil, nil, nil)

	d.wantRefused(wire.TypePubIPC, wire.AsyncCloseP2P, bs[:], "session id is not this session's")
	d.wantRefused(wire.TypePubIPC, wire.AsyncCloseP2P, ds[:27], "session id is not this session's")
	d.wantRefused(wire.TypePrivIPC, wire.AsyncCloseP2P, ds[:], whyAudience)
	e.quiet(b, c, d)
}
