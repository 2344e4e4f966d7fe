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
// session arrives before that session's barrier MY_INFO. This holds for
// first-hop deliveries only; replies a receiver sends back (ping answers)
// are awaited explicitly.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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
	// hosts are the nodes of a cluster (TestClusterChannels), h alone
	// otherwise; login spreads the sessions over them in turn.
	hosts  []*hosttest.Host
	logins int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith starts a host whose settings change is applied before it starts.
func newEnvWith(t *testing.T, change func(*store.Settings)) *env {
	t.Helper()
	o := hosttest.Options{ForceTLS: true}
	if change != nil {
		o.Setup = func(st store.Store) {
			ctx := context.Background()
			s, err := st.Settings(ctx)
			if err == nil {
				change(&s)
				err = st.SaveSettings(ctx, s)
			}
			if err != nil {
				t.Fatalf("settings: %v", err)
			}
		}
	}
	var hosts []*hosttest.Host
	if strings.HasPrefix(t.Name(), "TestClusterChannels/") {
		hosts = hosttest.StartCluster(t, o, hosttest.ClusterOptions{})
	} else {
		hosts = []*hosttest.Host{hosttest.StartWith(t, o)}
	}
	return &env{t: t, h: hosts[0], hosts: hosts, users: map[string]store.User{}}
}

// TestClusterChannels runs the channel tests with the sessions spread over
// the three nodes of a cluster (PostgreSQL + NATS, docs/cluster.md): the
// same tests, the same assertions.
func TestClusterChannels(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"ChannelEventsReachMembersOnly", TestChannelEventsReachMembersOnly},
		{"SubChannelAccessLoss", TestSubChannelAccessLoss},
		{"Cast", TestCast},
		{"P2P", TestP2P},
		{"PingPeers", TestPingPeers},
		{"ActiveFlag", TestActiveFlag},
		{"SubChannelLimit", TestSubChannelLimit},
		{"Permissions", TestPermissions},
		{"ArgumentChecks", TestArgumentChecks},
		{"Listings", TestListings},
	} {
		t.Run(tc.name, tc.fn)
	}
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
	h := e.h
	if len(e.hosts) > 0 {
		h = e.hosts[e.logins%len(e.hosts)]
	}
	e.logins++
	c := h.Login(e.t, name, testPassword)
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
	out, _ := s.waitFor(t, stop)
	return out
}

// waitFor is until that also returns the frame that matched.
func (s *sess) waitFor(t *testing.T, stop func(wire.Frame) bool) ([]wire.Frame, wire.Frame) {
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
				return out, f
			}
			if f.Cmd == uint16(wire.AsyncAddCmd) || f.Cmd == uint16(wire.AsyncRmCmd) {
				continue
			}
			out = append(out, f)
		case <-timeout:
			t.Fatalf("%s: timed out waiting for frames; got %v", s, describe(out))
			return nil, wire.Frame{}
		}
	}
}

// sync runs the barrier over the sessions and returns the async frames
// each received before it.
func (e *env) sync(ss ...*sess) map[*sess][]wire.Frame {
	e.t.Helper()
	// In a cluster, everything the nodes published so far reaches the
	// sessions' mailboxes before the barrier (delivered locally on node 1
	// for its sessions): every node flushes, then takes in what NATS
	// queued for it.
	for _, h := range e.hosts {
		if err := h.ClusterFlush(ctx10(e.t)); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, h := range e.hosts {
		if err := h.ClusterSync(ctx10(e.t)); err != nil {
			e.t.Fatal(err)
		}
	}
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

// openTable is the exact ls_open_chs output for the given rows.
func openTable(rows ...[]string) string {
	cols := []string{"channel_name", "sub_channel_name", "channel_id", "sub_channel_id", "read_only"}
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = max(14, len(c))
		for _, r := range rows {
			widths[i] = max(widths[i], len(r[i]))
		}
		widths[i] += 4
	}
	var b strings.Builder
	b.WriteString("\n")
	for _, l := range append([][]string{cols, {"-------", "-------", "-------", "-------", "-------"}}, rows...) {
		for i, c := range l {
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func isLimitedCast(f wire.Frame) bool { return f.Cmd == uint16(wire.AsyncLimitedCast) }
func isCast(f wire.Frame) bool        { return f.Cmd == uint16(wire.AsyncCast) }

// TestSubChannelAccessLoss checks that sessions close the sub-channels of
// a channel as soon as they lose access (level change, removal, sub-channel
// level change, read-only flag, deletion), on every connection of the user,
// and that open_sub_ch reports what the original silently ignored.
func TestSubChannelAccessLoss(t *testing.T) {
	e := newEnv(t)
	o := e.login("owner2", "owner")
	m1, m2 := e.login("member2", "member#1"), e.login("member2", "member#2")
	all := []*sess{o, m1, m2}

	o.ok(t, "add_ch", "-ch_name access01")
	ch := e.channelID("access01")
	chText := fmt.Sprint(ch)
	o.ok(t, "add_sub_ch", "-ch_name access01 -sub_name alpha")
	o.ok(t, "add_sub_ch", "-ch_name access01 -sub_name beta")
	o.ok(t, "invite_to_ch", "-ch_name access01 -user member2")
	m1.ok(t, "accept_ch", "-ch_name access01")

	openBoth := func() {
		t.Helper()
		m1.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
		m1.ok(t, "open_sub_ch", "-ch_name access01 -sub_name beta")
		m2.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
	}
	openBoth()
	if got, want := m1.ok(t, "ls_open_chs", "").Text(), openTable(
		[]string{"access01", "alpha", chText, "0", "0"}, []string{"access01", "beta", chText, "1", "0"}); got != want {
		t.Errorf("ls_open_chs:\n%q\nwant\n%q", got, want)
	}
	m1.fails(t, "open_sub_ch", "-ch_name access01 -sub_name alpha", "the sub-channel is already open")

	closed := func(step string) {
		t.Helper()
		for _, s := range []*sess{m1, m2} {
			if rows := s.openRows(t); len(rows) != 0 {
				t.Errorf("%s: %s still has %q open", step, s, rows)
			}
		}
	}

	// Level change: both member sessions close everything of the channel,
	// and active peers sharing a sub-channel learn it through PEER_STAT.
	o.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
	e.sync(all...)
	o.ok(t, "set_member_level", "-ch_name access01 -user member2 -level 3")
	e.sync(m1, m2) // not o: its PEER_STATs are read below
	closed("set_member_level")
	// The PEER_STATs are a second hop (sent by the member sessions when they
	// handle the event), so they are awaited rather than synced.
	var none wire.SubChannelList
	want := map[wire.SessionID]bool{m1.sid: true, m2.sid: true}
	for range 2 {
		_, f := o.waitFor(t, isLimitedCast)
		ps, err := wire.ParsePeerStat(f.Payload)
		if f.Type != wire.TypePeerStat || err != nil || len(f.Payload) != wire.PeerStatLen || !want[ps.SessionID] ||
			ps.Open != none || ps.Disconnected {
			t.Errorf("owner received %s, want PEER_STAT of a member session with an empty list", describe([]wire.Frame{f}))
		}
		delete(want, ps.SessionID)
	}

	// Removal: closed at once, and the sub-channels cannot be reopened.
	openBoth()
	o.ok(t, "remove_ch_member", "-ch_name access01 -user member2")
	e.sync(all...)
	closed("remove_ch_member")
	m1.fails(t, "open_sub_ch", "-ch_name access01 -sub_name alpha", "access denied")
	// A cast on the sub-channel no longer reaches the removed member.
	o.sendOK(t, "cast", wire.TypeText, wire.EncodeText("after removal"))
	got := e.sync(all...)
	for _, s := range []*sess{m1, m2} {
		if fs := only(got[s], isCast); len(fs) != 0 {
			t.Errorf("removed member %s received cast %s", s, describe(fs))
		}
	}

	o.ok(t, "invite_to_ch", "-ch_name access01 -user member2")
	m2.ok(t, "accept_ch", "-ch_name access01")
	e.sync(all...)

	// Sub-channel level change closes that sub-channel for everybody,
	// even for sessions that could reopen it.
	openBoth()
	o.ok(t, "set_sub_ch_level", "-ch_name access01 -sub_name alpha -level 3")
	e.sync(all...)
	if rows := m1.openRows(t); len(rows) != 1 || rows[0][1] != "beta" {
		t.Errorf("after set_sub_ch_level m1 has %q open, want only beta", rows)
	}
	if rows := m2.openRows(t); len(rows) != 0 {
		t.Errorf("after set_sub_ch_level m2 has %q open", rows)
	}
	if rows := o.openRows(t); len(rows) != 0 {
		t.Errorf("after set_sub_ch_level the owner has %q open", rows)
	}
	m2.fails(t, "open_sub_ch", "-ch_name access01 -sub_name alpha", "access denied")
	o.ok(t, "set_sub_ch_level", "-ch_name access01 -sub_name alpha -level 4")
	m1.ok(t, "close_sub_ch", "-ch_name access01 -sub_name beta")
	// closing something not open does nothing
	m1.ok(t, "close_sub_ch", "-ch_name access01 -sub_name beta")

	// A read-only flag closes the sub-channel; reopened it is read-only
	// for the flagged level only.
	m1.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
	m2.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
	o.ok(t, "add_rdonly_flag", "-ch_name access01 -sub_id 0 -level 4")
	e.sync(all...)
	closed("add_rdonly_flag")
	m1.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
	o.ok(t, "open_sub_ch", "-ch_name access01 -sub_name alpha")
	if got, want := m1.ok(t, "ls_open_chs", "").Text(), openTable([]string{"access01", "alpha", chText, "0", "1"}); got != want {
		t.Errorf("read-only ls_open_chs:\n%q\nwant\n%q", got, want)
	}
	if got, want := o.ok(t, "ls_open_chs", "").Text(), openTable([]string{"access01", "alpha", chText, "0", "0"}); got != want {
		t.Errorf("owner ls_open_chs:\n%q\nwant\n%q", got, want)
	}
	o.ok(t, "rm_rdonly_flag", "-ch_name access01 -sub_id 0 -level 4")
	e.sync(all...)
	closed("rm_rdonly_flag")

	// Deleting the sub-channel, then the channel.
	openBoth()
	o.ok(t, "rm_sub_ch", "-ch_name access01 -sub_name alpha")
	e.sync(all...)
	if rows := m1.openRows(t); len(rows) != 1 || rows[0][1] != "beta" {
		t.Errorf("after rm_sub_ch m1 has %q open, want only beta", rows)
	}
	if rows := m2.openRows(t); len(rows) != 0 {
		t.Errorf("after rm_sub_ch m2 has %q open", rows)
	}
	o.ok(t, "rm_ch", "-ch_name access01")
	e.sync(all...)
	closed("rm_ch")

	// At most six sub-channels are open at once.
	o.ok(t, "add_ch", "-ch_name access02")
	for i := range 7 {
		o.ok(t, "add_sub_ch", fmt.Sprintf("-ch_name access02 -sub_name sub%02d", i))
	}
	for i := range 6 {
		o.ok(t, "open_sub_ch", fmt.Sprintf("-ch_name access02 -sub_name sub%02d", i))
	}
	o.fails(t, "open_sub_ch", "-ch_name access02 -sub_name sub06", "cannot open more than 6 sub-channels at once; close one first")
	if rows := o.openRows(t); len(rows) != 6 {
		t.Errorf("owner has %d sub-channels open, want 6", len(rows))
	}
	o.ok(t, "close_sub_ch", "-ch_name access02 -sub_name sub03")
	o.ok(t, "open_sub_ch", "-ch_name access02 -sub_name sub06")
}

// role is a user's relation to a channel in the permission test.
type role struct {
	name     string
	level    uint8 // stored level; 0 = no membership row
	pending  bool  // the row is a pending invitation
	override bool  // the session has owner override on (actor only)
}

// eff is the effective level of host.md §6.2.
func (r role) eff() uint8 {
	switch {
	case r.override:
		return 1
	case r.level == 0 || r.pending:
		return 5
	}
	return r.level
}

var (
	actorRoles = []role{{name: "owner", level: 1}, {name: "admin", level: 2}, {name: "officer", level: 3},
		{name: "regular", level: 4}, {name: "invitee", level: 4, pending: true}, {name: "public"},
		{name: "override", override: true}}
	targetRoles = []role{{name: "owner", level: 1}, {name: "admin", level: 2}, {name: "officer", level: 3},
		{name: "regular", level: 4}, {name: "invitee", level: 4, pending: true}, {name: "non-member"}}
)

// permEnv builds one fresh channel per case directly in the store.
type permEnv struct {
	*env
	actor, target, filler store.User
	a                     *sess
	n                     int
}

// channel creates a channel where the actor (and the target, if given)
// have the roles, with sub-channels subx (level 4, id 0) and pubx
// (level 5, id 1) and read-only flags (0, 3) and (1, 5).
func (p *permEnv) channel(t *testing.T, a role, tg *role) store.Channel {
	t.Helper()
	ctx := context.Background()
	st := p.h.Store
	p.n++
	owner := p.filler
	switch {
	case a.level == 1 && !a.pending:
		owner = p.actor
	case tg != nil && tg.level == 1 && !tg.pending:
		owner = p.target
	}
	ch, err := st.CreateChannel(ctx, fmt.Sprintf("perm%04d", p.n), owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	add := func(u store.User, r role) {
		if r.level == 0 || (r.level == 1 && !r.pending) {
			return
		}
		if err := st.AddMember(ctx, store.Member{ChannelID: ch.ID, UserID: u.ID, Pending: r.pending, Level: r.level}); err != nil {
			t.Fatal(err)
		}
	}
	add(p.actor, a)
	if tg != nil {
		add(p.target, *tg)
	}
	if _, err := st.CreateSubChannel(ctx, ch.ID, "subx", 0); err != nil {
		t.Fatal(err)
	}
	pub, err := st.CreateSubChannel(ctx, ch.ID, "pubx", 0)
	if err != nil {
		t.Fatal(err)
	}
	pub.LowestLevel = 5
	if err := st.UpdateSubChannel(ctx, pub); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.ReadOnlyFlag{{ChannelID: ch.ID, SubID: 0, Level: 3}, {ChannelID: ch.ID, SubID: 1, Level: 5}} {
		if err := st.AddReadOnlyFlag(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	return ch
}

// member returns a membership row, or ok false.
func (p *permEnv) member(t *testing.T, ch uint64, u wire.UserID) (store.Member, bool) {
	t.Helper()
	m, err := p.h.Store.Member(context.Background(), ch, u)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return m, err == nil
}

// viewRows counts the data rows a table viewer printed.
func viewRows(res *client.Result) []string {
	lines := strings.Split(strings.TrimRight(res.Text(), "\n"), "\n")
	if len(lines) < 2 {
		return nil
	}
	return lines[2:]
}

// TestPermissions is the permission matrix of host.md §6.2: every command
// with a level rule, run by every kind of actor against every kind of
// target, checking the answer and the database afterwards.
func TestPermissions(t *testing.T) {
	e := newEnv(t)
	p := &permEnv{env: e, actor: e.user("actor"), target: e.user("target"), filler: e.user("filler")}
	p.a = e.login("actor", "actor")
	ctx := context.Background()
	st := e.h.Store

	// threshold commands: allowed iff effective level <= max.
	type threshold struct {
		cmd, args string
		max       uint8
		denied    string
		check     func(t *testing.T, ch store.Channel, allowed bool)
	}
	subLevel := func(t *testing.T, ch store.Channel, name string) (store.SubChannel, bool) {
		sc, err := st.SubChannelByName(ctx, ch.ID, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return sc, err == nil
	}
	hasFlag := func(t *testing.T, ch store.Channel, f store.ReadOnlyFlag) bool {
		fs, err := st.ReadOnlyFlags(ctx, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range fs {
			if g == f {
				return true
			}
		}
		return false
	}
	thresholds := []threshold{
		{"rm_ch", "", 1, "only the owner can delete the channel", func(t *testing.T, ch store.Channel, allowed bool) {
			_, err := st.ChannelByID(ctx, ch.ID)
			if gone := errors.Is(err, store.ErrNotFound); gone != allowed {
				t.Errorf("channel deleted = %v (%v)", gone, err)
			}
		}},
		{"rename_ch", "-new_name %s_r", 1, "only the owner can rename the channel", func(t *testing.T, ch store.Channel, allowed bool) {
			got, err := st.ChannelByID(ctx, ch.ID)
			if err != nil {
				t.Fatal(err)
			}
			if renamed := got.Name == ch.Name+"_r"; renamed != allowed {
				t.Errorf("channel name %q", got.Name)
			}
		}},
		{"add_sub_ch", "-sub_name newsub", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			if _, ok := subLevel(t, ch, "newsub"); ok != allowed {
				t.Errorf("sub-channel created = %v", ok)
			}
		}},
		{"rm_sub_ch", "-sub_name subx", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			if _, ok := subLevel(t, ch, "subx"); ok == allowed {
				t.Errorf("sub-channel still exists = %v", ok)
			}
		}},
		{"rename_sub_ch", "-sub_name subx -new_name suby", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			if _, ok := subLevel(t, ch, "suby"); ok != allowed {
				t.Errorf("sub-channel renamed = %v", ok)
			}
		}},
		{"set_sub_ch_level", "-sub_name subx -level 2", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			sc, _ := subLevel(t, ch, "subx")
			if changed := sc.LowestLevel == 2; changed != allowed {
				t.Errorf("lowest level %d", sc.LowestLevel)
			}
		}},
		{"set_active_flag", "-sub_name subx -state 1", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			if sc, _ := subLevel(t, ch, "subx"); sc.ActiveUpdates != allowed {
				t.Errorf("active flag %v", sc.ActiveUpdates)
			}
		}},
		{"add_rdonly_flag", "-sub_id 7 -level 4", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			if ok := hasFlag(t, ch, store.ReadOnlyFlag{ChannelID: ch.ID, SubID: 7, Level: 4}); ok != allowed {
				t.Errorf("flag added = %v", ok)
			}
		}},
		{"rm_rdonly_flag", "-sub_id 0 -level 3", 2, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			if ok := hasFlag(t, ch, store.ReadOnlyFlag{ChannelID: ch.ID, SubID: 0, Level: 3}); ok == allowed {
				t.Errorf("flag still there = %v", ok)
			}
		}},
		{"invite_to_ch", "-user target", 3, "access denied", func(t *testing.T, ch store.Channel, allowed bool) {
			m, ok := p.member(t, ch.ID, p.target.ID)
			if ok != allowed || (ok && (!m.Pending || m.Level != 4)) {
				t.Errorf("invitation row %v %+v", ok, m)
			}
		}},
		{"ls_ch_members", "", 4, "you are not a member of this channel", nil},
	}

	for _, a := range actorRoles {
		if a.override {
			p.a.ok(t, "ch_owner_override", "-state 1")
		}
		for _, th := range thresholds {
			ch := p.channel(t, a, nil)
			args := "-ch_name " + ch.Name
			if th.args != "" {
				args += " " + strings.ReplaceAll(th.args, "%s", ch.Name)
			}
			allowed := a.eff() <= th.max
			res := p.a.run(t, th.cmd, args)
			what := fmt.Sprintf("%s by %s", th.cmd, a.name)
			if allowed {
				checkErrs(t, what, res, nil)
			} else {
				checkErrs(t, what, res, []string{th.denied})
			}
			if th.check != nil {
				t.Run(what, func(t *testing.T) { th.check(t, ch, allowed) })
			}
		}

		// Listings: members see everything, others only level-5 entries.
		ch := p.channel(t, a, nil)
		member := a.eff() <= 4
		subs := viewRows(p.a.ok(t, "ls_sub_chs", "-ch_name "+ch.Name))
		flags := viewRows(p.a.ok(t, "ls_rdonly_flags", "-ch_name "+ch.Name))
		if member && (len(subs) != 2 || len(flags) != 2) || !member && (len(subs) != 1 || len(flags) != 1 ||
			!strings.Contains(subs[0], "pubx") || strings.Fields(flags[0])[3] != "5") {
			t.Errorf("listings by %s: sub-channels %q, flags %q", a.name, subs, flags)
		}

		// open_sub_ch: effective level <= the sub-channel's lowest level;
		// close_sub_ch: no check.
		for lowest := uint8(1); lowest <= 5; lowest++ {
			ch := p.channel(t, a, nil)
			sc, _ := st.SubChannelByName(ctx, ch.ID, "subx")
			sc.LowestLevel = lowest
			if err := st.UpdateSubChannel(ctx, sc); err != nil {
				t.Fatal(err)
			}
			args := "-ch_name " + ch.Name + " -sub_name subx"
			what := fmt.Sprintf("open_sub_ch level %d by %s", lowest, a.name)
			allowed := a.eff() <= lowest
			if allowed {
				checkErrs(t, what, p.a.run(t, "open_sub_ch", args), nil)
			} else {
				checkErrs(t, what, p.a.run(t, "open_sub_ch", args), []string{"access denied"})
			}
			if rows := p.a.openRows(t); (len(rows) == 1) != allowed {
				t.Errorf("%s: open rows %q", what, rows)
			}
			checkErrs(t, "close_sub_ch by "+a.name, p.a.run(t, "close_sub_ch", args), nil)
			if rows := p.a.openRows(t); len(rows) != 0 {
				t.Errorf("%s: still open after close_sub_ch: %q", what, rows)
			}
		}

		// accept_ch / decline_ch: only the invitee.
		for _, cmd := range []string{"accept_ch", "decline_ch"} {
			ch := p.channel(t, a, nil)
			before, hadRow := p.member(t, ch.ID, p.actor.ID)
			res := p.a.run(t, cmd, "-ch_name "+ch.Name)
			after, hasRow := p.member(t, ch.ID, p.actor.ID)
			what := fmt.Sprintf("%s by %s", cmd, a.name)
			if a.pending {
				checkErrs(t, what, res, nil)
				if cmd == "accept_ch" && (!hasRow || after.Pending || after.Level != 4) {
					t.Errorf("%s: row after %+v", what, after)
				}
				if cmd == "decline_ch" && hasRow {
					t.Errorf("%s: row still there", what)
				}
			} else {
				checkErrs(t, what, res, []string{"you have no invitation to this channel"})
				if hadRow != hasRow || before != after {
					t.Errorf("%s: row changed from %+v to %+v", what, before, after)
				}
			}
		}

		// remove_ch_member on another user.
		for _, tg := range targetRoles {
			if a.level == 1 && !a.pending && tg.level == 1 {
				continue // one owner per channel
			}
			ch := p.channel(t, a, &tg)
			before, hadRow := p.member(t, ch.ID, p.target.ID)
			res := p.a.run(t, "remove_ch_member", "-ch_name "+ch.Name+" -user target")
			_, hasRow := p.member(t, ch.ID, p.target.ID)
			what := fmt.Sprintf("remove_ch_member %s by %s", tg.name, a.name)
			var want []string
			switch {
			case tg.level == 0:
				want = []string{"target is not a member", "access denied"}
			case tg.pending && a.eff() <= 3, !tg.pending && a.eff() < tg.level:
			default:
				want = []string{"access denied"}
			}
			checkErrs(t, what, res, want)
			if allowed := want == nil; (allowed && hasRow) || (!allowed && hadRow != hasRow) {
				t.Errorf("%s: row before %v %+v, after %v", what, hadRow, before, hasRow)
			}
		}

		// remove_ch_member on oneself: members leave, the owner cannot.
		{
			ch := p.channel(t, a, nil)
			_, hadRow := p.member(t, ch.ID, p.actor.ID)
			res := p.a.run(t, "remove_ch_member", "-ch_name "+ch.Name+" -user actor")
			_, hasRow := p.member(t, ch.ID, p.actor.ID)
			what := "leave by " + a.name
			var want []string
			switch {
			case a.level == 1:
				want = []string{"the owner cannot leave; assign a new owner first", "access denied"}
			case a.level == 0:
				want = []string{"target is not a member", "access denied"}
			}
			checkErrs(t, what, res, want)
			if want == nil && hasRow || want != nil && hadRow != hasRow {
				t.Errorf("%s: row before %v, after %v", what, hadRow, hasRow)
			}
		}

		// set_member_level: new level >= caller's and target's > caller's.
		for _, tg := range targetRoles {
			if a.level == 1 && !a.pending && tg.level == 1 {
				continue
			}
			for nl := uint8(1); nl <= 4; nl++ {
				ch := p.channel(t, a, &tg)
				ownerBefore := p.owner(t, ch.ID)
				before, hadRow := p.member(t, ch.ID, p.target.ID)
				res := p.a.run(t, "set_member_level", fmt.Sprintf("-ch_name %s -user target -level %d", ch.Name, nl))
				after, hasRow := p.member(t, ch.ID, p.target.ID)
				what := fmt.Sprintf("set_member_level %s to %d by %s", tg.name, nl, a.name)
				var want []string
				switch {
				case nl < a.eff() || tg.eff() <= a.eff():
					want = []string{"access denied"}
				case tg.level == 0 || tg.pending:
					want = []string{"target is not a member"}
				}
				checkErrs(t, what, res, want)
				if want != nil {
					if hadRow != hasRow || before != after || p.owner(t, ch.ID) != ownerBefore {
						t.Errorf("%s: changed: %+v -> %+v", what, before, after)
					}
					continue
				}
				if !hasRow || after.Level != nl || after.Pending {
					t.Errorf("%s: row after %+v", what, after)
				}
				if nl == 1 {
					prev, _ := p.member(t, ch.ID, ownerBefore)
					if prev.Level != 2 || p.owner(t, ch.ID) != p.target.ID {
						t.Errorf("%s: previous owner now %+v", what, prev)
					}
				}
			}
		}
		if a.override {
			p.a.ok(t, "ch_owner_override", "-state 0")
		}
	}
}

// owner returns the user id of the channel's owner row.
func (p *permEnv) owner(t *testing.T, ch uint64) (id wire.UserID) {
	t.Helper()
	ms, err := p.h.Store.Members(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Level == 1 && !m.Pending {
			id = m.UserID
			n++
		}
	}
	if n != 1 {
		t.Errorf("channel %d has %d owners", ch, n)
	}
	return id
}

// TestCast casts text and binary frames between members sharing a
// sub-channel: every other session with the sub-channel open receives the
// frame unchanged under ASYNC_CAST, the sender never does, sessions on
// other sub-channels do not, and nothing is cast from a read-only
// sub-channel.
func TestCast(t *testing.T) {
	e := newEnv(t)
	a, a2 := e.login("caster1", "caster#1"), e.login("caster1", "caster#2")
	b := e.login("caster2", "regular")
	c := e.login("caster3", "other-sub")
	x := e.login("outsider3", "outsider")
	all := []*sess{a, a2, b, c, x}

	a.fails(t, "cast", "hello", "no sub-channel is open; open a sub-channel you may write to first (open_sub_ch)")
	a.ok(t, "add_ch", "-ch_name castch01")
	a.ok(t, "add_sub_ch", "-ch_name castch01 -sub_name talk")
	a.ok(t, "add_sub_ch", "-ch_name castch01 -sub_name other")
	for _, u := range []string{"caster2", "caster3"} {
		a.ok(t, "invite_to_ch", "-ch_name castch01 -user "+u)
	}
	b.ok(t, "accept_ch", "-ch_name castch01")
	c.ok(t, "accept_ch", "-ch_name castch01")
	for _, s := range []*sess{a, a2, b} {
		s.ok(t, "open_sub_ch", "-ch_name castch01 -sub_name talk")
	}
	c.ok(t, "open_sub_ch", "-ch_name castch01 -sub_name other")
	e.sync(all...)

	castAndCheck := func(step string, from *sess, typ wire.TypeID, payload []byte, to ...*sess) {
		t.Helper()
		res := from.send(t, "cast", typ, payload)
		if len(res.Frames) != 1 || res.Frames[0].Type != wire.TypeIdle {
			t.Errorf("%s: cast answered %s, want only IDLE", step, describe(res.Frames))
		}
		e.expect(step, all, isCast, []wire.Frame{frame(wire.AsyncCast, typ, payload)}, to...)
	}
	castAndCheck("text", a, wire.TypeText, wire.EncodeText("hello there"), a2, b)
	castAndCheck("binary", b, wire.TypeBytes, []byte{0, 1, 2, 0xfe, 0xff}, a, a2)
	castAndCheck("empty", a2, wire.TypeBytes, nil, a, b)
	castAndCheck("any type", b, wire.TypeID(200), []byte("raw"), a, a2)
	castAndCheck("other sub-channel", c, wire.TypeText, wire.EncodeText("anyone?"))
	b.sendFails(t, "cast", wire.TypePingPeers, make([]byte, wire.PeerInfoLen), "PING_PEERS frames cannot be cast; use ping_peers")

	// Read-only for level 4: b may receive on talk but not cast to it.
	a.ok(t, "add_rdonly_flag", "-ch_name castch01 -sub_id 0 -level 4")
	e.sync(all...)
	for _, s := range []*sess{a, a2, b} {
		s.ok(t, "open_sub_ch", "-ch_name castch01 -sub_name talk")
	}
	e.sync(all...)
	b.fails(t, "cast", "not allowed", "every open sub-channel is read-only for you; open a sub-channel you may write to first")
	e.expect("read-only cast", all, isCast, nil)
	castAndCheck("to read-only receiver", a, wire.TypeText, wire.EncodeText("listen"), a2, b)

	// With a writable sub-channel open too, b's casts go there only.
	b.ok(t, "open_sub_ch", "-ch_name castch01 -sub_name other")
	e.sync(all...)
	castAndCheck("writable only", b, wire.TypeText, wire.EncodeText("over here"), c)
}

func isP2P(f wire.Frame) bool { return f.Cmd == uint16(wire.AsyncP2P) }

// TestP2P runs the peer-to-peer handshake: request, decline, accept,
// data both ways, close, and the link ending when a peer disconnects; no
// data passes before a link is open.
func TestP2P(t *testing.T) {
	e := newEnv(t)
	p, q, r := e.login("peer1", "p"), e.login("peer2", "q"), e.login("peer3", "r")
	all := []*sess{p, q, r}
	pInfo := wire.PeerInfo{SessionID: p.sid, UserID: p.uid, UserName: "peer1", AppName: "hosttest"}
	rInfo := wire.PeerInfo{SessionID: r.sid, UserID: r.uid, UserName: "peer3", AppName: "hosttest"}
	data := func(to *sess, b ...byte) []byte { return append(append([]byte(nil), to.sid[:]...), b...) }
	lsP2P := func(s *sess) [][]string {
		t.Helper()
		lines := strings.Split(s.ok(t, "ls_p2p", "").Text(), "\n")
		if len(lines) < 3 || lines[0] != "" || strings.Join(strings.Fields(lines[1]), " ") != "peer_id pending" {
			t.Fatalf("%s: ls_p2p printed %q", s, lines)
		}
		var rows [][]string
		for _, l := range lines[3:] {
			if l != "" {
				rows = append(rows, strings.Fields(l))
			}
		}
		return rows
	}
	row := func(s *sess, pending string) []string { return []string{s.sid.String(), pending} }
	wantRows := func(s *sess, want ...[]string) {
		t.Helper()
		if got := lsP2P(s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: ls_p2p rows %q, want %q", s, got, want)
		}
	}

	// Argument checks; TEXT frames are ignored by the SESSION_ID commands.
	p.sendFails(t, "p2p_request", wire.TypeSessionID, q.sid[:27], "session id must be 28 bytes")
	if res := p.send(t, "p2p_request", wire.TypeText, wire.EncodeText(q.sid.String())); len(res.Frames) != 1 {
		t.Errorf("p2p_request with TEXT answered %s", describe(res.Frames))
	}
	p.sendFails(t, "p2p_request", wire.TypeSessionID, p.sid[:], "cannot open a P2P link with your own session")
	p.sendFails(t, "to_peer", wire.TypeText, q.sid[:20], "payload lacks the session id header")
	p.sendFails(t, "to_peer", wire.TypeText, data(q, 'x', 0), "no open P2P connection with that peer")
	q.sendFails(t, "p2p_open", wire.TypeSessionID, p.sid[:], "no pending request from that peer")
	q.sendFails(t, "p2p_close", wire.TypeSessionID, p.sid[:], "no pending request or connection with that peer")
	e.expect("nothing yet", all, isP2P, nil)

	// Request: q is shown p's PEER_INFO; nobody else hears of it.
	p.sendOK(t, "p2p_request", wire.TypeSessionID, q.sid[:])
	e.expect("request", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2PRequest, pInfo.Marshal())}, q)
	p.sendFails(t, "p2p_request", wire.TypeSessionID, q.sid[:], "a request with that peer is already pending")
	q.sendFails(t, "p2p_request", wire.TypeSessionID, p.sid[:], "a request with that peer is already pending")
	wantRows(p, row(q, "1"))
	wantRows(q, row(p, "1"))

	// No data passes while the request is pending, in either direction.
	p.sendFails(t, "to_peer", wire.TypeText, data(q, 'h', 0), "no open P2P connection with that peer")
	q.sendFails(t, "to_peer", wire.TypeText, data(p, 'h', 0), "no open P2P connection with that peer")
	e.expect("no data while pending", all, isP2P, nil)

	// Accept: p receives P2P_OPEN carrying q's session id.
	q.sendOK(t, "p2p_open", wire.TypeSessionID, p.sid[:])
	e.expect("open", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2POpen, q.sid[:])}, p)
	q.sendFails(t, "p2p_open", wire.TypeSessionID, p.sid[:], "already connected")
	p.sendFails(t, "p2p_request", wire.TypeSessionID, q.sid[:], "already connected to that peer")
	wantRows(p, row(q, "0"))
	wantRows(q, row(p, "0"))
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
	if got, want := p.ok(t, "ls_p2p", "").Text(), "\n"+pad("peer_id", 60)+pad("pending", 11)+"\n"+
		pad("-------", 60)+pad("-------", 11)+"\n"+pad(q.sid.String(), 60)+pad("0", 11)+"\n"; got != want {
		t.Errorf("ls_p2p printed %q, want %q", got, want)
	}

	// Data both ways, text and binary, with the sender's id prepended.
	hi := wire.EncodeText("hi q")
	p.sendOK(t, "to_peer", wire.TypeText, data(q, hi...))
	e.expect("p to q", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeText, append(p.sid[:], hi...))}, q)
	q.sendOK(t, "to_peer", wire.TypeBytes, data(p, 0, 0xff, 7))
	e.expect("q to p", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeBytes, append(q.sid[:], 0, 0xff, 7))}, p)
	q.sendOK(t, "to_peer", wire.TypeBytes, data(p))
	e.expect("empty data", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeBytes, q.sid[:])}, p)
	r.sendFails(t, "to_peer", wire.TypeText, data(q, 'x', 0), "no open P2P connection with that peer")
	p.sendFails(t, "to_peer", wire.TypeP2PClose, data(q), "P2P_CLOSE frames cannot be sent with to_peer; use p2p_request, p2p_open or p2p_close")
	e.expect("refused data", all, isP2P, nil)

	// Close: q receives P2P_CLOSE with p's id; the link is gone on both sides.
	p.sendOK(t, "p2p_close", wire.TypeSessionID, q.sid[:])
	e.expect("close", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2PClose, p.sid[:])}, q)
	wantRows(p)
	wantRows(q)
	q.sendFails(t, "to_peer", wire.TypeText, data(p, 'x', 0), "no open P2P connection with that peer")

	// Decline: r asks p, p declines; r is told.
	r.sendOK(t, "p2p_request", wire.TypeSessionID, p.sid[:])
	e.expect("request 2", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2PRequest, rInfo.Marshal())}, p)
	p.sendOK(t, "p2p_close", wire.TypeSessionID, r.sid[:])
	e.expect("decline", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2PClose, p.sid[:])}, r)
	wantRows(p)
	wantRows(r)
	p.sendFails(t, "p2p_open", wire.TypeSessionID, r.sid[:], "no pending request from that peer")

	// Withdrawing one's own request.
	r.sendOK(t, "p2p_request", wire.TypeSessionID, q.sid[:])
	e.expect("request 3", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2PRequest, rInfo.Marshal())}, q)
	r.sendOK(t, "p2p_close", wire.TypeSessionID, q.sid[:])
	e.expect("withdraw", all, isP2P, []wire.Frame{frame(wire.AsyncP2P, wire.TypeP2PClose, r.sid[:])}, q)
	wantRows(q)

	// Disconnecting ends the link: the peer gets P2P_CLOSE with the
	// departed session's id. A pending request from it is dropped too.
	p.sendOK(t, "p2p_request", wire.TypeSessionID, q.sid[:])
	// q accepts once it has seen the request, as a client does (in a
	// cluster the request may still be on its way to q's node).
	q.until(t, func(f wire.Frame) bool { return isP2P(f) && f.Type == wire.TypeP2PRequest })
	q.sendOK(t, "p2p_open", wire.TypeSessionID, p.sid[:])
	p.sendOK(t, "p2p_request", wire.TypeSessionID, r.sid[:])
	e.sync(all...)
	wantRows(p, row(q, "0"), row(r, "1"))
	_ = p.c.Close()
	for _, s := range []*sess{q, r} {
		_, f := s.waitFor(t, isP2P)
		if want := frame(wire.AsyncP2P, wire.TypeP2PClose, p.sid[:]); !sameFrames([]wire.Frame{f}, []wire.Frame{want}) {
			t.Errorf("%s: after the peer disconnected received %s, want %s", s, describe([]wire.Frame{f}), describe([]wire.Frame{want}))
		}
	}
	got := e.sync(q, r)
	for _, s := range []*sess{q, r} {
		if fs := only(got[s], isP2P); len(fs) != 0 {
			t.Errorf("%s: extra P2P frames %s", s, describe(fs))
		}
		wantRows(s)
	}
}

// TestPingPeers checks ping_peers over an active sub-channel (the global
// active flag is on by default, which makes every sub-channel active).
func TestPingPeers(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.login("pinger1", "a"), e.login("pinger2", "b"), e.login("pinger3", "c")
	all := []*sess{a, b, c}

	a.fails(t, "ping_peers", "", "no active-update sub-channel is open, peers could not answer")
	a.ok(t, "add_ch", "-ch_name pingch01")
	a.ok(t, "add_sub_ch", "-ch_name pingch01 -sub_name room")
	a.ok(t, "add_sub_ch", "-ch_name pingch01 -sub_name hall")
	a.ok(t, "set_sub_ch_level", "-ch_name pingch01 -sub_name room -level 5")
	a.ok(t, "set_sub_ch_level", "-ch_name pingch01 -sub_name hall -level 5")
	a.ok(t, "open_sub_ch", "-ch_name pingch01 -sub_name room")
	b.ok(t, "open_sub_ch", "-ch_name pingch01 -sub_name room")
	c.ok(t, "open_sub_ch", "-ch_name pingch01 -sub_name hall")
	e.sync(all...)

	a.ok(t, "ping_peers", "")
	expectPingReply(t, a, b, "pinger2")
	got := e.sync(all...)
	if fs := only(got[a], pingFrames); len(fs) != 0 {
		t.Errorf("pinger received more: %s", describe(fs))
	}
	if fs := only(got[b], pingFrames); !sameFrames(fs, []wire.Frame{frame(wire.AsyncLimitedCast, wire.TypePeerInfo, peerInfo(a, "pinger1"))}) {
		t.Errorf("pinged peer received %s", describe(fs))
	}
	if fs := only(got[c], pingFrames); len(fs) != 0 {
		t.Errorf("session on another sub-channel received %s", describe(fs))
	}
}

// expectPingReply waits for the peer's answer to a ping. The answer is a
// second hop (the peer's session replies when it handles the ping), so a
// barrier published when ping_peers returns could overtake it.
func expectPingReply(t *testing.T, pinger, peer *sess, peerName string) {
	t.Helper()
	_, f := pinger.waitFor(t, pingFrames)
	if want := frame(wire.AsyncToPeer, wire.TypePeerInfo, peerInfo(peer, peerName)); !sameFrames([]wire.Frame{f}, []wire.Frame{want}) {
		t.Errorf("pinger received %s, want %s", describe([]wire.Frame{f}), describe([]wire.Frame{want}))
	}
}

func peerInfo(s *sess, name string) []byte {
	p := wire.PeerInfo{SessionID: s.sid, UserID: s.uid, UserName: name, AppName: "hosttest"}
	return p.Marshal()
}

func pingFrames(f wire.Frame) bool {
	return (f.Cmd == uint16(wire.AsyncLimitedCast) || f.Cmd == uint16(wire.AsyncToPeer)) && f.Type == wire.TypePeerInfo
}

// TestActiveFlag checks the per-sub-channel active flag while the host's
// global flag is off: set_active_flag emits CH_ACT_FLAG, sessions with the
// sub-channel open recompute their active flag, nothing is forwarded.
func TestActiveFlag(t *testing.T) {
	e := newEnvWith(t, func(s *store.Settings) { s.ActiveUpdates = false })
	a, b := e.login("pinger1", "a"), e.login("pinger2", "b")
	all := []*sess{a, b}
	a.ok(t, "add_ch", "-ch_name pingch01")
	a.ok(t, "add_sub_ch", "-ch_name pingch01 -sub_name room")
	a.ok(t, "set_sub_ch_level", "-ch_name pingch01 -sub_name room -level 5")
	a.ok(t, "open_sub_ch", "-ch_name pingch01 -sub_name room")
	b.ok(t, "open_sub_ch", "-ch_name pingch01 -sub_name room")
	a.fails(t, "ping_peers", "", "no active-update sub-channel is open, peers could not answer")

	res := a.ok(t, "set_active_flag", "-ch_name pingch01 -sub_name room -state 1")
	if res.Text() != "" {
		t.Errorf("set_active_flag printed %q with the global flag off", res.Text())
	}
	e.expect("CH_ACT_FLAG is not forwarded", all, func(f wire.Frame) bool { return f.Cmd == uint16(wire.AsyncChActFlag) }, nil)
	a.ok(t, "ping_peers", "")
	expectPingReply(t, a, b, "pinger2")
	got := e.sync(all...)
	if fs := only(got[a], pingFrames); len(fs) != 0 {
		t.Errorf("pinger received more: %s", describe(fs))
	}
	if fs := only(got[b], pingFrames); !sameFrames(fs, []wire.Frame{frame(wire.AsyncLimitedCast, wire.TypePeerInfo, peerInfo(a, "pinger1"))}) {
		t.Errorf("pinged peer received %s", describe(fs))
	}

	a.ok(t, "set_active_flag", "-ch_name pingch01 -sub_name room -state 0")
	e.sync(all...)
	a.fails(t, "ping_peers", "", "no active-update sub-channel is open, peers could not answer")
	sc, err := e.h.Store.SubChannelByName(context.Background(), e.channelID("pingch01"), "room")
	if err != nil || sc.ActiveUpdates {
		t.Errorf("sub-channel after set_active_flag 0: %+v, %v", sc, err)
	}
}

// dbState renders every channel, membership, sub-channel and read-only
// flag row, to check that refused commands change nothing.
func (e *env) dbState() string {
	e.t.Helper()
	var b strings.Builder
	for _, v := range []store.View{store.ViewChannels, store.ViewMembers, store.ViewSubChannels, store.ViewReadOnly} {
		rows, err := e.h.Store.ListView(context.Background(), v, nil, store.Page{Limit: 10000})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "%s %q\n", v, r.Cells)
		}
	}
	return b.String()
}

// TestArgumentChecks runs every command with missing, malformed and
// unknown arguments: each gets its error text and nothing changes.
func TestArgumentChecks(t *testing.T) {
	e := newEnv(t)
	o := e.login("argowner", "owner")
	e.user("arguser")
	o.ok(t, "add_ch", "-ch_name argch01")
	o.ok(t, "add_ch", "-ch_name argch02")
	o.ok(t, "add_sub_ch", "-ch_name argch01 -sub_name subone")
	o.ok(t, "add_sub_ch", "-ch_name argch01 -sub_name subtwo")
	o.ok(t, "add_rdonly_flag", "-ch_name argch01 -sub_id 0 -level 3")
	o.ok(t, "invite_to_ch", "-ch_name argch02 -user arguser")

	const (
		chMissing  = "-ch_name missing"
		subMissing = "-sub_name missing"
		badCh      = "invalid channel name (4-32 chars, no spaces)"
		badSub     = "invalid sub-channel name (4-32 chars, no spaces)"
		badNew     = "invalid new name (4-32 chars, no spaces)"
		badUser    = "invalid user name (2-24 chars, no spaces)"
		noCh       = "no such channel"
		noSub      = "no such sub-channel"
		noUser     = "no such user"
		level14    = "level must be 1-4"
		level15    = "level must be 1-5"
		state01    = "-state must be 1 or 0"
	)
	long := strings.Repeat("x", 33)
	cases := []struct {
		cmd, args string
		errs      []string
	}{
		{"add_ch", "", []string{chMissing}},
		{"add_ch", "-ch_name -x", []string{chMissing}},
		{"add_ch", "-ch_name abc", []string{badCh}},
		{"add_ch", "-ch_name " + long, []string{badCh}},
		{"add_ch", "-ch_name 'has space'", []string{badCh}},
		{"add_ch", "-ch_name ARGCH01", []string{"channel already exists"}},
		{"rm_ch", "", []string{chMissing}},
		{"rm_ch", "-ch_name ab", []string{badCh}},
		{"rm_ch", "-ch_name nosuch1", []string{noCh}},
		{"rename_ch", "", []string{chMissing}},
		{"rename_ch", "-ch_name argch01", []string{"-new_name missing"}},
		{"rename_ch", "-ch_name argch01 -x y -new_name abcde", []string{"-new_name missing"}}, // 4-token limit
		{"rename_ch", "-ch_name ab -new_name abcde", []string{badCh}},
		{"rename_ch", "-ch_name argch01 -new_name ab", []string{badNew}},
		{"rename_ch", "-ch_name nosuch1 -new_name abcde", []string{noCh}},
		{"rename_ch", "-ch_name argch01 -new_name ARGCH02", []string{"channel already exists"}},
		{"find_ch", "-name ab", []string{"not a valid channel name"}},
		{"find_ch", "-id x1", []string{"not a valid channel id"}},
		{"find_ch", "-id 0", []string{"not a valid channel id"}},
		{"invite_to_ch", "", []string{chMissing}},
		{"invite_to_ch", "-ch_name argch01", []string{"-user missing"}},
		{"invite_to_ch", "-ch_name ab -user arguser", []string{badCh}},
		{"invite_to_ch", "-ch_name argch01 -user a", []string{badUser}},
		{"invite_to_ch", "-ch_name nosuch1 -user arguser", []string{noCh}},
		{"invite_to_ch", "-ch_name argch01 -user nosuchuser", []string{noUser}},
		{"invite_to_ch", "-ch_name argch01 -user argowner", []string{"already a member"}},
		{"invite_to_ch", "-ch_name argch02 -user arguser", []string{"already invited"}},
		{"accept_ch", "", []string{chMissing}},
		{"accept_ch", "-ch_name ab", []string{badCh}},
		{"accept_ch", "-ch_name nosuch1", []string{noCh}},
		{"accept_ch", "-ch_name argch01", []string{"you have no invitation to this channel"}},
		{"decline_ch", "", []string{chMissing}},
		{"decline_ch", "-ch_name argch02", []string{"you have no invitation to this channel"}},
		{"remove_ch_member", "", []string{chMissing}},
		{"remove_ch_member", "-ch_name argch01", []string{"-user missing"}},
		{"remove_ch_member", "-ch_name ab -user arguser", []string{badCh}},
		{"remove_ch_member", "-ch_name argch01 -user 'a b'", []string{badUser}},
		{"remove_ch_member", "-ch_name nosuch1 -user arguser", []string{noCh}},
		{"remove_ch_member", "-ch_name argch01 -user nosuchuser", []string{noUser}},
		{"remove_ch_member", "-ch_name argch01 -user arguser", []string{"target is not a member", "access denied"}},
		{"remove_ch_member", "-ch_name argch01 -user argowner", []string{"the owner cannot leave; assign a new owner first", "access denied"}},
		{"set_member_level", "", []string{chMissing}},
		{"set_member_level", "-ch_name argch01", []string{"-user missing"}},
		{"set_member_level", "-ch_name argch01 -user arguser", []string{"-level missing"}},
		{"set_member_level", "-ch_name ab -user arguser -level 2", []string{badCh}},
		{"set_member_level", "-ch_name argch01 -user a -level 2", []string{badUser}},
		{"set_member_level", "-ch_name argch01 -user arguser -level 5", []string{level14}},
		{"set_member_level", "-ch_name argch01 -user arguser -level 0", []string{level14}},
		{"set_member_level", "-ch_name argch01 -user arguser -level two", []string{level14}},
		{"set_member_level", "-ch_name nosuch1 -user arguser -level 2", []string{noCh}},
		{"set_member_level", "-ch_name argch01 -user nosuchuser -level 2", []string{noUser}},
		{"set_member_level", "-ch_name argch01 -user argowner -level 2", []string{"access denied"}},
		{"set_member_level", "-ch_name argch01 -user arguser -level 2", []string{"target is not a member"}},
		{"set_member_level", "-ch_name argch02 -user arguser -level 2", []string{"target is not a member"}},
		{"ls_ch_members", "", []string{chMissing}},
		{"ls_ch_members", "-ch_name ab", []string{badCh}},
		{"ls_ch_members", "-ch_name nosuch1", []string{noCh}},
		{"ch_owner_override", "", []string{"-state missing"}},
		{"ch_owner_override", "-state 2", []string{state01}},
		{"ch_owner_override", "-state yes", []string{state01}},
		{"add_sub_ch", "", []string{chMissing}},
		{"add_sub_ch", "-ch_name argch01", []string{subMissing}},
		{"add_sub_ch", "-ch_name ab -sub_name abcd", []string{badCh}},
		{"add_sub_ch", "-ch_name argch01 -sub_name ab", []string{badSub}},
		{"add_sub_ch", "-ch_name nosuch1 -sub_name abcd", []string{noCh}},
		{"add_sub_ch", "-ch_name argch01 -sub_name SUBONE", []string{"sub-channel already exists"}},
		{"rm_sub_ch", "", []string{chMissing}},
		{"rm_sub_ch", "-ch_name argch01", []string{subMissing}},
		{"rm_sub_ch", "-ch_name argch01 -sub_name nosub1", []string{noSub}},
		{"rename_sub_ch", "-ch_name argch01 -sub_name subone", []string{"-new_name missing"}},
		{"rename_sub_ch", "-ch_name argch01 -sub_name s -new_name abcd", []string{badSub}},
		{"rename_sub_ch", "-ch_name argch01 -sub_name subone -new_name ab", []string{badNew}},
		{"rename_sub_ch", "-ch_name nosuch1 -sub_name subone -new_name abcd", []string{noCh}},
		{"rename_sub_ch", "-ch_name argch01 -sub_name nosub1 -new_name abcd", []string{noSub}},
		{"rename_sub_ch", "-ch_name argch01 -sub_name subone -new_name SubTwo", []string{"sub-channel already exists"}},
		{"ls_sub_chs", "", []string{chMissing}},
		{"ls_sub_chs", "-ch_name ab", []string{badCh}},
		{"ls_sub_chs", "-ch_name nosuch1", []string{noCh}},
		{"set_sub_ch_level", "-ch_name argch01 -sub_name subone", []string{"-level missing"}},
		{"set_sub_ch_level", "-ch_name argch01 -sub_name subone -level 6", []string{level15}},
		{"set_sub_ch_level", "-ch_name argch01 -sub_name subone -level 0", []string{level15}},
		{"set_sub_ch_level", "-ch_name argch01 -sub_name nosub1 -level 3", []string{noSub}},
		{"set_active_flag", "-ch_name argch01 -sub_name subone", []string{"-state missing"}},
		{"set_active_flag", "-ch_name argch01 -sub_name subone -state 2", []string{state01}},
		{"set_active_flag", "-ch_name argch01 -sub_name nosub1 -state 1", []string{noSub}},
		{"add_rdonly_flag", "", []string{chMissing}},
		{"add_rdonly_flag", "-ch_name argch01", []string{"-sub_id missing"}},
		{"add_rdonly_flag", "-ch_name argch01 -sub_id 0", []string{"-level missing"}},
		{"add_rdonly_flag", "-ch_name ab -sub_id 0 -level 1", []string{badCh}},
		{"add_rdonly_flag", "-ch_name argch01 -sub_id 256 -level 1", []string{"sub id must be 0-255"}},
		{"add_rdonly_flag", "-ch_name argch01 -sub_id x -level 1", []string{"sub id must be 0-255"}},
		{"add_rdonly_flag", "-ch_name argch01 -sub_id 0 -level 6", []string{level15}},
		{"add_rdonly_flag", "-ch_name nosuch1 -sub_id 0 -level 1", []string{noCh}},
		{"add_rdonly_flag", "-ch_name argch01 -sub_id 0 -level 3", []string{"read-only flag for that sub id and level already exists"}},
		{"rm_rdonly_flag", "-ch_name argch01 -sub_id 0 -level 0", []string{level15}},
		{"rm_rdonly_flag", "-ch_name argch01 -sub_id 5 -level 5", []string{"no such read-only flag"}},
		{"ls_rdonly_flags", "", []string{chMissing}},
		{"ls_rdonly_flags", "-ch_name nosuch1", []string{noCh}},
		{"open_sub_ch", "", []string{chMissing}},
		{"open_sub_ch", "-ch_name argch01", []string{subMissing}},
		{"open_sub_ch", "-ch_name nosuch1 -sub_name subone", []string{noCh}},
		{"open_sub_ch", "-ch_name argch01 -sub_name nosub1", []string{noSub}},
		{"close_sub_ch", "", []string{chMissing}},
		{"close_sub_ch", "-ch_name argch01 -sub_name nosub1", []string{noSub}},
	}
	e.sync(o)
	before := e.dbState()
	for _, c := range cases {
		o.fails(t, c.cmd, c.args, c.errs...)
	}
	if after := e.dbState(); after != before {
		t.Errorf("refused commands changed the database:\n%s\nwas\n%s", after, before)
	}
	if rows := o.openRows(t); len(rows) != 0 {
		t.Errorf("refused commands opened %q", rows)
	}
	e.expect("refused commands emit nothing", []*sess{o}, isChannelEvent, nil)

	// Renaming to a different case of its own name is allowed.
	o.ok(t, "rename_ch", "-ch_name argch01 -new_name ArgCh01")
	o.ok(t, "rename_sub_ch", "-ch_name argch01 -sub_name subone -new_name SubOne")
}

// TestSubChannelLimit checks the max_sub_channels setting.
func TestSubChannelLimit(t *testing.T) {
	e := newEnvWith(t, func(s *store.Settings) { s.MaxSubChannels = 2 })
	o := e.login("limiter", "owner")
	o.ok(t, "add_ch", "-ch_name limit01")
	o.ok(t, "add_sub_ch", "-ch_name limit01 -sub_name sub0")
	o.ok(t, "add_sub_ch", "-ch_name limit01 -sub_name sub1")
	o.fails(t, "add_sub_ch", "-ch_name limit01 -sub_name sub2", "channel reached its maximum of 2 sub-channels")
	// Freed ids are reused, smallest first.
	o.ok(t, "rm_sub_ch", "-ch_name limit01 -sub_name sub0")
	o.ok(t, "add_sub_ch", "-ch_name limit01 -sub_name sub2")
	sc, err := e.h.Store.SubChannelByName(context.Background(), e.channelID("limit01"), "sub2")
	if err != nil || sc.ID != 0 || sc.LowestLevel != 4 || sc.ActiveUpdates {
		t.Errorf("new sub-channel %+v, %v", sc, err)
	}
}

// fieldsOf splits viewer data rows into fields.
func fieldsOf(rows []string) [][]string {
	var out [][]string
	for _, r := range rows {
		out = append(out, strings.Fields(r))
	}
	return out
}

// TestListings checks that the channel listings are restricted by exact
// channel id and caller, and that they page.
func TestListings(t *testing.T) {
	e := newEnv(t)
	a, b := e.login("lister1", "a"), e.login("lister2", "b")
	ctx := context.Background()
	st := e.h.Store
	for _, name := range []string{"lst01", "lst011", "lst02"} {
		a.ok(t, "add_ch", "-ch_name "+name)
	}
	c := e.login("lister3", "c")
	c.ok(t, "add_ch", "-ch_name other01")
	id01, id011, id02, idOther := e.channelID("lst01"), e.channelID("lst011"), e.channelID("lst02"), e.channelID("other01")
	a.ok(t, "invite_to_ch", "-ch_name lst01 -user lister2")
	b.ok(t, "accept_ch", "-ch_name lst01")
	a.ok(t, "invite_to_ch", "-ch_name lst02 -user lister2")
	a.ok(t, "add_sub_ch", "-ch_name lst01 -sub_name sub01")
	a.ok(t, "add_sub_ch", "-ch_name lst011 -sub_name sub011")
	a.ok(t, "add_rdonly_flag", "-ch_name lst01 -sub_id 0 -level 4")
	a.ok(t, "add_rdonly_flag", "-ch_name lst011 -sub_id 0 -level 5")
	disp := "BeeDisp"
	if err := st.UpdateUser(ctx, e.user("lister2").ID, store.UserUpdate{DisplayName: &disp}); err != nil {
		t.Fatal(err)
	}

	check := func(what string, got [][]string, want ...[]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: rows %q, want %q", what, got, want)
		}
	}
	str := func(n uint64) string { return fmt.Sprint(n) }

	res := b.ok(t, "ls_chs", "")
	if !strings.HasPrefix(res.Text(), "channel_id") {
		t.Errorf("ls_chs printed %q", res.Text())
	}
	check("ls_chs", fieldsOf(viewRows(res)), []string{str(id01), "lst01", "0", "4"}, []string{str(id02), "lst02", "1", "4"})
	check("ls_chs of c", fieldsOf(viewRows(c.ok(t, "ls_chs", "-channel_name lst"))), []string{str(idOther), "other01", "0", "1"})

	check("find_ch -name", fieldsOf(viewRows(c.ok(t, "find_ch", "-name LST0"))),
		[]string{str(id01), "lst01"}, []string{str(id011), "lst011"}, []string{str(id02), "lst02"})
	check("find_ch -id", fieldsOf(viewRows(c.ok(t, "find_ch", "-id "+str(id01)))), []string{str(id01), "lst01"})
	if rows := viewRows(c.ok(t, "find_ch", "")); len(rows) != 4 {
		t.Errorf("find_ch without filter: %q", rows)
	}

	check("ls_ch_members", fieldsOf(viewRows(b.ok(t, "ls_ch_members", "-ch_name lst01"))),
		[]string{str(id01), "lister1", "0", "1"}, []string{str(id01), "lister2", "BeeDisp", "0", "4"})
	check("ls_ch_members -user_name", fieldsOf(viewRows(b.ok(t, "ls_ch_members", "-ch_name lst01 -user_name ter2"))),
		[]string{str(id01), "lister2", "BeeDisp", "0", "4"})
	check("ls_ch_members -disp_name", fieldsOf(viewRows(b.ok(t, "ls_ch_members", "-ch_name lst01 -disp_name beed"))),
		[]string{str(id01), "lister2", "BeeDisp", "0", "4"})
	check("ls_ch_members of lst02", fieldsOf(viewRows(a.ok(t, "ls_ch_members", "-ch_name lst02"))),
		[]string{str(id02), "lister1", "0", "1"}, []string{str(id02), "lister2", "BeeDisp", "1", "4"})
	c.fails(t, "ls_ch_members", "-ch_name lst01", "you are not a member of this channel")
	b.fails(t, "ls_ch_members", "-ch_name lst02", "you are not a member of this channel")

	check("ls_sub_chs", fieldsOf(viewRows(b.ok(t, "ls_sub_chs", "-ch_name lst01"))), []string{"0", "sub01", "4", "0"})
	check("ls_sub_chs non-member", fieldsOf(viewRows(c.ok(t, "ls_sub_chs", "-ch_name lst01"))))
	check("ls_rdonly_flags", fieldsOf(viewRows(b.ok(t, "ls_rdonly_flags", "-ch_name lst01"))), []string{"lst01", str(id01), "0", "4"})
	check("ls_rdonly_flags non-member", fieldsOf(viewRows(c.ok(t, "ls_rdonly_flags", "-ch_name lst011"))), []string{"lst011", str(id011), "0", "5"})
	check("ls_rdonly_flags non-member, level 4 flag", fieldsOf(viewRows(c.ok(t, "ls_rdonly_flags", "-ch_name lst01"))))

	// Paging: 51 sub-channels print as 50 rows, a question, then 1 row;
	// the answers reach the viewer.
	for i := range 51 {
		if _, err := st.CreateSubChannel(ctx, idOther, fmt.Sprintf("page%03d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	prompts := 0
	p := client.TextPrompts(client.PromptFunc(func(context.Context, wire.Frame) (string, error) {
		prompts++
		return "y", nil
	}), func(f wire.Frame) bool { return strings.HasPrefix(wire.DecodeText(f.Payload), "next page") })
	res, err := c.c.RunInteractive(ctx10(t), "ls_sub_chs", "-ch_name other01", p)
	if err != nil || res.Err() != nil {
		t.Fatalf("ls_sub_chs paging: %v %v", err, res.Err())
	}
	n := strings.Count(res.Text(), "page0")
	if prompts != 1 || n != 51 {
		t.Errorf("ls_sub_chs paging: %d prompts, %d rows", prompts, n)
	}
}
