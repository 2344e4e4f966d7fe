package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// handleAsync is what a session does when it receives an async command
// (seed/async.md §5.2, with the differences recorded in docs/async.md).
// Messages reach here from the bus (other sessions), from this session's own
// commands (PRIV_IPC and the feedback of PUB_IPC_WITH_FEEDBACK) and from the
// host. Handlers check that the message concerns this session, because a
// routing index may include sessions it does not (e.g. in a cluster).
func (s *Session) handleAsync(ctx context.Context, m *bus.Message) {
	d := m.Data
	switch m.ID {
	case wire.AsyncExit:
		go s.cfg.Host.Exit()
	case wire.AsyncRestart:
		go s.cfg.Host.Restart()
	case wire.AsyncMaxSes:
		if len(d) >= 4 {
			s.cfg.Host.SetMaxSessions(binary.LittleEndian.Uint32(d))
		}
	case wire.AsyncUpdateBans:
		s.cfg.Host.ReloadBans()
	case wire.AsyncEndSession:
		s.end()
	case wire.AsyncLogout:
		s.logout(ctx, true)
	case wire.AsyncUserLogin:
		var id wire.UserID
		copy(id[:], d)
		s.login(ctx, id)
	case wire.AsyncUserDeleted:
		if s.isUser(d) {
			s.logout(ctx, true)
			s.sysText("\nThe account you were logged in as was deleted; you are now logged out.\n")
			s.sendAsync(m.ID, wire.TypeText, d[:wire.UserIDLen])
		}
	case wire.AsyncDispRenamed, wire.AsyncUserRenamed:
		if s.isUser(d) {
			if m.ID == wire.AsyncDispRenamed {
				s.st.user.DisplayName = wire.ReadFixed(d[wire.UserIDLen:])
			} else {
				s.st.user.Name = wire.ReadFixed(d[wire.UserIDLen:])
			}
			s.publish()
			if s.st.active {
				p := s.peerInfo()
				s.limitedCast(s.st.open, wire.TypePeerInfo, p.Marshal())
			}
			s.sendMyInfo()
		}
	case wire.AsyncUserRankChanged:
		if s.isUser(d) && len(d) >= 36 {
			s.st.user.Rank = binary.LittleEndian.Uint32(d[32:])
			s.publish()
			s.sendMyInfo()
			s.reloadCommands(ctx)
		}
	case wire.AsyncRWMyInfo:
		if s.isUser(d) {
			ctx, cancel := s.ioContext(ctx)
			u, err := s.cfg.Store.UserByID(ctx, s.st.user.ID)
			cancel()
			if err == nil {
				s.st.user = &u
				s.publish()
			}
			s.sendMyInfo()
		}
	case wire.AsyncCmdRanksChanged, wire.AsyncEnableMod, wire.AsyncDisableMod:
		s.reloadCommands(ctx)
	case wire.AsyncToPeer:
		if len(d) > wire.SessionIDLen && bytes.Equal(d[:wire.SessionIDLen], s.cfg.ID[:]) {
			s.sendAsync(m.ID, wire.TypeID(d[wire.SessionIDLen]), d[wire.SessionIDLen+1:])
		}
	case wire.AsyncCast, wire.AsyncLimitedCast:
		s.receiveCast(m)
	case wire.AsyncPingPeers:
		if s.st.active {
			p := s.peerInfo()
			s.limitedCast(s.st.writable, wire.TypePingPeers, p.Marshal())
		}
	case wire.AsyncP2P:
		s.receiveP2P(m)
	case wire.AsyncCloseP2P:
		if len(d) >= wire.SessionIDLen {
			var peer wire.SessionID
			copy(peer[:], d)
			if s.dropPeer(peer) {
				s.sendAsync(wire.AsyncP2P, wire.TypeP2PClose, peer[:])
			}
		}
	case wire.AsyncOpenSubCh:
		if sc, err := wire.ParseSubChannel(d); err == nil && sc.Valid() {
			s.openSubChannel(ctx, sc)
		}
	case wire.AsyncCloseSubCh:
		if sc, err := wire.ParseSubChannel(d); err == nil {
			s.closeSubChannels(ctx, true, func(e wire.SubChannel) bool { return e == sc })
		}
	case wire.AsyncChActFlag:
		if sc, err := wire.ParseSubChannel(d); err == nil && s.st.open.Contains(sc) {
			s.recomputeActive(ctx)
		}
	case wire.AsyncSetDir:
		dir := wire.DecodeText(d)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			s.st.dir = dir
		}
	case wire.AsyncDebugText:
		s.cfg.Host.Debug(wire.DecodeText(d))
	case wire.AsyncKeepAlive:
	default:
		if m.ID >= wire.AsyncNewChMember && m.ID <= wire.AsyncRmRdonly {
			s.receiveChannelEvent(ctx, m)
		}
	}
	s.publish()
}

// isUser reports whether the payload starts with the logged-in user's id.
func (s *Session) isUser(d []byte) bool {
	return s.st.user != nil && len(d) >= wire.UserIDLen && bytes.Equal(d[:wire.UserIDLen], s.st.user.ID[:])
}

// receiveCast forwards a CAST or LIMITED_CAST whose sub-channel list
// overlaps the open list; LIMITED_CAST only reaches active sessions, and a
// PING_PEERS inside it is answered with this session's PEER_INFO.
func (s *Session) receiveCast(m *bus.Message) {
	d := m.Data
	if len(d) <= wire.SubChannelListLen || m.From == s.cfg.ID {
		return
	}
	list, _ := wire.ParseSubChannelList(d)
	if !s.st.open.Overlaps(&list) || (m.ID == wire.AsyncLimitedCast && !s.st.active) {
		return
	}
	t, payload := wire.TypeID(d[wire.SubChannelListLen]), d[wire.SubChannelListLen+1:]
	if m.ID == wire.AsyncLimitedCast && t == wire.TypePingPeers {
		req, err := wire.ParsePeerInfo(payload)
		if err != nil {
			return
		}
		me := s.peerInfo()
		reply := append(append(req.SessionID[:0:0], req.SessionID[:]...), byte(wire.TypePeerInfo))
		reply = me.Append(reply)
		s.cfg.Bus.SendTo(req.SessionID, &bus.Message{ID: wire.AsyncToPeer, Data: reply, From: s.cfg.ID})
		t = wire.TypePeerInfo
	}
	s.sendAsync(m.ID, t, payload)
}

// receiveP2P runs the peer-to-peer state machine of commands.md §9 notes.
// A message this session emitted itself (feedback) records its own side of
// the transition; one addressed to it records the peer's side and informs
// the client.
func (s *Session) receiveP2P(m *bus.Message) {
	d := m.Data
	if len(d) < 2*wire.SessionIDLen+1 {
		return
	}
	var dst, src wire.SessionID
	copy(dst[:], d)
	copy(src[:], d[wire.SessionIDLen:])
	t, payload := wire.TypeID(d[2*wire.SessionIDLen]), d[2*wire.SessionIDLen+1:]
	st := &s.st
	if src == s.cfg.ID && dst != s.cfg.ID { // our own request/answer going out
		switch t {
		case wire.TypeP2PRequest:
			addCapped(st.p2pOut, dst)
		case wire.TypeP2POpen:
			delete(st.p2pIn, dst)
			addCapped(st.p2pOpen, dst)
		case wire.TypeP2PClose:
			s.dropPeer(dst)
		}
		return
	}
	if dst != s.cfg.ID {
		return
	}
	_, accepted := st.p2pOpen[src]
	switch t {
	case wire.TypeP2PRequest:
		if _, pending := st.p2pIn[src]; accepted || pending || !addCapped(st.p2pIn, src) {
			return
		}
		s.sendAsync(wire.AsyncP2P, t, payload)
	case wire.TypeP2POpen:
		if _, ok := st.p2pOut[src]; !ok {
			return
		}
		delete(st.p2pOut, src)
		addCapped(st.p2pOpen, src)
		s.sendAsync(wire.AsyncP2P, t, src[:])
	case wire.TypeP2PClose:
		if s.dropPeer(src) {
			s.sendAsync(wire.AsyncP2P, t, src[:])
		}
	default:
		if accepted {
			out := make([]byte, 0, wire.SessionIDLen+len(payload))
			out = append(append(out, src[:]...), payload...)
			s.sendAsync(wire.AsyncP2P, t, out)
		}
	}
}

func addCapped(set map[wire.SessionID]struct{}, id wire.SessionID) bool {
	if _, ok := set[id]; ok {
		return true
	}
	if len(set) >= maxP2P {
		return false
	}
	set[id] = struct{}{}
	return true
}

// dropPeer removes a peer from every p2p set and reports whether it was in one.
func (s *Session) dropPeer(id wire.SessionID) bool {
	found := false
	for _, set := range []map[wire.SessionID]struct{}{s.st.p2pIn, s.st.p2pOut, s.st.p2pOpen} {
		if _, ok := set[id]; ok {
			delete(set, id)
			found = true
		}
	}
	return found
}

// receiveChannelEvent handles ids 21..34 (commands.md §15 and issue notes):
// members of the channel get the frame; the user an invitation, acceptance,
// removal or level change names gets it too; sessions lose the sub-channels
// they may no longer use.
func (s *Session) receiveChannelEvent(ctx context.Context, m *bus.Message) {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	d := m.Data
	if len(d) < 8 {
		return
	}
	ch := binary.LittleEndian.Uint64(d)
	_, member := s.st.channels[ch]
	named := len(d) >= 40 && s.isUser(d[8:])
	openedChannel := func(e wire.SubChannel) bool { return e.Channel == ch }
	var sub wire.SubChannel
	if len(d) >= 9 {
		sub = wire.SubChannel{Channel: ch, Sub: d[8]}
	}
	hadSub := s.st.open.Contains(sub)
	forward := member
	t := wire.TypeBytes
	switch m.ID {
	case wire.AsyncNewChMember, wire.AsyncInviteAccepted:
		t = wire.TypeChMemberInfo
		if named && len(s.st.channels) < maxChannels {
			// accept_ch sends only [8 chid][32 uid] (commands.md §15.1 #11):
			// an acceptance makes the named user a member whatever its shape.
			info, err := wire.ParseChMemberInfo(d)
			if m.ID == wire.AsyncInviteAccepted || (err == nil && !info.Pending) {
				s.st.channels[ch] = struct{}{}
				s.syncChannels()
			}
		}
		forward = forward || named
	case wire.AsyncInvitedToCh:
		t = wire.TypeChMemberInfo
		forward = forward || named
	case wire.AsyncRmChMember, wire.AsyncMemLevelChanged:
		if named {
			s.closeSubChannels(ctx, true, openedChannel)
			if m.ID == wire.AsyncRmChMember {
				delete(s.st.channels, ch)
				s.syncChannels()
			}
		}
		forward = forward || named
	case wire.AsyncDelCh:
		t = wire.TypeChID
		forward = forward || hasChannel(&s.st.open, ch)
		s.closeSubChannels(ctx, true, openedChannel)
		delete(s.st.channels, ch)
		s.syncChannels()
		d = d[:8]
	case wire.AsyncRmSubCh, wire.AsyncSubChLevelChg, wire.AsyncAddRdonly, wire.AsyncRmRdonly:
		if hadSub {
			s.closeSubChannels(ctx, true, func(e wire.SubChannel) bool { return e == sub })
		}
		forward = forward || hadSub
	}
	if forward {
		s.sendAsync(m.ID, t, d)
	}
}

func hasChannel(l *wire.SubChannelList, ch uint64) bool {
	for _, e := range l.Entries() {
		if e.Channel == ch {
			return true
		}
	}
	return false
}

// teardown runs when the session ends: peers learn that links and presence
// are gone, running commands are killed, and the session leaves the bus.
func (s *Session) teardown() {
	s.closeAllP2P()
	if s.st.active && s.st.open.Len() > 0 {
		s.peerStat(s.st.open, wire.SubChannelList{}, true)
	}
	s.announcePresence(wire.SubChannelList{})
	s.st.ended = true
	for _, in := range s.st.instances {
		s.killInstance(in)
	}
	s.cfg.Bus.Leave(s.cfg.ID)
	if o, ok := s.cfg.Host.(Observer); ok {
		o.SessionPublished(s.cfg.ID, nil)
	}
	s.out.close()
}
