package cmds_test

// End-to-end tests of the channel, sub-channel, cast and P2P commands over
// real TLS sessions of a real host (internal/hosttest, pkg/client).
//
// Absence checks use a barrier: the test publishes ASYNC_RW_MY_INFO for the
// users of the observed sessions and reads each session's async frames up
// to the MY_INFO it produces. A session's asyncs are handled in arrival
// order and every event of a finished command was delivered to the
// receivers' mailboxes (or, for casts, their outbound queues) before the
// command's IDLE reached its client, so every frame an event produced for a
// session arrives before that session's barrier MY_INFO.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

const testPassword = "Test-Pass-1234"

// env is one test host with its accounts.
type env struct {
	t     *testing.T
	h     *hosttest.Host
	users map[string]store.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, h: hosttest.StartWith(t, hosttest.Options{ForceTLS: true}), users: map[string]store.User{}}
}

// user returns the account name, creating it (rank 1: every internal
// command is loaded for it) on first use.
func (e *env) user(name string) store.User {
	e.t.Helper()
	if u, ok := e.users[name]; ok {
		return u
	}
	u := e.h.CreateUser(e.t, name, testPassword, 1)
	e.users[name] = u
	return u
}

// sess is one logged-in client session.
type sess struct {
	label string
	c     *client.Client
	uid   wire.UserID
	sid   wire.SessionID
}

func (s *sess) String() string { return s.label }

// login opens a new TLS session logged in as name and consumes the login's
// own MY_INFO from its async stream.
func (e *env) login(name, label string) *sess {
	e.t.Helper()
	u := e.user(name)
	c := e.h.Login(e.t, name, testPassword)
	if !c.Encrypted() {
		e.t.Fatalf("%s: session is not encrypted", label)
	}
	s := &sess{label: label, c: c, uid: u.ID, sid: c.SessionID()}
	s.until(e.t, isMyInfo)
	return s
}

func ctx10(t *testing.T) context.Context { return hosttest.Ctx(t, 10*time.Second) }

func isMyInfo(f wire.Frame) bool {
	return f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeMyInfo
}

// until reads the session's async frames until stop matches one (which is
// not returned); command-table frames are skipped.
func (s *sess) until(t *testing.T, stop func(wire.Frame) bool) []wire.Frame {
	t.Helper()
	var out []wire.Frame
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-s.c.Async():
			if !ok {
				t.Fatalf("%s: connection ended while waiting for frames", s)
			}
			if stop(f) {
				return out
			}
			if f.Cmd == uint16(wire.AsyncAddCmd) || f.Cmd == uint16(wire.AsyncRmCmd) {
				continue
			}
			out = append(out, f)
		case <-timeout:
			t.Fatalf("%s: timed out waiting for frames; got %v", s, describe(out))
			return nil
		}
	}
}

// sync runs the barrier over the sessions and returns the async frames
// each received before it.
func (e *env) sync(ss ...*sess) map[*sess][]wire.Frame {
	e.t.Helper()
	done := map[wire.UserID]bool{}
	for _, s := range ss {
		if !done[s.uid] {
			done[s.uid] = true
			uid := s.uid
			e.h.Bus().Publish(&bus.Message{ID: wire.AsyncRWMyInfo, Data: uid[:]}, true)
		}
	}
	out := make(map[*sess][]wire.Frame, len(ss))
	for _, s := range ss {
		out[s] = s.until(e.t, isMyInfo)
	}
	return out
}

func describe(fs []wire.Frame) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "[%v cmd %d branch %d: % x] ", f.Type, f.Cmd, f.Branch, f.Payload)
	}
	return b.String()
}

// run runs one command round with TEXT arguments.
func (s *sess) run(t *testing.T, cmd, args string) *client.Result {
	t.Helper()
	res, err := s.c.Run(ctx10(t), cmd, args)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s, cmd, args, err)
	}
	return res
}

// ok runs a command that must succeed without ERR frames.
func (s *sess) ok(t *testing.T, cmd, args string) *client.Result {
	t.Helper()
	res := s.run(t, cmd, args)
	if err := res.Err(); err != nil {
		t.Fatalf("%s: %s %s: %v", s, cmd, args, err)
	}
	return res
}

// fails runs a command that must answer exactly the given error texts.
func (s *sess) fails(t *testing.T, cmd, args string, msgs ...string) {
	t.Helper()
	checkErrs(t, fmt.Sprintf("%s: %s %s", s, cmd, args), s.run(t, cmd, args), msgs)
}

func checkErrs(t *testing.T, what string, res *client.Result, msgs []string) {
	t.Helper()
	got := res.Errors()
	want := make([]string, len(msgs))
	for i, m := range msgs {
		want[i] = "err: " + m + "\n"
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s: errors %q, want %q", what, got, want)
	}
}

// send runs one round of a command started by a frame of any type.
func (s *sess) send(t *testing.T, cmd string, typ wire.TypeID, payload []byte) *client.Result {
	t.Helper()
	call, err := s.c.Start(ctx10(t), cmd)
	if err != nil {
		t.Fatalf("%s: start %s: %v", s, cmd, err)
	}
	defer call.Close()
	res, err := call.Run(ctx10(t), typ, payload, nil)
	if err != nil {
		t.Fatalf("%s: %s: %v", s, cmd, err)
	}
	return res
}

func (s *sess) sendOK(t *testing.T, cmd string, typ wire.TypeID, payload []byte) {
	t.Helper()
	if err := s.send(t, cmd, typ, payload).Err(); err != nil {
		t.Fatalf("%s: %s: %v", s, cmd, err)
	}
}

func (s *sess) sendFails(t *testing.T, cmd string, typ wire.TypeID, payload []byte, msgs ...string) {
	t.Helper()
	checkErrs(t, fmt.Sprintf("%s: %s (%v)", s, cmd, typ), s.send(t, cmd, typ, payload), msgs)
}

// frame is an expected async frame.
func frame(id wire.AsyncID, t wire.TypeID, payload []byte) wire.Frame {
	return wire.Frame{Type: t, Cmd: uint16(id), Branch: 0, Payload: payload}
}

func sameFrames(a, b []wire.Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Cmd != b[i].Cmd || a[i].Branch != b[i].Branch || !bytes.Equal(a[i].Payload, b[i].Payload) {
			return false
		}
	}
	return true
}

// only keeps the frames matching keep.
func only(fs []wire.Frame, keep func(wire.Frame) bool) []wire.Frame {
	var out []wire.Frame
	for _, f := range fs {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

func isChannelEvent(f wire.Frame) bool {
	return f.Cmd >= uint16(wire.AsyncNewChMember) && f.Cmd <= uint16(wire.AsyncRmRdonly)
}

// expect checks, after a barrier over all, that exactly the sessions in to
// received want (in order, among the frames keep selects) and the others
// received nothing keep selects.
func (e *env) expect(step string, all []*sess, keep func(wire.Frame) bool, want []wire.Frame, to ...*sess) {
	e.t.Helper()
	got := e.sync(all...)
	recipient := map[*sess]bool{}
	for _, s := range to {
		recipient[s] = true
	}
	for _, s := range all {
		fs := only(got[s], keep)
		var exp []wire.Frame
		if recipient[s] {
			exp = want
		}
		if !sameFrames(fs, exp) {
			e.t.Errorf("%s: %s received %s\nwant %s", step, s, describe(fs), describe(exp))
		}
	}
}

// Payload helpers.

func chID(ch uint64) []byte { return binary.LittleEndian.AppendUint64(nil, ch) }

func memberInfo(ch uint64, u store.User, pending bool, level uint8, chName string) []byte {
	m := wire.ChMemberInfo{ChannelID: ch, UserID: u.ID, Pending: pending, Level: level,
		UserName: u.Name, DisplayName: u.DisplayName, ChannelName: chName}
	return m.Marshal()
}

func memberData(ch uint64, u store.User, extra ...byte) []byte {
	return append(append(chID(ch), u.ID[:]...), extra...)
}

func subData(ch uint64, sub uint8, extra ...byte) []byte {
	return append(append(chID(ch), sub), extra...)
}

// channelID returns the id of a channel by name, from the store.
func (e *env) channelID(name string) uint64 {
	e.t.Helper()
	ch, err := e.h.Store.ChannelByName(context.Background(), name)
	if err != nil {
		e.t.Fatalf("channel %s: %v", name, err)
	}
	return ch.ID
}

// openRows returns the data rows of ls_open_chs, each split into fields.
func (s *sess) openRows(t *testing.T) [][]string {
	t.Helper()
	lines := strings.Split(s.ok(t, "ls_open_chs", "").Text(), "\n")
	if len(lines) < 3 || lines[0] != "" || !strings.HasPrefix(lines[1], "channel_name") {
		t.Fatalf("%s: ls_open_chs printed %q", s, lines)
	}
	var rows [][]string
	for _, l := range lines[3:] {
		if l != "" {
			rows = append(rows, strings.Fields(l))
		}
	}
	return rows
}

// TestChannelEventsReachMembersOnly runs every channel event and checks
// the exact frames every session receives: all sessions of members (on
// any connection), the user the event names and sessions with an affected
// sub-channel open, and nobody else.
func TestChannelEventsReachMembersOnly(t *testing.T) {
	e := newEnv(t)
	own, mem, inv := e.user("owner1"), e.user("member1"), e.user("invitee1")
	o1, o2 := e.login("owner1", "owner#1"), e.login("owner1", "owner#2")
	m1, m2 := e.login("member1", "member#1"), e.login("member1", "member#2")
	i1 := e.login("invitee1", "invitee")
	x1 := e.login("outsider1", "outsider")
	all := []*sess{o1, o2, m1, m2, i1, x1}
	ev := isChannelEvent

	o1.ok(t, "add_ch", "-ch_name events01")
	ch := e.channelID("events01")
	e.expect("add_ch", all, ev, []wire.Frame{
		frame(wire.AsyncNewChMember, wire.TypeChMemberInfo, memberInfo(ch, own, false, 1, "events01"))}, o1, o2)

	o1.ok(t, "invite_to_ch", "-ch_name events01 -user member1")
	e.expect("invite_to_ch", all, ev, []wire.Frame{
		frame(wire.AsyncInvitedToCh, wire.TypeChMemberInfo, memberInfo(ch, mem, true, 4, "events01"))}, o1, o2, m1, m2)

	m2.ok(t, "accept_ch", "-ch_name events01")
	e.expect("accept_ch", all, ev, []wire.Frame{
		frame(wire.AsyncInviteAccepted, wire.TypeChMemberInfo, memberInfo(ch, mem, false, 4, "events01"))}, o1, o2, m1, m2)

	o2.ok(t, "add_sub_ch", "-ch_name events01 -sub_name lobby")
	e.expect("add_sub_ch", all, ev, []wire.Frame{
		frame(wire.AsyncNewSubCh, wire.TypeBytes, wire.AppendNullTerm(subData(ch, 0, 4, 0), "lobby"))}, o1, o2, m1, m2)

	o1.ok(t, "rename_ch", "-ch_name events01 -new_name events02")
	e.expect("rename_ch", all, ev, []wire.Frame{
		frame(wire.AsyncRenameCh, wire.TypeBytes, wire.AppendNullTerm(chID(ch), "events02"))}, o1, o2, m1, m2)

	o1.ok(t, "rename_sub_ch", "-ch_name events02 -sub_name lobby -new_name hall")
	e.expect("rename_sub_ch", all, ev, []wire.Frame{
		frame(wire.AsyncRenameSubCh, wire.TypeBytes, wire.AppendNullTerm(subData(ch, 0), "hall"))}, o1, o2, m1, m2)

	o1.ok(t, "invite_to_ch", "-ch_name events02 -user invitee1")
	e.expect("invite invitee", all, ev, []wire.Frame{
		frame(wire.AsyncInvitedToCh, wire.TypeChMemberInfo, memberInfo(ch, inv, true, 4, "events02"))}, o1, o2, m1, m2, i1)

	// A pending invitee is not a member: it does not see channel events.
	o1.ok(t, "add_sub_ch", "-ch_name events02 -sub_name side")
	e.expect("add_sub_ch while invited", all, ev, []wire.Frame{
		frame(wire.AsyncNewSubCh, wire.TypeBytes, wire.AppendNullTerm(subData(ch, 1, 4, 0), "side"))}, o1, o2, m1, m2)

	i1.ok(t, "decline_ch", "-ch_name events02")
	e.expect("decline_ch", all, ev, []wire.Frame{
		frame(wire.AsyncRmChMember, wire.TypeBytes, memberData(ch, inv))}, o1, o2, m1, m2, i1)

	o1.ok(t, "set_member_level", "-ch_name events02 -user member1 -level 3")
	e.expect("set_member_level", all, ev, []wire.Frame{
		frame(wire.AsyncMemLevelChanged, wire.TypeBytes, memberData(ch, mem, 3))}, o1, o2, m1, m2)

	o1.ok(t, "set_sub_ch_level", "-ch_name events02 -sub_name hall -level 5")
	e.expect("set_sub_ch_level", all, ev, []wire.Frame{
		frame(wire.AsyncSubChLevelChg, wire.TypeBytes, subData(ch, 0, 5))}, o1, o2, m1, m2)

	// The outsider opens the now public sub-channel: events that concern
	// it reach the outsider, the others do not.
	x1.ok(t, "open_sub_ch", "-ch_name events02 -sub_name hall")
	o1.ok(t, "add_rdonly_flag", "-ch_name events02 -sub_id 0 -level 4")
	e.expect("add_rdonly_flag", all, ev, []wire.Frame{
		frame(wire.AsyncAddRdonly, wire.TypeBytes, subData(ch, 0, 4))}, o1, o2, m1, m2, x1)
	if rows := x1.openRows(t); len(rows) != 0 {
		t.Errorf("outsider still has %q open after ADD_RDONLY", rows)
	}

	o1.ok(t, "rm_rdonly_flag", "-ch_name events02 -sub_id 0 -level 4")
	e.expect("rm_rdonly_flag", all, ev, []wire.Frame{
		frame(wire.AsyncRmRdonly, wire.TypeBytes, subData(ch, 0, 4))}, o1, o2, m1, m2)

	x1.ok(t, "open_sub_ch", "-ch_name events02 -sub_name hall")
	o1.ok(t, "rename_sub_ch", "-ch_name events02 -sub_name side -new_name nook")
	e.expect("rename other sub-channel", all, ev, []wire.Frame{
		frame(wire.AsyncRenameSubCh, wire.TypeBytes, wire.AppendNullTerm(subData(ch, 1), "nook"))}, o1, o2, m1, m2)

	o1.ok(t, "rm_sub_ch", "-ch_name events02 -sub_name hall")
	e.expect("rm_sub_ch", all, ev, []wire.Frame{
		frame(wire.AsyncRmSubCh, wire.TypeBytes, subData(ch, 0))}, o1, o2, m1, m2, x1)

	// set_active_flag emits CH_ACT_FLAG (which is never forwarded) only
	// when the global flag is off; it is on by default.
	res := o1.ok(t, "set_active_flag", "-ch_name events02 -sub_name nook -state 1")
	if !strings.Contains(res.Text(), "no effect") {
		t.Errorf("set_active_flag with the global flag on printed %q", res.Text())
	}
	e.expect("set_active_flag", all, ev, nil)

	// Removing a member: the removed user's sessions get the event too.
	o1.ok(t, "remove_ch_member", "-ch_name events02 -user member1")
	e.expect("remove_ch_member", all, ev, []wire.Frame{
		frame(wire.AsyncRmChMember, wire.TypeBytes, memberData(ch, mem))}, o1, o2, m1, m2)

	o1.ok(t, "rename_ch", "-ch_name events02 -new_name events03")
	e.expect("rename after removal", all, ev, []wire.Frame{
		frame(wire.AsyncRenameCh, wire.TypeBytes, wire.AppendNullTerm(chID(ch), "events03"))}, o1, o2)

	// Ownership transfer: two level changes.
	o1.ok(t, "invite_to_ch", "-ch_name events03 -user member1")
	m1.ok(t, "accept_ch", "-ch_name events03")
	e.sync(all...)
	o2.ok(t, "set_member_level", "-ch_name events03 -user member1 -level 1")
	e.expect("transfer ownership", all, ev, []wire.Frame{
		frame(wire.AsyncMemLevelChanged, wire.TypeBytes, memberData(ch, mem, 1)),
		frame(wire.AsyncMemLevelChanged, wire.TypeBytes, memberData(ch, own, 2))}, o1, o2, m1, m2)

	// A non-member with a sub-channel of the channel open learns of its
	// deletion; other non-members do not.
	m1.ok(t, "set_sub_ch_level", "-ch_name events03 -sub_name nook -level 5")
	x1.ok(t, "open_sub_ch", "-ch_name events03 -sub_name nook")
	e.sync(all...)
	m1.ok(t, "rm_ch", "-ch_name events03")
	e.expect("rm_ch", all, ev, []wire.Frame{frame(wire.AsyncDelCh, wire.TypeChID, chID(ch))}, o1, o2, m1, m2, x1)
	if rows := x1.openRows(t); len(rows) != 0 {
		t.Errorf("outsider still has %q open after DEL_CH", rows)
	}

	// Events of a channel nobody here belongs to reach nobody.
	x1.ok(t, "add_ch", "-ch_name lonely1")
	lonely := e.channelID("lonely1")
	e.expect("other add_ch", all, ev, []wire.Frame{
		frame(wire.AsyncNewChMember, wire.TypeChMemberInfo, memberInfo(lonely, e.user("outsider1"), false, 1, "lonely1"))}, x1)
	x1.ok(t, "add_sub_ch", "-ch_name lonely1 -sub_name room")
	e.expect("other add_sub_ch", all, ev, []wire.Frame{
		frame(wire.AsyncNewSubCh, wire.TypeBytes, wire.AppendNullTerm(subData(lonely, 0, 4, 0), "room"))}, x1)
}
