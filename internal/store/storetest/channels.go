package storetest

import (
	"fmt"
	"testing"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

func testChannels(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	c1 := mustChannel(t, s, "Lobby", a.ID)
	eq(t, c1, store.Channel{ID: 1, Name: "Lobby"}, "first channel")
	c2 := mustChannel(t, s, "games", b.ID)
	eq(t, c2, store.Channel{ID: 2, Name: "games"}, "second channel")

	_, err := s.CreateChannel(ctx(t), "LOBBY", b.ID)
	is(t, err, store.ErrNameTaken, "duplicate name")

	got, err := s.ChannelByName(ctx(t), "lobby")
	ok(t, err, "by name")
	eq(t, got, c1, "by name (case-insensitive)")
	got, err = s.ChannelByID(ctx(t), 2)
	ok(t, err, "by id")
	eq(t, got, c2, "by id")
	_, err = s.ChannelByID(ctx(t), 3)
	is(t, err, store.ErrNotFound, "unknown id")
	_, err = s.ChannelByID(ctx(t), 0)
	is(t, err, store.ErrNotFound, "id 0")
	_, err = s.ChannelByID(ctx(t), ^uint64(0))
	is(t, err, store.ErrNotFound, "id max")
	_, err = s.ChannelByName(ctx(t), "lob")
	is(t, err, store.ErrNotFound, "unknown name")

	// The owner row is created with the channel.
	m, err := s.Member(ctx(t), c1.ID, a.ID)
	ok(t, err, "owner member")
	eq(t, m, store.Member{ChannelID: 1, UserID: a.ID, UserName: "alice", DisplayName: "Disp alice", Level: 1}, "owner row")
	ms, err := s.Members(ctx(t), c1.ID)
	ok(t, err, "members")
	eq(t, len(ms), 1, "members of new channel")

	owns, err := s.OwnsChannels(ctx(t), a.ID)
	ok(t, err, "owns")
	eq(t, owns, true, "alice owns")
	owns, err = s.OwnsChannels(ctx(t), uid(9))
	ok(t, err, "owns")
	eq(t, owns, false, "stranger owns")
	// A non-owner member does not own.
	c := mustUser(t, s, 3, "carol", "")
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: c1.ID, UserID: c.ID, Level: 2}), "add carol")
	owns, err = s.OwnsChannels(ctx(t), c.ID)
	ok(t, err, "owns")
	eq(t, owns, false, "admin owns")

	// Rename.
	ok(t, s.RenameChannel(ctx(t), c1.ID, "Hall"), "rename")
	got, err = s.ChannelByID(ctx(t), c1.ID)
	ok(t, err, "by id")
	eq(t, got, store.Channel{ID: 1, Name: "Hall"}, "renamed")
	_, err = s.ChannelByName(ctx(t), "lobby")
	is(t, err, store.ErrNotFound, "old name")
	ok(t, s.RenameChannel(ctx(t), c1.ID, "HALL"), "case-only rename")
	is(t, s.RenameChannel(ctx(t), c1.ID, "Games"), store.ErrNameTaken, "rename to taken")
	is(t, s.RenameChannel(ctx(t), 77, "free"), store.ErrNotFound, "rename unknown")

	// Delete.
	ok(t, s.DeleteChannel(ctx(t), c2.ID), "delete")
	is(t, s.DeleteChannel(ctx(t), c2.ID), store.ErrNotFound, "delete again")
	_, err = s.ChannelByName(ctx(t), "games")
	is(t, err, store.ErrNotFound, "deleted channel")
	owns, err = s.OwnsChannels(ctx(t), b.ID)
	ok(t, err, "owns")
	eq(t, owns, false, "bob after delete")

	// An unknown owner fails the whole creation (the channel row too).
	_, err = s.CreateChannel(ctx(t), "orphan", uid(99))
	if err == nil {
		t.Fatal("channel with unknown owner created")
	}
	_, err = s.ChannelByName(ctx(t), "orphan")
	is(t, err, store.ErrNotFound, "channel of failed creation")
}

func testChannelIDsNeverReused(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	var last store.Channel
	for i := 1; i <= 3; i++ {
		last = mustChannel(t, s, fmt.Sprintf("chan%d", i), a.ID)
		eq(t, last.ID, uint64(i), "channel id %d", i)
	}
	ok(t, s.DeleteChannel(ctx(t), last.ID), "delete highest")
	c := mustChannel(t, s, "chan4", a.ID)
	eq(t, c.ID, uint64(4), "id after deleting the highest")
	ok(t, s.DeleteChannel(ctx(t), 1), "delete first")
	c = mustChannel(t, s, "chan1", a.ID)
	eq(t, c.ID, uint64(5), "id after deleting the first")
}

func testChannelCascade(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	c1 := mustChannel(t, s, "doomed", a.ID)
	c2 := mustChannel(t, s, "kept", a.ID)
	for _, ch := range []store.Channel{c1, c2} {
		ok(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: b.ID, Pending: true, Level: 4}), "invite")
		_, err := s.CreateSubChannel(ctx(t), ch.ID, "main", 50)
		ok(t, err, "sub")
		ok(t, s.AddReadOnlyFlag(ctx(t), store.ReadOnlyFlag{ChannelID: ch.ID, SubID: 0, Level: 4}), "flag")
		ok(t, s.AddReadOnlyFlag(ctx(t), store.ReadOnlyFlag{ChannelID: ch.ID, SubID: 9, Level: 5}), "flag")
	}
	ok(t, s.DeleteChannel(ctx(t), c1.ID), "delete")

	ms, err := s.Members(ctx(t), c1.ID)
	ok(t, err, "members")
	eq(t, len(ms), 0, "members of deleted channel")
	subs, err := s.SubChannels(ctx(t), c1.ID)
	ok(t, err, "subs")
	eq(t, len(subs), 0, "sub-channels of deleted channel")
	flags, err := s.ReadOnlyFlags(ctx(t), c1.ID)
	ok(t, err, "flags")
	eq(t, len(flags), 0, "flags of deleted channel")
	mine, err := s.MembershipsOf(ctx(t), b.ID)
	ok(t, err, "memberships")
	eq(t, len(mine), 1, "bob's memberships")
	eq(t, mine[0].ChannelID, c2.ID, "bob's remaining channel")

	// The other channel is untouched.
	ms, err = s.Members(ctx(t), c2.ID)
	ok(t, err, "members")
	eq(t, len(ms), 2, "members of kept channel")
	subs, err = s.SubChannels(ctx(t), c2.ID)
	ok(t, err, "subs")
	eq(t, len(subs), 1, "subs of kept channel")
	flags, err = s.ReadOnlyFlags(ctx(t), c2.ID)
	ok(t, err, "flags")
	eq(t, len(flags), 2, "flags of kept channel")

	// A new channel does not inherit the deleted one's rows.
	c3 := mustChannel(t, s, "doomed", b.ID)
	flags, err = s.ReadOnlyFlags(ctx(t), c3.ID)
	ok(t, err, "flags")
	eq(t, len(flags), 0, "flags of recreated channel")
}

func testMembers(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	c := mustUser(t, s, 3, "carol", "")
	ok(t, s.UpdateUser(ctx(t), c.ID, store.UserUpdate{DisplayName: ptr("")}), "clear carol display name")
	ch := mustChannel(t, s, "room", a.ID)
	other := mustChannel(t, s, "other", b.ID)

	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: b.ID, Pending: true, Level: 4}), "invite bob")
	is(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: b.ID, Level: 3}), store.ErrExists, "duplicate")
	is(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: a.ID, Level: 3}), store.ErrExists, "owner again")
	is(t, s.AddMember(ctx(t), store.Member{ChannelID: 99, UserID: b.ID, Level: 4}), store.ErrNotFound, "unknown channel")
	is(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: uid(99), Level: 4}), store.ErrNotFound, "unknown user")
	// UserName and DisplayName are ignored on writes.
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: c.ID, Level: 3, UserName: "ignored", DisplayName: "ignored"}), "add carol")

	m, err := s.Member(ctx(t), ch.ID, b.ID)
	ok(t, err, "member bob")
	eq(t, m, store.Member{ChannelID: ch.ID, UserID: b.ID, UserName: "bob", DisplayName: "Disp bob", Pending: true, Level: 4}, "bob")
	_, err = s.Member(ctx(t), ch.ID, uid(99))
	is(t, err, store.ErrNotFound, "unknown member")
	_, err = s.Member(ctx(t), other.ID, c.ID)
	is(t, err, store.ErrNotFound, "member of other channel")

	ms, err := s.Members(ctx(t), ch.ID)
	ok(t, err, "members")
	eq(t, ms, []store.Member{
		{ChannelID: ch.ID, UserID: a.ID, UserName: "alice", DisplayName: "Disp alice", Level: 1},
		{ChannelID: ch.ID, UserID: b.ID, UserName: "bob", DisplayName: "Disp bob", Pending: true, Level: 4},
		{ChannelID: ch.ID, UserID: c.ID, UserName: "carol", DisplayName: "", Level: 3},
	}, "members")
	ms, err = s.Members(ctx(t), 99)
	ok(t, err, "members of unknown channel")
	eq(t, len(ms), 0, "members of unknown channel")

	mine, err := s.MembershipsOf(ctx(t), b.ID)
	ok(t, err, "memberships")
	eq(t, mine, []store.Member{
		{ChannelID: other.ID, UserID: b.ID, UserName: "bob", DisplayName: "Disp bob", Level: 1},
		{ChannelID: ch.ID, UserID: b.ID, UserName: "bob", DisplayName: "Disp bob", Pending: true, Level: 4},
	}, "bob's memberships (pending included)")

	ok(t, s.UpdateMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: b.ID, Pending: false, Level: 2}), "accept + promote")
	m, err = s.Member(ctx(t), ch.ID, b.ID)
	ok(t, err, "member bob")
	eq(t, m.Pending, false, "pending after accept")
	eq(t, m.Level, uint8(2), "level after promote")
	is(t, s.UpdateMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: uid(99), Level: 2}), store.ErrNotFound, "update unknown")
	is(t, s.UpdateMember(ctx(t), store.Member{ChannelID: other.ID, UserID: c.ID, Level: 2}), store.ErrNotFound, "update non-member")

	ok(t, s.RemoveMember(ctx(t), ch.ID, b.ID), "remove bob")
	is(t, s.RemoveMember(ctx(t), ch.ID, b.ID), store.ErrNotFound, "remove bob again")
	_, err = s.Member(ctx(t), ch.ID, b.ID)
	is(t, err, store.ErrNotFound, "removed member")
	_, err = s.Member(ctx(t), other.ID, b.ID)
	ok(t, err, "bob still owns other")
}

func testDeleteUserCascades(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	ch := mustChannel(t, s, "room", a.ID)
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: b.ID, Level: 4}), "add bob")
	ok(t, s.DeleteUser(ctx(t), b.ID), "delete bob")
	ms, err := s.Members(ctx(t), ch.ID)
	ok(t, err, "members")
	eq(t, len(ms), 1, "members after deleting bob")
	eq(t, ms[0].UserID, a.ID, "remaining member")
	mine, err := s.MembershipsOf(ctx(t), b.ID)
	ok(t, err, "memberships")
	eq(t, len(mine), 0, "memberships of deleted user")
	// The user id can be reused without colliding with stale rows.
	mustUser(t, s, 2, "bob", "")
	_, err = s.Member(ctx(t), ch.ID, b.ID)
	is(t, err, store.ErrNotFound, "recreated bob is no member")
}

func testTransferOwnership(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	b := mustUser(t, s, 2, "bob", "")
	c := mustUser(t, s, 3, "carol", "")
	mustUser(t, s, 4, "dave", "")
	ch := mustChannel(t, s, "room", a.ID)
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: b.ID, Level: 4}), "add bob")
	ok(t, s.AddMember(ctx(t), store.Member{ChannelID: ch.ID, UserID: c.ID, Pending: true, Level: 4}), "invite carol")

	prev, err := s.TransferOwnership(ctx(t), ch.ID, b.ID)
	ok(t, err, "transfer")
	eq(t, prev, a.ID, "previous owner")
	level := func(u wire.UserID) uint8 {
		t.Helper()
		m, err := s.Member(ctx(t), ch.ID, u)
		ok(t, err, "member")
		return m.Level
	}
	eq(t, level(a.ID), uint8(2), "old owner level")
	eq(t, level(b.ID), uint8(1), "new owner level")
	owns, err := s.OwnsChannels(ctx(t), a.ID)
	ok(t, err, "owns")
	eq(t, owns, false, "old owner owns")
	owns, err = s.OwnsChannels(ctx(t), b.ID)
	ok(t, err, "owns")
	eq(t, owns, true, "new owner owns")

	// Transferring to the current owner changes nothing.
	prev, err = s.TransferOwnership(ctx(t), ch.ID, b.ID)
	ok(t, err, "transfer to owner")
	eq(t, prev, b.ID, "previous owner when unchanged")
	eq(t, level(a.ID), uint8(2), "alice unchanged")
	eq(t, level(b.ID), uint8(1), "bob unchanged")

	_, err = s.TransferOwnership(ctx(t), ch.ID, uid(4))
	is(t, err, store.ErrNotFound, "transfer to non-member")
	_, err = s.TransferOwnership(ctx(t), ch.ID, c.ID)
	is(t, err, store.ErrNotFound, "transfer to pending invitee")
	_, err = s.TransferOwnership(ctx(t), 99, a.ID)
	is(t, err, store.ErrNotFound, "transfer in unknown channel")
	eq(t, level(b.ID), uint8(1), "owner after failed transfers")
	eq(t, level(c.ID), uint8(4), "carol after failed transfer")

	prev, err = s.TransferOwnership(ctx(t), ch.ID, a.ID)
	ok(t, err, "transfer back")
	eq(t, prev, b.ID, "previous owner")
	eq(t, level(a.ID), uint8(1), "alice owner again")
	eq(t, level(b.ID), uint8(2), "bob admin")
}

func testSubChannels(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	ch := mustChannel(t, s, "room", a.ID)
	other := mustChannel(t, s, "other", a.ID)
	create := func(c uint64, name string) store.SubChannel {
		t.Helper()
		sc, err := s.CreateSubChannel(ctx(t), c, name, 50)
		ok(t, err, "create sub %s", name)
		return sc
	}
	s0 := create(ch.ID, "General")
	eq(t, s0, store.SubChannel{ChannelID: ch.ID, ID: 0, Name: "General", LowestLevel: 4}, "first sub-channel")
	s1 := create(ch.ID, "news")
	eq(t, s1.ID, uint8(1), "second id")
	s2 := create(ch.ID, "misc")
	eq(t, s2.ID, uint8(2), "third id")
	o0 := create(other.ID, "general")
	eq(t, o0.ID, uint8(0), "same name and id in another channel")

	_, err := s.CreateSubChannel(ctx(t), ch.ID, "GENERAL", 50)
	is(t, err, store.ErrNameTaken, "duplicate name")
	_, err = s.CreateSubChannel(ctx(t), 99, "x", 50)
	is(t, err, store.ErrNotFound, "unknown channel")

	got, err := s.SubChannelByName(ctx(t), ch.ID, "NEWS")
	ok(t, err, "by name")
	eq(t, got, s1, "by name (case-insensitive)")
	got, err = s.SubChannelByID(ctx(t), ch.ID, 2)
	ok(t, err, "by id")
	eq(t, got, s2, "by id")
	_, err = s.SubChannelByName(ctx(t), ch.ID, "nope")
	is(t, err, store.ErrNotFound, "unknown name")
	_, err = s.SubChannelByID(ctx(t), ch.ID, 7)
	is(t, err, store.ErrNotFound, "unknown id")
	_, err = s.SubChannelByID(ctx(t), 99, 0)
	is(t, err, store.ErrNotFound, "unknown channel")

	// The smallest free id is reused.
	ok(t, s.DeleteSubChannel(ctx(t), ch.ID, 1), "delete 1")
	is(t, s.DeleteSubChannel(ctx(t), ch.ID, 1), store.ErrNotFound, "delete 1 again")
	s1b := create(ch.ID, "news2")
	eq(t, s1b.ID, uint8(1), "reused id")
	ok(t, s.DeleteSubChannel(ctx(t), ch.ID, 0), "delete 0")
	eq(t, create(ch.ID, "zero").ID, uint8(0), "id 0 reused")
	eq(t, create(ch.ID, "three").ID, uint8(3), "next id")

	// Update.
	upd := store.SubChannel{ChannelID: ch.ID, ID: 2, Name: "Misc2", LowestLevel: 5, ActiveUpdates: true}
	ok(t, s.UpdateSubChannel(ctx(t), upd), "update")
	got, err = s.SubChannelByID(ctx(t), ch.ID, 2)
	ok(t, err, "by id")
	eq(t, got, upd, "updated")
	upd.Name = "MISC2"
	ok(t, s.UpdateSubChannel(ctx(t), upd), "case-only rename")
	upd.Name = "Zero"
	is(t, s.UpdateSubChannel(ctx(t), upd), store.ErrNameTaken, "rename to taken")
	is(t, s.UpdateSubChannel(ctx(t), store.SubChannel{ChannelID: ch.ID, ID: 200, Name: "x", LowestLevel: 4}), store.ErrNotFound, "update unknown")
	ok(t, s.UpdateSubChannel(ctx(t), store.SubChannel{ChannelID: other.ID, ID: 0, Name: "news2", LowestLevel: 1}), "name of another channel's sub is free")

	subs, err := s.SubChannels(ctx(t), ch.ID)
	ok(t, err, "list")
	eq(t, subs, []store.SubChannel{
		{ChannelID: ch.ID, ID: 0, Name: "zero", LowestLevel: 4},
		{ChannelID: ch.ID, ID: 1, Name: "news2", LowestLevel: 4},
		{ChannelID: ch.ID, ID: 2, Name: "MISC2", LowestLevel: 5, ActiveUpdates: true},
		{ChannelID: ch.ID, ID: 3, Name: "three", LowestLevel: 4},
	}, "sub-channels by id")

	// Read-only flags survive the deletion of their sub-channel.
	f := store.ReadOnlyFlag{ChannelID: ch.ID, SubID: 3, Level: 4}
	ok(t, s.AddReadOnlyFlag(ctx(t), f), "flag")
	ok(t, s.DeleteSubChannel(ctx(t), ch.ID, 3), "delete 3")
	flags, err := s.ReadOnlyFlags(ctx(t), ch.ID)
	ok(t, err, "flags")
	eq(t, flags, []store.ReadOnlyFlag{f}, "flag after sub-channel deletion")
	eq(t, create(ch.ID, "again").ID, uint8(3), "id 3 reused")
	flags, err = s.ReadOnlyFlags(ctx(t), ch.ID)
	ok(t, err, "flags")
	eq(t, flags, []store.ReadOnlyFlag{f}, "flag applies to the new sub-channel with that id")
}

func testSubChannelLimit(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	ch := mustChannel(t, s, "room", a.ID)
	for i := 0; i < 3; i++ {
		sc, err := s.CreateSubChannel(ctx(t), ch.ID, fmt.Sprintf("sub%d", i), 3)
		ok(t, err, "create %d", i)
		eq(t, sc.ID, uint8(i), "id")
	}
	_, err := s.CreateSubChannel(ctx(t), ch.ID, "sub3", 3)
	is(t, err, store.ErrLimit, "at max")
	_, err = s.CreateSubChannel(ctx(t), ch.ID, "sub3", 2)
	is(t, err, store.ErrLimit, "above max")
	sc, err := s.CreateSubChannel(ctx(t), ch.ID, "sub3", 4)
	ok(t, err, "higher max")
	eq(t, sc.ID, uint8(3), "id")
	ok(t, s.DeleteSubChannel(ctx(t), ch.ID, 1), "delete")
	sc, err = s.CreateSubChannel(ctx(t), ch.ID, "sub4", 4)
	ok(t, err, "below max again")
	eq(t, sc.ID, uint8(1), "freed id")
	subs, err := s.SubChannels(ctx(t), ch.ID)
	ok(t, err, "list")
	eq(t, len(subs), 4, "sub-channels")
}

func testSubChannelIDSpace(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	ch := mustChannel(t, s, "room", a.ID)
	for i := 0; i < 256; i++ {
		sc, err := s.CreateSubChannel(ctx(t), ch.ID, fmt.Sprintf("s%03d", i), 256)
		ok(t, err, "create %d", i)
		if int(sc.ID) != i {
			t.Fatalf("sub-channel %d got id %d", i, sc.ID)
		}
	}
	_, err := s.CreateSubChannel(ctx(t), ch.ID, "one-more", 256)
	is(t, err, store.ErrLimit, "id space exhausted")
	_, err = s.CreateSubChannel(ctx(t), ch.ID, "one-more", 1000)
	is(t, err, store.ErrLimit, "id space exhausted, large max")
	ok(t, s.DeleteSubChannel(ctx(t), ch.ID, 255), "delete 255")
	sc, err := s.CreateSubChannel(ctx(t), ch.ID, "last", 256)
	ok(t, err, "create last")
	eq(t, sc.ID, uint8(255), "id 255")
}

func testReadOnlyFlags(t *testing.T, s store.Store) {
	a := mustUser(t, s, 1, "alice", "")
	ch := mustChannel(t, s, "room", a.ID)
	other := mustChannel(t, s, "other", a.ID)
	flags, err := s.ReadOnlyFlags(ctx(t), ch.ID)
	ok(t, err, "flags")
	eq(t, len(flags), 0, "no flags")
	add := []store.ReadOnlyFlag{
		{ChannelID: ch.ID, SubID: 7, Level: 5},
		{ChannelID: ch.ID, SubID: 0, Level: 4},
		{ChannelID: ch.ID, SubID: 255, Level: 1},
		{ChannelID: ch.ID, SubID: 7, Level: 2},
		{ChannelID: other.ID, SubID: 0, Level: 4},
	}
	for _, f := range add {
		ok(t, s.AddReadOnlyFlag(ctx(t), f), "add %v", f)
	}
	is(t, s.AddReadOnlyFlag(ctx(t), add[0]), store.ErrExists, "duplicate")
	is(t, s.AddReadOnlyFlag(ctx(t), store.ReadOnlyFlag{ChannelID: 99, SubID: 0, Level: 4}), store.ErrNotFound, "unknown channel")
	flags, err = s.ReadOnlyFlags(ctx(t), ch.ID)
	ok(t, err, "flags")
	eq(t, flags, []store.ReadOnlyFlag{
		{ChannelID: ch.ID, SubID: 0, Level: 4},
		{ChannelID: ch.ID, SubID: 7, Level: 2},
		{ChannelID: ch.ID, SubID: 7, Level: 5},
		{ChannelID: ch.ID, SubID: 255, Level: 1},
	}, "flags by sub id and level")
	ok(t, s.RemoveReadOnlyFlag(ctx(t), add[0]), "remove")
	is(t, s.RemoveReadOnlyFlag(ctx(t), add[0]), store.ErrNotFound, "remove again")
	is(t, s.RemoveReadOnlyFlag(ctx(t), store.ReadOnlyFlag{ChannelID: other.ID, SubID: 255, Level: 1}), store.ErrNotFound, "remove other channel's")
	flags, err = s.ReadOnlyFlags(ctx(t), ch.ID)
	ok(t, err, "flags")
	eq(t, len(flags), 3, "flags after remove")
	flags, err = s.ReadOnlyFlags(ctx(t), other.ID)
	ok(t, err, "flags")
	eq(t, flags, []store.ReadOnlyFlag{{ChannelID: other.ID, SubID: 0, Level: 4}}, "other channel's flags")
}
