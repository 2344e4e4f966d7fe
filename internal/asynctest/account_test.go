package asynctest

// Account asyncs: 6 LOGOUT, 7 USER_DELETED, 8 DISP_RENAMED,
// 9 USER_RANK_CHANGED, 10 CMD_RANKS_CHANGED, 12 ENABLE_MOD, 13 DISABLE_MOD,
// 15 USER_LOGIN, 18 RW_MY_INFO, 37 USER_RENAMED.

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func peerStat(sid wire.SessionID, open wire.SubChannelList, gone bool) []byte {
	ps := wire.PeerStat{SessionID: sid, Open: open, Disconnected: gone}
	return ps.Marshal()
}

// wantAddCmd asserts an ASYNC_ADD_CMD frame for a test module command and
// returns the id the session gave it.
func (p *peer) wantAddCmd(name string) uint16 {
	p.t.Helper()
	f := p.nextAsync(false)
	if f.Type != wire.TypeNewCmd || f.Cmd != uint16(wire.AsyncAddCmd) || f.Branch != 0 || len(f.Payload) < 2 {
		p.t.Fatalf("%s: got %s, want NEW_CMD on ASYNC_ADD_CMD", p.name, fmtFrame(f))
	}
	id := binary.LittleEndian.Uint16(f.Payload)
	d := p.e.mod.defOf(name)
	if want := d.NewCmd(id, name); string(f.Payload) != string(want) {
		p.t.Fatalf("%s: NEW_CMD\n% x\nwant\n% x", p.name, f.Payload, want)
	}
	if got, ok := p.c.CommandID(name); !ok || got != id {
		p.t.Fatalf("%s: client table has %s = %d (%v), want %d", p.name, name, got, ok, id)
	}
	return id
}

// mustID returns a command's id in the client's table.
func (p *peer) mustID(name string) uint16 {
	p.t.Helper()
	id, ok := p.c.CommandID(name)
	if !ok {
		p.t.Fatalf("%s: no command %s", p.name, name)
	}
	return id
}

func (p *peer) lacks(name string) {
	p.t.Helper()
	if _, ok := p.c.CommandID(name); ok {
		p.t.Fatalf("%s: still has command %s", p.name, name)
	}
}

func TestAsync06Logout(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice, bob := e.user("alice", 2), e.user("bob", 2)
	ch := e.channel("chan", alice, []store.User{bob})
	s := e.subChannel(ch, "sub", false) // the global active flag is on
	a, b, b2 := e.login("alice"), e.login("bob"), e.login("bob")
	a.open(s)
	b.open(s)
	a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), listOf(s), false))
	e.quiet(a, b)

	b.wantRefused(wire.TypePubIPC, wire.AsyncLogout, nil, whyAudience)
	b.wantRefused(wire.TypePubIPCFeedback, wire.AsyncLogout, nil, whyAudience)
	b.emit(wire.TypePrivIPC, wire.AsyncLogout, nil)

	// The session is anonymous again: no user, sub-channels closed,
	// channel list cleared, user commands unloaded, no MY_INFO.
	info := b.snap()
	if info.LoggedIn || info.Open.Len() != 0 || info.Writable.Len() != 0 || len(info.Channels) != 0 || info.Active {
		t.Fatalf("after LOGOUT: %+v", info)
	}
	b.lacks("ranked")
	b.lacks("set_user_name")
	b.mustID("auth")
	if out := b.mustExec("my_info", "").Text(); strings.Contains(out, "User Name:") {
		t.Fatalf("my_info after LOGOUT: %q", out)
	}
	// Active peers on its old sub-channels learn it is gone.
	a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), wire.SubChannelList{}, true))
	e.quiet(b, b2, a)
	if !b2.snap().LoggedIn {
		t.Fatal("the other session of the account was logged out too")
	}
	if got := e.sessionsOf(bob.ID); !slices.Equal(got, []wire.SessionID{b2.sid()}) {
		t.Fatalf("bus user index after LOGOUT: %v", got)
	}

	// LOGOUT of an anonymous session does nothing.
	b.emit(wire.TypePrivIPC, wire.AsyncLogout, nil)
	e.quiet(b, a)
}

const deletedNotice = "\nThe account you were logged in as was deleted; you are now logged out.\n"

func TestAsync07UserDeleted(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	bob, carol := e.user("bob", 2), e.user("carol", 2)
	e.user("alice", 2)
	r, a, b1, b2, c := e.login("root"), e.login("alice"), e.login("bob"), e.login("bob"), e.login("carol")

	// rm_acct (PUB_IPC_WITH_FEEDBACK [32 uid]): every session of the
	// account is logged out, gets a SYS_MSG notice and then the id typed
	// TEXT on ASYNC_USER_DELETED.
	r.mustExec("rm_acct", "-name bob -force")
	for _, b := range []*peer{b1, b2} {
		b.want(wire.TypeText, wire.AsyncSysMsg, wire.EncodeText(deletedNotice))
		b.want(wire.TypeText, wire.AsyncUserDeleted, bob.ID[:])
		if b.snap().LoggedIn {
			t.Fatalf("%s still logged in", b.name)
		}
		b.lacks("ranked")
	}
	e.quiet(r, a, b1, b2, c)
	if _, err := e.h.Store.UserByID(context.Background(), bob.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob still in the store: %v", err)
	}

	// From a module: receivers act on the payload alone.
	a.wantRefused(wire.TypePrivIPC, wire.AsyncUserDeleted, carol.ID[:], whyAudience)
	a.wantRefused(wire.TypePubIPC, wire.AsyncUserDeleted, carol.ID[:31], whyLength)
	a.wantRefused(wire.TypePubIPC, wire.AsyncUserDeleted, cat(carol.ID[:], []byte{0}), whyLength)
	a.emit(wire.TypePubIPC, wire.AsyncUserDeleted, carol.ID[:])
	c.want(wire.TypeText, wire.AsyncSysMsg, wire.EncodeText(deletedNotice))
	c.want(wire.TypeText, wire.AsyncUserDeleted, carol.ID[:])
	e.quiet(a, c, r)
	if c.snap().LoggedIn {
		t.Fatal("carol still logged in")
	}
}

func TestAsync08DispRenamed(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice, bob := e.user("alice", 2), e.user("bob", 2)
	ch := e.channel("chan", alice, []store.User{bob})
	s := e.subChannel(ch, "sub", false)
	a, b1, b2 := e.login("alice"), e.login("bob"), e.login("bob")
	b1.open(s)
	a.open(s)
	b1.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(a.sid(), listOf(s), false))

	// set_disp_name (PUBF [32 uid][64 name]): every session of the account
	// sends MY_INFO; the active one also sends PEER_INFO to its peers.
	b1.mustExec("set_disp_name", "-new_name Bobby")
	renamed := e.account(bob.ID)
	if renamed.DisplayName != "Bobby" {
		t.Fatalf("store display name %q", renamed.DisplayName)
	}
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(renamed))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(renamed))
	a.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(b1.peerInfo(renamed)))
	e.quiet(b1, b2, a)
	if got := b2.snap().DisplayName; got != "Bobby" {
		t.Fatalf("b2 display name %q", got)
	}

	// From a module with PUB_IPC: the other sessions of the account act on
	// the payload (the emitter's own session does not).
	data := cat(bob.ID[:], wire.AppendFixed(nil, "Robert", wire.DisplayNameWidth))
	b2.emit(wire.TypePubIPC, wire.AsyncDispRenamed, data)
	renamed.DisplayName = "Robert"
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(renamed))
	a.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(b1.peerInfo(renamed)))
	e.quiet(b1, b2, a)
	if got := b2.snap().DisplayName; got != "Bobby" {
		t.Fatalf("emitter applied its own PUB_IPC rename: %q", got)
	}

	b2.wantRefused(wire.TypePubIPC, wire.AsyncDispRenamed, data[:95], whyLength)
	b2.wantRefused(wire.TypePrivIPC, wire.AsyncDispRenamed, data, whyAudience)
	e.quiet(b1, b2, a)
}

func peerInfoBytes(p wire.PeerInfo) []byte { return p.Marshal() }

func TestAsync09UserRankChanged(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	bob := e.user("bob", 2)
	e.user("alice", 2)
	r, a, b := e.login("root"), e.login("alice"), e.login("bob")
	rid := b.mustID("ranked")

	// set_user_rank (PUBF [32 uid][4 rank]): MY_INFO with the new rank,
	// then the command set is reloaded (ranked needs rank <= 2).
	r.mustExec("set_user_rank", "-user bob -rank 3")
	bob3 := e.account(bob.ID)
	if bob3.Rank != 3 {
		t.Fatalf("store rank %d", bob3.Rank)
	}
	b.want(wire.TypeMyInfo, wire.AsyncSysMsg, b.myInfo(bob3))
	b.want(wire.TypeCmdID, wire.AsyncRmCmd, wire.EncodeCmdID(rid))
	b.lacks("ranked")
	e.quiet(r, a, b)
	if got := b.snap().Rank; got != 3 {
		t.Fatalf("session rank %d", got)
	}
	if a.snap().Rank != 2 {
		t.Fatal("another account's session changed")
	}

	// From a module: the session takes the rank from the payload.
	r.emit(wire.TypePubIPC, wire.AsyncUserRankChanged, cat(bob.ID[:], le32(2)))
	bob2 := bob3
	bob2.Rank = 2
	b.want(wire.TypeMyInfo, wire.AsyncSysMsg, b.myInfo(bob2))
	b.wantAddCmd("ranked")
	e.quiet(r, a, b)

	r.wantRefused(wire.TypePubIPC, wire.AsyncUserRankChanged, bob.ID[:], whyLength)
	r.wantRefused(wire.TypePrivIPC, wire.AsyncUserRankChanged, cat(bob.ID[:], le32(5)), whyAudience)
	e.quiet(b)
}

func TestAsync10CmdRanksChanged(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	e.user("bob", 2)
	e.user("alice", 3)
	r, a, b1, b2 := e.login("root"), e.login("alice"), e.login("bob"), e.login("bob")
	a.lacks("ranked")
	rid1, rid2 := b1.mustID("ranked"), b2.mustID("ranked")
	ctx := context.Background()

	// Unranked user commands are for rank 1 only: after the reload bob
	// loses ranked. PUB_IPC: every other session reloads (the emitter not).
	if err := e.h.Store.RemoveCommandRank(ctx, modID, "ranked"); err != nil {
		t.Fatal(err)
	}
	b1.emit(wire.TypePubIPC, wire.AsyncCmdRanksChanged, nil)
	b2.want(wire.TypeCmdID, wire.AsyncRmCmd, wire.EncodeCmdID(rid2))
	e.quiet(b1, b2, a, r)
	b1.mustID("ranked")
	b2.lacks("ranked")
	r.mustID("ranked")

	// Ranked at 3: alice (3) and bob (2) may run it. With feedback the
	// emitter reloads too. The host's rank cache is refreshed by the same
	// async (a hook on the bus).
	if err := e.h.Store.AddCommandRank(ctx, store.CommandRank{Module: modID, Command: "ranked", Rank: 3}); err != nil {
		t.Fatal(err)
	}
	a.emit(wire.TypePubIPCFeedback, wire.AsyncCmdRanksChanged, nil)
	a.wantAddCmd("ranked")
	b2.wantAddCmd("ranked")
	e.quiet(a, b1, b2, r)
	if got := b1.mustID("ranked"); got != rid1 {
		t.Fatalf("b1 reloaded a command it kept: id %d -> %d", rid1, got)
	}

	a.wantRefused(wire.TypePrivIPC, wire.AsyncCmdRanksChanged, nil, whyAudience)
}

func TestAsync12EnableMod(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	e.user("bob", 2)
	e.user("alice", 2)
	a, b1, b2 := e.login("alice"), e.login("bob"), e.login("bob")
	path := wire.EncodeText("/usr/lib/mrci/mods/example")

	// Receivers reload their command set from the host's modules.
	e.mod.Dyn.Store(true)
	b1.emit(wire.TypePubIPC, wire.AsyncEnableMod, path)
	b2.wantAddCmd("dyn")
	a.wantAddCmd("dyn")
	e.quiet(b1, b2, a)
	b1.lacks("dyn")
	e.barrier.lacks("dyn") // exempt commands are for logged-in sessions

	b1.emit(wire.TypePubIPCFeedback, wire.AsyncEnableMod, path)
	b1.wantAddCmd("dyn")
	e.quiet(b1, b2, a)

	b1.wantRefused(wire.TypePubIPC, wire.AsyncEnableMod, []byte{'x'}, whyLength)
	b1.wantRefused(wire.TypePrivIPC, wire.AsyncEnableMod, path, whyAudience)
}

func TestAsync13DisableMod(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	e.user("bob", 2)
	e.user("alice", 2)
	e.mod.Dyn.Store(true)
	a, b := e.login("alice"), e.login("bob")
	aid, bid := a.mustID("dyn"), b.mustID("dyn")
	if got := a.mustExec("dyn", "").Text(); got != "dyn" {
		t.Fatalf("dyn printed %q", got)
	}

	// Commands the module no longer offers are unloaded with ASYNC_RM_CMD
	// (the original drops them silently, commands.md §15.1 #5).
	e.mod.Dyn.Store(false)
	a.emit(wire.TypePubIPCFeedback, wire.AsyncDisableMod, wire.EncodeText("/usr/lib/mrci/mods/example"))
	a.want(wire.TypeCmdID, wire.AsyncRmCmd, wire.EncodeCmdID(aid))
	b.want(wire.TypeCmdID, wire.AsyncRmCmd, wire.EncodeCmdID(bid))
	a.lacks("dyn")
	b.lacks("dyn")
	e.quiet(a, b)

	a.wantRefused(wire.TypePubIPC, wire.AsyncDisableMod, nil, whyLength)
	a.wantRefused(wire.TypePrivIPC, wire.AsyncDisableMod, wire.EncodeText("x"), whyAudience)
}

func TestAsync15UserLogin(t *testing.T) {
	t.Parallel()
	t.Run("auth", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{})
		bob := e.user("bob", 2)
		a := e.login("root")
		// auth emits USER_LOGIN (PRIV [32 uid]): MY_INFO, then the user
		// commands, all before auth's IDLE.
		b := e.dial("bob")
		if err := b.c.Login(ctxT(t), "bob", userPW); err != nil {
			t.Fatal(err)
		}
		b.want(wire.TypeMyInfo, wire.AsyncSysMsg, b.myInfo(bob))
		b.mustID("ranked")
		info := b.snap()
		if !info.LoggedIn || info.UserID != bob.ID || info.UserName != "bob" || info.Rank != 2 {
			t.Fatalf("after login: %+v", info)
		}
		if got := e.sessionsOf(bob.ID); !slices.Equal(got, []wire.SessionID{b.sid()}) {
			t.Fatalf("bus user index: %v", got)
		}
		e.quiet(b, a)
	})
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{})
		bob := e.user("bob", 2)
		p := e.dial("anon")
		for _, m := range allModes {
			p.wantRefused(m, wire.AsyncUserLogin, bob.ID[:], whyPrivileged)
		}
		if p.snap().LoggedIn {
			t.Fatal("an untrusted module logged the session in")
		}
		e.quiet(p)
	})
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{trust: true})
		bob, alice := e.user("bob", 2), e.user("alice", 3)
		p := e.dial("anon")
		p.wantRefused(wire.TypePubIPC, wire.AsyncUserLogin, bob.ID[:], whyAudience)
		p.wantRefused(wire.TypePrivIPC, wire.AsyncUserLogin, bob.ID[:31], whyLength)
		p.emit(wire.TypePrivIPC, wire.AsyncUserLogin, bob.ID[:])
		p.want(wire.TypeMyInfo, wire.AsyncSysMsg, p.myInfo(bob))
		p.mustID("ranked")
		if s := p.snap(); !s.LoggedIn || s.UserID != bob.ID {
			t.Fatalf("after USER_LOGIN: %+v", s)
		}
		// Logged in already: logs out first, then in as the new user.
		p.emit(wire.TypePrivIPC, wire.AsyncUserLogin, alice.ID[:])
		p.want(wire.TypeMyInfo, wire.AsyncSysMsg, p.myInfo(alice))
		p.lacks("ranked") // alice is rank 3
		if len(e.sessionsOf(bob.ID)) != 0 || len(e.sessionsOf(alice.ID)) != 1 {
			t.Fatal("bus user index not updated")
		}
		// An unknown account: an error message, the session stays as it was.
		var nobody wire.UserID
		nobody[0] = 1
		p.emit(wire.TypePrivIPC, wire.AsyncUserLogin, nobody[:])
		p.want(wire.TypeErr, wire.AsyncSysMsg, wire.EncodeText("err: login failed: the account could not be loaded\n"))
		if s := p.snap(); s.UserID != alice.ID {
			t.Fatalf("after a failed USER_LOGIN: %+v", s)
		}
		e.quiet(p)
	})
}

func TestAsync18RWMyInfo(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	bob := e.user("bob", 2)
	e.user("alice", 2)
	r, a, b1, b2 := e.login("root"), e.login("alice"), e.login("bob"), e.login("bob")

	// set_email (PUBF [32 uid]): every session of the account re-reads it.
	b1.mustExec("set_email", "-new_email bob.two@example.com")
	u := e.account(bob.ID)
	if u.Email != "bob.two@example.com" || u.EmailVerified {
		t.Fatalf("store: %+v", u)
	}
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(u))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(u))
	e.quiet(b1, b2, a, r)

	// force_set_email by root.
	r.mustExec("force_set_email", "-user bob -new_email bob.three@example.com")
	u = e.account(bob.ID)
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(u))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(u))
	e.quiet(b1, b2, a, r)
	if got := b2.snap().Email; got != "bob.three@example.com" {
		t.Fatalf("session e-mail %q", got)
	}

	// From a module: the sessions reload the account from the store.
	verified := true
	if err := e.h.Store.UpdateUser(context.Background(), bob.ID, store.UserUpdate{EmailVerified: &verified}); err != nil {
		t.Fatal(err)
	}
	u = e.account(bob.ID)
	a.emit(wire.TypePubIPC, wire.AsyncRWMyInfo, bob.ID[:])
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(u))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(u))
	e.quiet(a, b1, b2)
	if !b1.snap().EmailVerified {
		t.Fatal("session did not reload the account")
	}

	a.wantRefused(wire.TypePubIPC, wire.AsyncRWMyInfo, bob.ID[:16], whyLength)
	a.wantRefused(wire.TypePrivIPC, wire.AsyncRWMyInfo, bob.ID[:], whyAudience)
	e.quiet(b1, b2)
}

func TestAsync37UserRenamed(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice, bob := e.user("alice", 2), e.user("bob", 2)
	ch := e.channel("chan", alice, []store.User{bob})
	s := e.subChannel(ch, "sub", false)
	r, a, b1, b2 := e.login("root"), e.login("alice"), e.login("bob"), e.login("bob")
	b1.open(s)
	a.open(s)
	b1.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(a.sid(), listOf(s), false))

	// set_user_name (PUBF [32 uid][48 name]).
	b1.mustExec("set_user_name", "-new_name bobby")
	u := e.account(bob.ID)
	if u.Name != "bobby" {
		t.Fatalf("store name %q", u.Name)
	}
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(u))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(u))
	a.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(b1.peerInfo(u)))
	e.quiet(b1, b2, a, r)
	if got := b2.snap().UserName; got != "bobby" {
		t.Fatalf("session user name %q", got)
	}

	// auth's forced rename (PUB [32 uid][48 name]) reaches the sessions
	// already logged in as the account; the new session then logs in.
	r.mustExec("request_new_user_name", "-user bobby -req 1")
	b3 := e.dial("bob3")
	if err := b3.c.Login(ctxT(t), "bobby", userPW, client.WithNewUserName("robert")); err != nil {
		t.Fatal(err)
	}
	u = e.account(bob.ID)
	if u.Name != "robert" {
		t.Fatalf("store name %q", u.Name)
	}
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(u))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(u))
	a.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(b1.peerInfo(u)))
	b3.want(wire.TypeMyInfo, wire.AsyncSysMsg, b3.myInfo(u))
	e.quiet(b1, b2, b3, a, r)

	// From a module.
	data := cat(bob.ID[:], wire.AppendFixed(nil, "bert", wire.UserNameWidth))
	b3.emit(wire.TypePubIPC, wire.AsyncUserRenamed, data)
	u.Name = "bert"
	b1.want(wire.TypeMyInfo, wire.AsyncSysMsg, b1.myInfo(u))
	b2.want(wire.TypeMyInfo, wire.AsyncSysMsg, b2.myInfo(u))
	a.want(wire.TypePeerInfo, wire.AsyncLimitedCast, peerInfoBytes(b1.peerInfo(u)))
	e.quiet(b1, b2, b3, a)

	b3.wantRefused(wire.TypePubIPC, wire.AsyncUserRenamed, data[:79], whyLength)
	b3.wantRefused(wire.TypePrivIPC, wire.AsyncUserRenamed, data, whyAudience)
	e.quiet(b1, b2, a)
}
