package cmds

import (
	"context"
	"slices"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

var sessionIDOnly = []wire.TypeID{wire.TypeSessionID}

// maxP2PPeers is the capacity of each of a session's P2P sets (pending
// in, pending out, accepted; commands.md §9).
const maxP2PPeers = 100

func p2pCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("p2p_request", "ask another session for a peer-to-peer link.", "[SESSION_ID]/[P2P_CLOSE] or [P2P_OPEN]",
				"Send a SESSION_ID frame naming the peer. The peer's client receives your PEER_INFO as a "+
					"P2P_REQUEST; you receive P2P_OPEN under ASYNC_P2P when it accepts, P2P_CLOSE when it "+
					"declines."),
			In: userOnly, Accepts: sessionIDOnly, MaxArgs: 0, Run: runP2PRequest, Inline: true,
		},
		{
			Def: def("p2p_open", "accept a peer-to-peer request.", "[SESSION_ID]/[none]",
				"Send a SESSION_ID frame naming a session whose P2P_REQUEST you received; the link opens "+
					"and both sides may use to_peer."),
			In: userOnly, Accepts: sessionIDOnly, MaxArgs: 0, Run: runP2POpen, Inline: true,
		},
		{
			Def: def("p2p_close", "decline a peer-to-peer request or close a link.", "[SESSION_ID]/[none]",
				"Send a SESSION_ID frame naming the peer: declines its request, withdraws your request or "+
					"closes the open link. The peer receives P2P_CLOSE."),
			In: userOnly, Accepts: sessionIDOnly, MaxArgs: 0, Run: runP2PClose, Inline: true,
		},
		{
			Def: def("to_peer", "send a frame to a peer over an open link.", "[(SESSION_ID)any]/[none]",
				"Send a frame of any type whose payload starts with the peer's 28-byte session id followed "+
					"by the data. The peer receives the data with the type you used under ASYNC_P2P, "+
					"prefixed with your session id."),
			In: userOnly, Accepts: anyData, MaxArgs: 0, Run: runToPeer, Inline: true,
		},
		{
			Def: def("ls_p2p", "list peer-to-peer links and pending requests.", "[none]/[text]",
				"Lists the session ids of your open links (pending 0), then of the requests you received "+
					"and the requests you sent that are not answered yet (pending 1)."),
			In: userOnly, MaxArgs: 0, Run: runLsP2P, Inline: true,
		},
	}
}

// peerArg reads the SESSION_ID payload of p2p_request / p2p_open /
// p2p_close.
func peerArg(c *module.Call) (wire.SessionID, error) {
	var id wire.SessionID
	if len(c.Payload) != wire.SessionIDLen {
		return id, module.Fail("session id must be %d bytes", wire.SessionIDLen)
	}
	copy(id[:], c.Payload)
	return id, nil
}

// p2pPayload builds the ASYNC_P2P data: [28 dst][28 src][1 type][data].
func p2pPayload(dst, src wire.SessionID, t wire.TypeID, data []byte) []byte {
	b := make([]byte, 0, 2*wire.SessionIDLen+1+len(data))
	b = append(append(append(b, dst[:]...), src[:]...), byte(t))
	return append(b, data...)
}

func runP2PRequest(ctx context.Context, c *module.Call) error {
	peer, err := peerArg(c)
	if err != nil {
		return err
	}
	s := c.Session()
	switch {
	case peer == s.SessionID:
		return module.Fail("cannot open a P2P link with your own session")
	case slices.Contains(s.P2PAccepted, peer):
		return module.Fail("already connected to that peer")
	case slices.Contains(s.P2PPendingOut, peer), slices.Contains(s.P2PPendingIn, peer):
		return module.Fail("a request with that peer is already pending")
	case len(s.P2PPendingOut) >= maxP2PPeers:
		return module.Fail("you have %d unanswered requests; close some first (p2p_close)", maxP2PPeers)
	}
	p := s.PeerInfo()
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2pPayload(peer, s.SessionID, wire.TypeP2PRequest, p.Marshal()))
	return nil
}

func runP2POpen(ctx context.Context, c *module.Call) error {
	peer, err := peerArg(c)
	if err != nil {
		return err
	}
	s := c.Session()
	switch {
	case slices.Contains(s.P2PAccepted, peer):
		return module.Fail("already connected")
	case !slices.Contains(s.P2PPendingIn, peer):
		return module.Fail("no pending request from that peer")
	case len(s.P2PAccepted) >= maxP2PPeers:
		return module.Fail("you have %d open P2P links; close one first (p2p_close)", maxP2PPeers)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2pPayload(peer, s.SessionID, wire.TypeP2POpen, s.SessionID[:]))
	return nil
}

func runP2PClose(ctx context.Context, c *module.Call) error {
	peer, err := peerArg(c)
	if err != nil {
		return err
	}
	s := c.Session()
	if !slices.Contains(s.P2PAccepted, peer) && !slices.Contains(s.P2PPendingIn, peer) && !slices.Contains(s.P2PPendingOut, peer) {
		return module.Fail("no pending request or connection with that peer")
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2pPayload(peer, s.SessionID, wire.TypeP2PClose, s.SessionID[:]))
	return nil
}

// isP2PControl reports whether t is one of the negotiation types, which
// only the p2p_* commands may send.
func isP2PControl(t wire.TypeID) bool {
	return t == wire.TypeP2PRequest || t == wire.TypeP2POpen || t == wire.TypeP2PClose
}

func runToPeer(ctx context.Context, c *module.Call) error {
	if len(c.Payload) < wire.SessionIDLen {
		return module.Fail("payload lacks the session id header")
	}
	if isP2PControl(c.Type) {
		return module.Fail("%v frames cannot be sent with to_peer; use p2p_request, p2p_open or p2p_close", c.Type)
	}
	var peer wire.SessionID
	copy(peer[:], c.Payload)
	s := c.Session()
	if !slices.Contains(s.P2PAccepted, peer) {
		return module.Fail("no open P2P connection with that peer")
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncP2P, p2pPayload(peer, s.SessionID, c.Type, c.Payload[wire.SessionIDLen:]))
	return nil
}

// p2pTableMinWidth is the narrowest column of ls_p2p (before the gap).
const p2pTableMinWidth = 7

func runLsP2P(ctx context.Context, c *module.Call) error {
	s := c.Session()
	c.Text("\n" + fixedTable([]string{"peer_id", "pending"}, p2pRows(s), p2pTableMinWidth))
	return nil
}

// p2pRows lists accepted peers (pending 0), then received and sent
// requests (pending 1).
func p2pRows(s *module.SessionInfo) [][]string {
	var rows [][]string
	for _, id := range s.P2PAccepted {
		rows = append(rows, []string{id.String(), "0"})
	}
	for _, set := range [][]wire.SessionID{s.P2PPendingIn, s.P2PPendingOut} {
		for _, id := range set {
			rows = append(rows, []string{id.String(), "1"})
		}
	}
	return rows
}
