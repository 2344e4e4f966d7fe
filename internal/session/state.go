package session

import (
	"context"
	"maps"
	"slices"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// maxP2P is the capacity of each peer-to-peer set (commands.md §9).
const maxP2P = 100

// maxChannels is the capacity of the session's channel list (host.md §6.7).
const maxChannels = 200

// state is everything the loop owns.
type state struct {
	user       *store.User // nil while nobody is logged in
	registered string      // user.Created formatted for my_info
	override   bool        // channel owner override
	open       wire.SubChannelList
	writable   wire.SubChannelList
	active     bool
	announced  wire.SubChannelList // presence last reported (announcePresence)
	ended      bool                // teardown ran: nothing is announced any more
	channels   map[uint64]struct{}
	p2pIn      map[wire.SessionID]struct{} // requests received
	p2pOut     map[wire.SessionID]struct{} // requests sent
	p2pOpen    map[wire.SessionID]struct{} // accepted links
	dir        string

	cmds      []cmdRef // by id - wire.FirstCommandID; the zero cmdRef is a free id
	instances map[uint32]*instance
	// applying is the instance whose async is being applied inline (a
	// command's own PRIV_IPC / PUB_IPC_WITH_FEEDBACK), nil otherwise.
	applying *instance
}

func (st *state) init(cfg Config) {
	st.channels = make(map[uint64]struct{})
	st.p2pIn = make(map[wire.SessionID]struct{})
	st.p2pOut = make(map[wire.SessionID]struct{})
	st.p2pOpen = make(map[wire.SessionID]struct{})
	st.dir = cfg.Dir
	st.instances = make(map[uint32]*instance)
}

// cmd returns the command loaded under id.
func (st *state) cmd(id uint16) (cmdRef, bool) {
	i := int(id) - wire.FirstCommandID
	if i < 0 || i >= len(st.cmds) || st.cmds[i] == (cmdRef{}) {
		return cmdRef{}, false
	}
	return st.cmds[i], true
}

// setCmd loads ref under id, or frees id when ref is the zero cmdRef.
func (st *state) setCmd(id uint16, ref cmdRef) {
	i := int(id) - wire.FirstCommandID
	if i >= len(st.cmds) {
		st.cmds = append(st.cmds, make([]cmdRef, i+1-len(st.cmds))...)
	}
	st.cmds[i] = ref
	for len(st.cmds) > 0 && st.cmds[len(st.cmds)-1] == (cmdRef{}) {
		st.cmds = st.cmds[:len(st.cmds)-1]
	}
}

func sortedIDs(m map[wire.SessionID]struct{}) []wire.SessionID {
	if len(m) == 0 {
		return nil
	}
	ids := slices.Collect(maps.Keys(m))
	slices.SortFunc(ids, func(a, b wire.SessionID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

// publish stores a fresh snapshot of the state for commands and modules.
func (s *Session) publish() {
	st := &s.st
	info := &module.SessionInfo{
		SessionID:     s.cfg.ID,
		IP:            s.cfg.IP,
		AppName:       s.cfg.AppName,
		OwnerOverride: st.override,
		Active:        st.active,
		Open:          st.open,
		Writable:      st.writable,
		Dir:           st.dir,
		P2PAccepted:   sortedIDs(st.p2pOpen),
		P2PPendingIn:  sortedIDs(st.p2pIn),
		P2PPendingOut: sortedIDs(st.p2pOut),
	}
	if u := st.user; u != nil {
		info.LoggedIn = true
		info.UserID = u.ID
		info.UserName = u.Name
		info.DisplayName = u.DisplayName
		info.Email = u.Email
		info.EmailVerified = u.EmailVerified
		info.Rank = u.Rank
		info.Registered = st.registered
		if len(st.channels) > 0 {
			info.Channels = slices.Sorted(maps.Keys(st.channels))
		}
	}
	s.info.Store(info)
	if o, ok := s.cfg.Host.(Observer); ok {
		o.SessionPublished(s.cfg.ID, info)
	}
	s.announcePresence(s.presentList())
}

// PresenceObserver is implemented by hosts that tell other nodes which
// sessions are present in sub-channels (cluster mode: active with
// sub-channels open, so their end sends PEER_STAT). SessionPresence is
// called on the session's loop whenever that changes, with the open list
// or, when the session is not present any more, an empty list; a change
// that comes with a PEER_STAT is reported before the PEER_STAT is sent.
type PresenceObserver interface {
	SessionPresence(id wire.SessionID, open wire.SubChannelList)
}

// presentList is the open list if the session is present (its end would
// send PEER_STAT), else the empty list.
func (s *Session) presentList() wire.SubChannelList {
	if s.st.active && s.st.open.Len() > 0 {
		return s.st.open
	}
	return wire.SubChannelList{}
}

// announcePresence reports a change of the session's presence to the host.
func (s *Session) announcePresence(open wire.SubChannelList) {
	if open == s.st.announced || (s.st.ended && open.Len() > 0) {
		return
	}
	s.st.announced = open
	if o, ok := s.cfg.Host.(PresenceObserver); ok {
		o.SessionPresence(s.cfg.ID, open)
	}
}

// Observer is implemented by hosts that mirror session state outside the
// session (the module session data of docs/modules.md). SessionPublished
// is called on the session's loop with every snapshot the session
// publishes, and with nil once the session has ended.
type Observer interface {
	SessionPublished(id wire.SessionID, info *module.SessionInfo)
}

func (s *Session) peerInfo() wire.PeerInfo {
	p := wire.PeerInfo{SessionID: s.cfg.ID, AppName: s.cfg.AppName}
	if u := s.st.user; u != nil {
		p.UserID, p.UserName, p.DisplayName = u.ID, u.Name, u.DisplayName
	}
	return p
}

// sendMyInfo sends MY_INFO on ASYNC_SYS_MSG.
func (s *Session) sendMyInfo() {
	u := s.st.user
	if u == nil {
		return
	}
	m := wire.MyInfo{Peer: s.peerInfo(), Email: u.Email, Rank: u.Rank, EmailVerified: u.EmailVerified}
	s.sendAsync(wire.AsyncSysMsg, wire.TypeMyInfo, m.Marshal())
}

// login makes the session logged in as the user (logging out first).
func (s *Session) login(ctx context.Context, id wire.UserID) {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	u, err := s.cfg.Store.UserByID(ctx, id)
	if err != nil {
		s.log.Error("login: load user", "err", err)
		s.sysErr("login failed: the account could not be loaded")
		return
	}
	if s.st.user != nil {
		s.logout(ctx, false)
	}
	s.st.user = &u
	s.log.Info("login", "user", u.Name, "ip", s.cfg.IP)
	s.st.registered = u.Created.UTC().Format("2006-01-02 15:04:05")
	s.cfg.Bus.SetUser(s.cfg.ID, u.ID)
	s.loadChannels(ctx)
	s.publish()
	s.sendMyInfo()
	s.reloadCommands(ctx)
}

// loadChannels fills the channel list from the accepted memberships.
func (s *Session) loadChannels(ctx context.Context) {
	clear(s.st.channels)
	if s.st.user != nil {
		ms, err := s.cfg.Store.MembershipsOf(ctx, s.st.user.ID)
		if err != nil {
			s.log.Error("load channels", "err", err)
		}
		for _, m := range ms {
			if !m.Pending && len(s.st.channels) < maxChannels {
				s.st.channels[m.ChannelID] = struct{}{}
			}
		}
	}
	s.syncChannels()
}

func (s *Session) syncChannels() {
	s.cfg.Bus.SetChannels(s.cfg.ID, slices.Collect(maps.Keys(s.st.channels)))
}

// logout clears the identity: peers are told (CLOSE_P2P, PEER_STAT), open
// sub-channels close, and unless reload is false the command set is
// rebuilt for an anonymous session.
func (s *Session) logout(ctx context.Context, reload bool) {
	if s.st.user == nil {
		return
	}
	s.log.Info("logout", "user", s.st.user.Name, "ip", s.cfg.IP)
	s.closeAllP2P()
	if s.st.active && s.st.open.Len() > 0 {
		s.peerStat(s.st.open, wire.SubChannelList{}, true)
	}
	s.st.open, s.st.writable = wire.SubChannelList{}, wire.SubChannelList{}
	s.st.active = false
	s.st.override = false
	s.st.user = nil
	clear(s.st.channels)
	s.cfg.Bus.SetOpen(s.cfg.ID, s.st.open)
	s.syncChannels()
	s.cfg.Bus.SetUser(s.cfg.ID, wire.UserID{})
	s.publish()
	if reload {
		s.reloadCommands(ctx)
	}
}

// closeAllP2P tells every peer the links with this session are gone.
func (s *Session) closeAllP2P() {
	peers := make(map[wire.SessionID]struct{})
	for _, set := range []map[wire.SessionID]struct{}{s.st.p2pIn, s.st.p2pOut, s.st.p2pOpen} {
		for id := range set {
			peers[id] = struct{}{}
		}
		clear(set)
	}
	data := append([]byte(nil), s.cfg.ID[:]...)
	for id := range peers {
		s.cfg.Bus.SendTo(id, &bus.Message{ID: wire.AsyncCloseP2P, Data: data, From: s.cfg.ID})
	}
}

// peerStat sends PEER_STAT to active peers sharing a sub-channel of route.
// The presence the PEER_STAT announces is reported to the host first, so
// that other nodes learn it no later than the peers (cluster mode).
func (s *Session) peerStat(route, now wire.SubChannelList, disconnected bool) {
	if disconnected {
		s.announcePresence(wire.SubChannelList{})
	} else {
		s.announcePresence(s.presentList())
	}
	ps := wire.PeerStat{SessionID: s.cfg.ID, Open: now, Disconnected: disconnected}
	s.limitedCast(route, wire.TypePeerStat, ps.Marshal())
}

// limitedCast publishes ASYNC_LIMITED_CAST routed by list.
func (s *Session) limitedCast(list wire.SubChannelList, t wire.TypeID, payload []byte) {
	if list.Len() == 0 {
		return
	}
	data := list.Append(make([]byte, 0, wire.SubChannelListLen+1+len(payload)))
	data = append(data, byte(t))
	data = append(data, payload...)
	s.cfg.Bus.Publish(&bus.Message{ID: wire.AsyncLimitedCast, Data: data, From: s.cfg.ID}, false)
}

// recomputeActive updates the active flag from the global setting and the
// open sub-channels' flags.
func (s *Session) recomputeActive(ctx context.Context) {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	s.st.active = false
	if s.st.open.Len() == 0 {
		return
	}
	set, err := s.cfg.Host.Settings(ctx)
	if err == nil && set.ActiveUpdates {
		s.st.active = true
		return
	}
	for _, e := range s.st.open.Entries() {
		sc, err := s.cfg.Store.SubChannelByID(ctx, e.Channel, e.Sub)
		if err == nil && sc.ActiveUpdates {
			s.st.active = true
			return
		}
	}
}

// effectiveLevel is the session's level in a channel (host.md §6.2).
func (s *Session) effectiveLevel(ctx context.Context, ch uint64) uint8 {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	if s.st.override {
		return 1
	}
	if s.st.user == nil {
		return 5
	}
	m, err := s.cfg.Store.Member(ctx, ch, s.st.user.ID)
	if err != nil || m.Pending {
		return 5
	}
	return m.Level
}

// openSubChannel adds a sub-channel to the open list (and to the writable
// list unless a read-only flag matches the session's level).
func (s *Session) openSubChannel(ctx context.Context, sc wire.SubChannel) {
	if s.st.open.Contains(sc) {
		s.sysErr("the sub-channel is already open")
		return
	}
	if s.st.open.Len() >= wire.MaxOpenSubChannels {
		s.sysErr("cannot open more than 6 sub-channels at once; close one first")
		return
	}
	s.st.open.Add(sc)
	if !s.readOnly(ctx, sc, s.effectiveLevel(ctx, sc.Channel)) {
		s.st.writable.Add(sc)
	}
	s.cfg.Bus.SetOpen(s.cfg.ID, s.st.open)
	s.recomputeActive(ctx)
	if s.st.active {
		s.peerStat(s.st.open, s.st.open, false)
	}
}

// readOnly reports whether a read-only flag marks the sub-channel for level.
// It fails closed: when the flags cannot be read, the sub-channel is
// treated as read-only (issue 8), so a database error never lets a
// session write where a flag forbids it.
func (s *Session) readOnly(ctx context.Context, sc wire.SubChannel, level uint8) bool {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	flags, err := s.cfg.Store.ReadOnlyFlags(ctx, sc.Channel)
	if err != nil {
		s.log.Error("read-only flags unavailable; sub-channel treated as read-only",
			"channel", sc.Channel, "sub", sc.Sub, "err", err)
		return true
	}
	for _, f := range flags {
		if f.SubID == sc.Sub && f.Level == level {
			return true
		}
	}
	return false
}

// recheckAccess applies a change of the session's levels (the owner
// override flag) to its open sub-channels: those it may no longer open are
// closed (with PEER_STAT), and the writable list follows the read-only flags
// of its new levels.
func (s *Session) recheckAccess(ctx context.Context) {
	ctx, cancel := s.ioContext(ctx)
	defer cancel()
	var lost []wire.SubChannel
	for _, e := range s.st.open.Entries() {
		level := s.effectiveLevel(ctx, e.Channel)
		sub, err := s.cfg.Store.SubChannelByID(ctx, e.Channel, e.Sub)
		if err != nil || level > sub.LowestLevel {
			lost = append(lost, e)
			continue
		}
		if s.readOnly(ctx, e, level) {
			s.st.writable.Remove(e)
		} else {
			s.st.writable.Add(e)
		}
	}
	s.closeSubChannels(ctx, true, func(e wire.SubChannel) bool { return slices.Contains(lost, e) })
}

// closeSubChannels removes the given entries; with notify, active peers
// get a PEER_STAT routed by the previous list.
func (s *Session) closeSubChannels(ctx context.Context, notify bool, match func(wire.SubChannel) bool) {
	prev := s.st.open
	changed := false
	for _, e := range prev.Entries() {
		if match(e) {
			s.st.open.Remove(e)
			s.st.writable.Remove(e)
			changed = true
		}
	}
	if !changed {
		return
	}
	s.cfg.Bus.SetOpen(s.cfg.ID, s.st.open)
	wasActive := s.st.active
	s.recomputeActive(ctx)
	if notify && wasActive {
		s.peerStat(prev, s.st.open, false)
	}
}

func (s *Session) sysErr(msg string) {
	s.sendAsync(wire.AsyncSysMsg, wire.TypeErr, wire.EncodeText("err: "+msg+"\n"))
}
