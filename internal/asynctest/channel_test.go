package asynctest

// Channel events 21..34 (routed to the channel's member sessions, the
// sessions with one of its sub-channels open and the user a member event
// names), and CH_ACT_FLAG. The channel commands live elsewhere; these tests
// drive the asyncs with the test module and set up memberships directly in
// the store before the users log in (sessions load them at login).

import (
	"context"
	"slices"
	"testing"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// chanEnv is a channel "chan" owned by alice with members bob and carol
// (level 4) and a pending invitation for dave, two sub-channels s and s2,
// and these sessions:
//
//	o  alice, nothing open
//	m  bob, s open
//	m2 carol, s open
//	x  anonymous, s open (an opener that is not a member)
//	u  dave (invited, not a member), nothing open
type chanEnv struct {
	*env
	ch                           uint64
	s, s2                        wire.SubChannel
	owner, member, member2, dave store.User
	o, m, m2, x, u               *peer
}

func newChanEnv(t *testing.T, active bool) *chanEnv {
	t.Helper()
	e := start(t, opts{inactive: !active})
	c := &chanEnv{env: e}
	c.owner, c.member, c.member2, c.dave = e.user("alice", 2), e.user("bob", 2), e.user("carol", 2), e.user("dave", 2)
	c.ch = e.channel("chan", c.owner, []store.User{c.member, c.member2}, c.dave)
	c.s = e.subChannel(c.ch, "sub", false)
	c.s2 = e.subChannel(c.ch, "sub2", false)
	c.o, c.m, c.m2, c.u = e.login("alice"), e.login("bob"), e.login("carol"), e.login("dave")
	c.x = e.dial("anon")
	for _, p := range []*peer{c.o, c.m, c.m2} {
		if got := p.snap().Channels; !slices.Equal(got, []uint64{c.ch}) {
			t.Fatalf("%s channels %v", p.name, got)
		}
	}
	if got := c.u.snap().Channels; len(got) != 0 {
		t.Fatalf("invitee loaded channels %v", got)
	}
	c.x.open(c.s)
	c.m.open(c.s)
	c.m2.open(c.s)
	e.settle(c.m, c.m2, c.x) // PEER_STATs of the opens when active
	c.quietAll()
	return c
}

func (c *chanEnv) quietAll() { c.quiet(c.o, c.m, c.m2, c.x, c.u) }

func memberInfo(ch uint64, u store.User, pending bool, chName string) []byte {
	m := wire.ChMemberInfo{ChannelID: ch, UserID: u.ID, Pending: pending, Level: 4, UserName: u.Name, DisplayName: u.DisplayName, ChannelName: chName}
	return m.Marshal()
}

func (c *chanEnv) refusals(id wire.AsyncID, valid []byte, minLen int) {
	c.t.Helper()
	c.o.wantRefused(wire.TypePubIPC, id, valid[:minLen-1], whyLength)
	c.o.wantRefused(wire.TypePrivIPC, id, valid, whyAudience)
	c.quietAll()
}

func (c *chanEnv) closed(p *peer, subs ...wire.SubChannel) {
	c.t.Helper()
	info := p.snap()
	for _, s := range subs {
		if info.Open.Contains(s) || info.Writable.Contains(s) {
			c.t.Fatalf("%s: %v still open: %+v", p.name, s, info.Open)
		}
	}
}

func (c *chanEnv) stillOpen(p *peer, s wire.SubChannel) {
	c.t.Helper()
	if info := p.snap(); !info.Open.Contains(s) {
		c.t.Fatalf("%s: %v closed: %+v", p.name, s, info.Open)
	}
}

func hasCh(info module.SessionInfo, ch uint64) bool { return slices.Contains(info.Channels, ch) }

func TestAsync21NewChMember(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	// add_ch (PUBF CH_MEMBER_INFO): members forward it; the named user's
	// sessions forward it and add the channel to their list.
	data := memberInfo(c.ch, c.dave, false, "chan")
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncNewChMember, data)
	for _, p := range []*peer{c.o, c.m, c.m2, c.u} {
		p.want(wire.TypeChMemberInfo, wire.AsyncNewChMember, data)
	}
	c.quietAll()
	if !hasCh(c.u.snap(), c.ch) {
		t.Fatal("the new member's session did not add the channel")
	}
	// Its session is now routed channel events.
	ren := cat(chBytes(c.ch), wire.AppendNullTerm(nil, "chan2"))
	c.o.emit(wire.TypePubIPC, wire.AsyncRenameCh, ren)
	c.u.want(wire.TypeBytes, wire.AsyncRenameCh, ren)

	// A pending record (an invitation) is forwarded but not added.
	e2 := newChanEnv(t, false)
	pend := memberInfo(e2.ch, e2.dave, true, "chan")
	e2.o.emit(wire.TypePubIPC, wire.AsyncNewChMember, pend)
	for _, p := range []*peer{e2.m, e2.m2, e2.u} {
		p.want(wire.TypeChMemberInfo, wire.AsyncNewChMember, pend)
	}
	e2.quietAll()
	if hasCh(e2.u.snap(), e2.ch) {
		t.Fatal("a pending member record added the channel")
	}
	e2.refusals(wire.AsyncNewChMember, pend, 40)
}

func TestAsync22DelCh(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	// rm_ch (PUBF [8 chid]): members and openers forward typed CH_ID (the
	// 8-byte id only) and lose the channel and its open sub-channels.
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncDelCh, cat(chBytes(c.ch), []byte("trailing")))
	for _, p := range []*peer{c.o, c.m, c.m2, c.x} {
		p.want(wire.TypeChID, wire.AsyncDelCh, chBytes(c.ch))
	}
	c.quietAll()
	for _, p := range []*peer{c.o, c.m, c.m2, c.x} {
		info := p.snap()
		if info.Open.Len() != 0 || hasCh(info, c.ch) {
			t.Fatalf("%s after DEL_CH: %+v", p.name, info)
		}
	}
	c.refusals(wire.AsyncDelCh, chBytes(c.ch), 8)
}

func TestAsync23RenameCh(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	// rename_ch (PUBF [8 chid][name\0\0]): members forward typed BYTES
	// under command id 23 (the document's 28 is a typo).
	data := cat(chBytes(c.ch), wire.AppendNullTerm(nil, "renamed"))
	c.m.emit(wire.TypePubIPCFeedback, wire.AsyncRenameCh, data)
	for _, p := range []*peer{c.o, c.m, c.m2} {
		p.want(wire.TypeBytes, wire.AsyncRenameCh, data)
	}
	c.quietAll()
	c.stillOpen(c.x, c.s)
	c.refusals(wire.AsyncRenameCh, data, 10)
}

func TestAsync24ChActFlag(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	c.m2.open(c.s2)
	for _, p := range []*peer{c.m, c.m2, c.x} {
		if p.snap().Active {
			t.Fatalf("%s active with no active-update flag", p.name)
		}
	}
	// set_active_flag (PUBF [8][1 sub]): the sessions with that
	// sub-channel open recompute their active flag; nothing is forwarded.
	sc, err := c.h.Store.SubChannelByID(context.Background(), c.ch, c.s2.Sub)
	if err != nil {
		t.Fatal(err)
	}
	sc.ActiveUpdates = true
	if err := c.h.Store.UpdateSubChannel(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncChActFlag, subBytes(c.s2))
	c.quietAll()
	if !c.m2.snap().Active {
		t.Fatal("the session with the sub-channel open did not become active")
	}
	for _, p := range []*peer{c.m, c.x, c.o} {
		if p.snap().Active {
			t.Fatalf("%s became active without the sub-channel open", p.name)
		}
	}
	c.refusals(wire.AsyncChActFlag, subBytes(c.s2), 9)
}

func TestAsync25NewSubCh(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	// add_sub_ch (PUBF [8][1 sub][1 level][1 active][name\0\0]): members
	// forward typed BYTES.
	data := cat(chBytes(c.ch), []byte{9, 4, 0}, wire.AppendNullTerm(nil, "newsub"))
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncNewSubCh, data)
	for _, p := range []*peer{c.o, c.m, c.m2} {
		p.want(wire.TypeBytes, wire.AsyncNewSubCh, data)
	}
	c.quietAll()
	c.refusals(wire.AsyncNewSubCh, data, 9)
}

// subChClosing checks the asyncs after which the sessions with the
// sub-channel open close it (RM_SUB_CH, SUB_CH_LEVEL_CHG, ADD_RDONLY,
// RM_RDONLY): they and the members forward typed BYTES.
func subChClosing(t *testing.T, id wire.AsyncID, extra []byte) {
	c := newChanEnv(t, false)
	c.m.open(c.s2)
	data := cat(subBytes(c.s), extra)
	c.o.emit(wire.TypePubIPCFeedback, id, data)
	for _, p := range []*peer{c.o, c.m, c.m2, c.x} {
		p.want(wire.TypeBytes, id, data)
	}
	c.quietAll()
	for _, p := range []*peer{c.m, c.m2, c.x} {
		c.closed(p, c.s)
	}
	c.stillOpen(c.m, c.s2)
	for _, p := range []*peer{c.o, c.m, c.m2} {
		if !hasCh(p.snap(), c.ch) {
			t.Fatalf("%s lost the channel", p.name)
		}
	}
	// Another sub-channel: its opener closes it, the members are told, the
	// non-member (whose s is gone) is not.
	c.o.emit(wire.TypePubIPC, id, cat(subBytes(c.s2), extra))
	for _, p := range []*peer{c.m, c.m2} {
		p.want(wire.TypeBytes, id, cat(subBytes(c.s2), extra))
	}
	c.quietAll()
	c.closed(c.m, c.s2)
	c.refusals(id, data, 9)
}

func TestAsync26RmSubCh(t *testing.T) {
	t.Parallel()
	t.Run("forward", func(t *testing.T) {
		t.Parallel()
		subChClosing(t, wire.AsyncRmSubCh, nil)
	})
	t.Run("peer_stat", func(t *testing.T) {
		t.Parallel()
		// Our choice (commands.md §15.1 #12 says the original does not):
		// an active session closing the sub-channel tells its peers with
		// PEER_STAT, routed by its previous list.
		c := newChanEnv(t, true)
		c.m.open(c.s2)
		c.m2.open(c.s2)
		c.settle(c.m, c.m2, c.x)
		c.o.emit(wire.TypePubIPC, wire.AsyncRmSubCh, subBytes(c.s))
		for _, p := range []*peer{c.m, c.m2} {
			p.want(wire.TypeBytes, wire.AsyncRmSubCh, subBytes(c.s))
		}
		c.x.want(wire.TypeBytes, wire.AsyncRmSubCh, subBytes(c.s))
		var now wire.SubChannelList // s was in slot 0, s2 in slot 1
		now[1] = c.s2
		c.m.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(c.m2.sid(), now, false))
		c.m2.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(c.m.sid(), now, false))
		c.quietAll()
	})
}

func TestAsync27RenameSubCh(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	// rename_sub_ch (PUBF [8][1 sub][name\0\0]): members forward BYTES.
	data := cat(subBytes(c.s), wire.AppendNullTerm(nil, "renamed"))
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncRenameSubCh, data)
	for _, p := range []*peer{c.o, c.m, c.m2} {
		p.want(wire.TypeBytes, wire.AsyncRenameSubCh, data)
	}
	c.quietAll()
	c.stillOpen(c.m, c.s)
	c.refusals(wire.AsyncRenameSubCh, data, 9)
}

func TestAsync28InvitedToCh(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, false)
	// invite_to_ch (PUBF CH_MEMBER_INFO, pending): members and the
	// invitee's sessions forward it; the invitee does not join.
	data := memberInfo(c.ch, c.dave, true, "chan")
	c.m.emit(wire.TypePubIPCFeedback, wire.AsyncInvitedToCh, data)
	for _, p := range []*peer{c.o, c.m, c.m2, c.u} {
		p.want(wire.TypeChMemberInfo, wire.AsyncInvitedToCh, data)
	}
	c.quietAll()
	if hasCh(c.u.snap(), c.ch) {
		t.Fatal("the invitee joined the channel")
	}
	c.refusals(wire.AsyncInvitedToCh, data, 40)
}

func TestAsync29RmChMember(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, true)
	// remove_ch_member / decline_ch (PUBF [8 chid][32 uid]): the removed
	// user's sessions close the channel's sub-channels (PEER_STAT to active
	// peers), drop the channel and forward BYTES; members forward BYTES.
	data := cat(chBytes(c.ch), c.member.ID[:])
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncRmChMember, data)
	c.m.want(wire.TypeBytes, wire.AsyncRmChMember, data)
	c.o.want(wire.TypeBytes, wire.AsyncRmChMember, data)
	c.m2.want(wire.TypeBytes, wire.AsyncRmChMember, data)
	c.m2.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(c.m.sid(), wire.SubChannelList{}, false))
	c.x.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(c.m.sid(), wire.SubChannelList{}, false))
	c.quietAll()
	if info := c.m.snap(); hasCh(info, c.ch) || info.Open.Len() != 0 {
		t.Fatalf("removed member: %+v", info)
	}
	// The removed user no longer receives the channel's events.
	ren := cat(chBytes(c.ch), wire.AppendNullTerm(nil, "chan2"))
	c.o.emit(wire.TypePubIPC, wire.AsyncRenameCh, ren)
	c.m2.want(wire.TypeBytes, wire.AsyncRenameCh, ren)
	c.quietAll()

	// A declined invitation: the invitee's sessions are told too.
	decl := cat(chBytes(c.ch), c.dave.ID[:])
	c.u.emit(wire.TypePubIPCFeedback, wire.AsyncRmChMember, decl)
	for _, p := range []*peer{c.u, c.o, c.m2} {
		p.want(wire.TypeBytes, wire.AsyncRmChMember, decl)
	}
	c.quietAll()
	c.refusals(wire.AsyncRmChMember, data, 40)
}

func TestAsync30InviteAccepted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data func(c *chanEnv) []byte
	}{
		// What accept_ch sends (commands.md): [8 chid][32 uid].
		{"short", func(c *chanEnv) []byte { return cat(chBytes(c.ch), c.dave.ID[:]) }},
		// What the seed document says: a CH_MEMBER_INFO.
		{"member_info", func(c *chanEnv) []byte { return memberInfo(c.ch, c.dave, false, "chan") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newChanEnv(t, false)
			data := tc.data(c)
			// accept_ch (PUBF): the accepter's sessions add the channel and
			// forward typed CH_MEMBER_INFO; members forward.
			c.u.emit(wire.TypePubIPCFeedback, wire.AsyncInviteAccepted, data)
			for _, p := range []*peer{c.u, c.o, c.m, c.m2} {
				p.want(wire.TypeChMemberInfo, wire.AsyncInviteAccepted, data)
			}
			c.quietAll()
			if !hasCh(c.u.snap(), c.ch) {
				t.Fatal("the accepter's session did not add the channel")
			}
			ren := cat(chBytes(c.ch), wire.AppendNullTerm(nil, "chan2"))
			c.o.emit(wire.TypePubIPC, wire.AsyncRenameCh, ren)
			for _, p := range []*peer{c.u, c.m, c.m2} {
				p.want(wire.TypeBytes, wire.AsyncRenameCh, ren)
			}
			c.quietAll()
			c.refusals(wire.AsyncInviteAccepted, data, 40)
		})
	}
}

func TestAsync31MemLevelChanged(t *testing.T) {
	t.Parallel()
	c := newChanEnv(t, true)
	c.m.open(c.s2)
	c.settle(c.m, c.m2, c.x)
	// set_member_level (PUBF [8 chid][32 uid][1 level]): the target's
	// sessions close every open sub-channel of the channel (PEER_STAT) and
	// forward BYTES; members forward BYTES. The channel stays.
	data := cat(chBytes(c.ch), c.member.ID[:], []byte{3})
	c.o.emit(wire.TypePubIPCFeedback, wire.AsyncMemLevelChanged, data)
	c.m.want(wire.TypeBytes, wire.AsyncMemLevelChanged, data)
	c.o.want(wire.TypeBytes, wire.AsyncMemLevelChanged, data)
	c.m2.want(wire.TypeBytes, wire.AsyncMemLevelChanged, data)
	c.m2.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(c.m.sid(), wire.SubChannelList{}, false))
	c.x.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(c.m.sid(), wire.SubChannelList{}, false))
	c.quietAll()
	info := c.m.snap()
	if info.Open.Len() != 0 || !hasCh(info, c.ch) {
		t.Fatalf("target after MEM_LEVEL_CHANGED: %+v", info)
	}
	c.stillOpen(c.m2, c.s)
	c.refusals(wire.AsyncMemLevelChanged, data, 41)
}

func TestAsync32SubChLevelChg(t *testing.T) {
	t.Parallel()
	subChClosing(t, wire.AsyncSubChLevelChg, []byte{3})
}

func TestAsync33AddRdonly(t *testing.T) {
	t.Parallel()
	subChClosing(t, wire.AsyncAddRdonly, []byte{4})
}

func TestAsync34RmRdonly(t *testing.T) {
	t.Parallel()
	subChClosing(t, wire.AsyncRmRdonly, []byte{4})
}
