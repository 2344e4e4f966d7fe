package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/wire"
)

// fake is a Member that records what it receives.
type fake struct {
	id     wire.SessionID
	mu     sync.Mutex
	msgs   []*Message
	frames [][]byte
}

func newFake(n byte) *fake { return &fake{id: wire.SessionID{n, 0xAA}} }

func (f *fake) SessionID() wire.SessionID { return f.id }
func (f *fake) Deliver(m *Message) Stall {
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	return Stall{}
}
func (f *fake) DeliverFrame(b []byte) Stall {
	f.mu.Lock()
	f.frames = append(f.frames, b)
	f.mu.Unlock()
	return Stall{}
}

// take returns and clears what the member received.
func (f *fake) take() ([]*Message, [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, fr := f.msgs, f.frames
	f.msgs, f.frames = nil, nil
	return m, fr
}

func user(n byte) wire.UserID                { return wire.UserID{n, 0xBB} }
func sub(ch uint64, s uint8) wire.SubChannel { return wire.SubChannel{Channel: ch, Sub: s} }

func list(subs ...wire.SubChannel) wire.SubChannelList {
	var l wire.SubChannelList
	for _, s := range subs {
		l.Add(s)
	}
	return l
}

// got reports which members received something (messages or frames) and
// checks that none received more than one thing.
func got(t *testing.T, members ...*fake) []*fake {
	t.Helper()
	var out []*fake
	for _, m := range members {
		msgs, frames := m.take()
		switch n := len(msgs) + len(frames); {
		case n == 1:
			out = append(out, m)
		case n > 1:
			t.Errorf("session %x received %d deliveries, want at most 1", m.id[0], n)
			out = append(out, m)
		}
	}
	return out
}

func wantGot(t *testing.T, what string, all []*fake, want ...*fake) {
	t.Helper()
	if g := got(t, all...); !slices.Equal(g, want) {
		ids := func(fs []*fake) []byte {
			var b []byte
			for _, f := range fs {
				b = append(b, f.id[0])
			}
			return b
		}
		t.Fatalf("%s: delivered to %v, want %v", what, ids(g), ids(want))
	}
}

func TestJoinLeaveAndIndexes(t *testing.T) {
	b := New()
	a, c, d := newFake(1), newFake(2), newFake(3)
	all := []*fake{a, c, d}
	for _, m := range all {
		b.Join(m)
	}
	b.Join(a) // joining twice is a no-op
	if b.Len() != 3 {
		t.Fatalf("Len %d", b.Len())
	}

	// SetUser: by-user index.
	b.SetUser(a.id, user(1))
	b.SetUser(c.id, user(1))
	b.SetUser(d.id, user(2))
	if got := b.SessionsOf(user(1)); len(got) != 2 || !slices.Contains(got, a.id) || !slices.Contains(got, c.id) {
		t.Fatalf("SessionsOf(u1) = %x", got)
	}
	b.Publish(&Message{ID: wire.AsyncRWMyInfo, Data: ub(user(1))}, true)
	wantGot(t, "ToUser u1", all, a, c)
	b.SetUser(c.id, user(2)) // moves c
	b.Publish(&Message{ID: wire.AsyncRWMyInfo, Data: ub(user(2))}, true)
	wantGot(t, "ToUser u2 after moving c", all, c, d)
	b.SetUser(d.id, wire.UserID{}) // logout
	b.Publish(&Message{ID: wire.AsyncRWMyInfo, Data: ub(user(2))}, true)
	wantGot(t, "ToUser u2 after d logged out", all, c)
	if got := b.SessionsOf(user(2)); !slices.Equal(got, []wire.SessionID{c.id}) {
		t.Fatalf("SessionsOf(u2) = %x", got)
	}

	// SetOpen: by-sub-channel and by-channel-opened indexes.
	s1, s2, s3 := sub(10, 1), sub(10, 2), sub(20, 1)
	b.SetOpen(a.id, list(s1, s2))
	b.SetOpen(c.id, list(s2))
	b.SetOpen(d.id, list(s3))
	b.Publish(&Message{ID: wire.AsyncChActFlag, Data: wire.AppendSubChannel(nil, s2)}, true)
	wantGot(t, "ToSubChannel s2", all, a, c)
	b.SetOpen(a.id, list(s1)) // replaces the old list
	b.Publish(&Message{ID: wire.AsyncChActFlag, Data: wire.AppendSubChannel(nil, s2)}, true)
	wantGot(t, "ToSubChannel s2 after a closed it", all, c)
	b.Publish(&Message{ID: wire.AsyncRenameCh, Data: chid(20)}, true)
	wantGot(t, "ToChannel 20 (openers)", all, d)

	// SetChannels: by-channel membership index.
	b.SetChannels(a.id, []uint64{30, 40})
	b.SetChannels(c.id, []uint64{40})
	b.Publish(&Message{ID: wire.AsyncRenameCh, Data: chid(40)}, true)
	wantGot(t, "ToChannel 40", all, a, c)
	b.SetChannels(a.id, []uint64{30})
	b.Publish(&Message{ID: wire.AsyncRenameCh, Data: chid(40)}, true)
	wantGot(t, "ToChannel 40 after a left it", all, c)

	// Setters on an unknown session do nothing.
	b.SetUser(wire.SessionID{99}, user(1))
	b.SetOpen(wire.SessionID{99}, list(s1))
	b.SetChannels(wire.SessionID{99}, []uint64{30})

	// Leave removes the session from every index; the indexes do not leak.
	b.Leave(a.id)
	b.Leave(a.id)
	b.Publish(&Message{ID: wire.AsyncChActFlag, Data: wire.AppendSubChannel(nil, s1)}, true)
	b.Publish(&Message{ID: wire.AsyncRenameCh, Data: chid(30)}, true)
	b.Publish(&Message{ID: wire.AsyncRWMyInfo, Data: ub(user(1))}, true)
	wantGot(t, "after a left", all)
	if b.Len() != 2 || len(b.SessionsOf(user(1))) != 0 {
		t.Fatalf("Len %d, SessionsOf(u1) %x", b.Len(), b.SessionsOf(user(1)))
	}
	b.Leave(c.id)
	b.Leave(d.id)
	if n := len(b.sessions) + len(b.byUser) + len(b.bySub) + len(b.byChannel) + len(b.openCh); n != 0 {
		t.Fatalf("indexes hold %d keys after every session left", n)
	}
}

func ub(u wire.UserID) []byte { return u[:] }

func chid(ch uint64) []byte { return binary.LittleEndian.AppendUint64(nil, ch) }

// seed is seed/async.md §5.1: client (vs internal), audience, restricted.
var seed = map[wire.AsyncID]struct {
	client     bool
	audience   Audience
	restricted bool
}{
	1: {true, None, false}, 2: {true, None, false}, 3: {false, Private, false}, 4: {true, Public, false},
	5: {false, Private, false}, 6: {false, Private, false}, 7: {true, Public, false}, 8: {false, Public, false},
	9: {false, Public, false}, 10: {false, Public, false}, 11: {false, Private, false}, 12: {false, Public, false},
	13: {false, Public, false}, 14: {false, Private, false}, 15: {false, Private, false}, 16: {true, Public, true},
	17: {true, Public, false}, 18: {false, Public, false}, 19: {true, Public, false}, 20: {false, Public, false},
	21: {true, Public, false}, 22: {true, Public, false}, 23: {true, Public, false}, 24: {false, Public, false},
	25: {true, Public, false}, 26: {true, Public, false}, 27: {true, Public, false}, 28: {true, Public, false},
	29: {true, Public, false}, 30: {true, Public, false}, 31: {true, Public, false}, 32: {true, Public, false},
	33: {true, Public, false}, 34: {true, Public, false}, 35: {true, None, false}, 36: {true, None, false},
	37: {false, Public, false}, 38: {false, Private, false}, 39: {false, Private, false}, 40: {false, Private, false},
	41: {false, Private, false}, 42: {false, Private, false}, 43: {false, Private, false}, 44: {false, Private, false},
}

// privileged ids: host-only unless the module is trusted (commands.md §15
// notes).
var privileged = map[wire.AsyncID]bool{3: true, 5: true, 11: true, 14: true, 15: true}

// lengths are the payload checks of commands.md §15.2, with the intended
// member-event checks the original never applies (exact, min).
var lengths = map[wire.AsyncID][2]int{
	wire.AsyncMaxSes: {4, 0}, wire.AsyncUserDeleted: {32, 0}, wire.AsyncRWMyInfo: {32, 0},
	wire.AsyncUserLogin: {32, 0}, wire.AsyncUserRenamed: {80, 0}, wire.AsyncDispRenamed: {96, 0},
	wire.AsyncUserRankChanged: {36, 0}, wire.AsyncOpenSubCh: {9, 0}, wire.AsyncCloseSubCh: {9, 0},
	wire.AsyncRmSubCh: {0, 9}, wire.AsyncSubChLevelChg: {0, 9}, wire.AsyncAddRdonly: {0, 9},
	wire.AsyncRmRdonly: {0, 9}, wire.AsyncChActFlag: {0, 9}, wire.AsyncNewSubCh: {0, 9},
	wire.AsyncRenameSubCh: {0, 9}, wire.AsyncCast: {0, 55}, wire.AsyncLimitedCast: {0, 55},
	wire.AsyncP2P: {0, 57}, wire.AsyncCloseP2P: {0, 28}, wire.AsyncToPeer: {0, 29},
	wire.AsyncNewChMember: {0, 40}, wire.AsyncInvitedToCh: {0, 40}, wire.AsyncInviteAccepted: {0, 40},
	wire.AsyncRmChMember: {0, 40}, wire.AsyncMemLevelChanged: {0, 41}, wire.AsyncDelCh: {0, 8},
	wire.AsyncRenameCh: {0, 10}, wire.AsyncEnableMod: {0, 2}, wire.AsyncDisableMod: {0, 2},
}

func TestRoutesMatchSeed(t *testing.T) {
	for id := wire.AsyncID(1); id <= wire.MaxAsyncID; id++ {
		r, ok := Lookup(id)
		s := seed[id]
		if !ok || r.ID != id || r.Name != id.String() {
			t.Fatalf("route %d: %+v", id, r)
		}
		if r.Client != s.client || r.Audience != s.audience || r.Restricted != s.restricted || r.Privileged != privileged[id] {
			t.Errorf("%v: route %+v, seed %+v privileged %v", id, r, s, privileged[id])
		}
		l := lengths[id]
		if r.ExactLen != l[0] || r.MinLen != l[1] {
			t.Errorf("%v: exact %d min %d, want %d %d", id, r.ExactLen, r.MinLen, l[0], l[1])
		}
		if r.Audience != Public && r.Target != ToSelf && r.Audience != None {
			t.Errorf("%v: private id routed as %v", id, r.Target)
		}
	}
	for _, id := range []wire.AsyncID{0, 45, 255, 256, 0xFFFF} {
		if _, ok := Lookup(id); ok {
			t.Errorf("Lookup(%d) defined", id)
		}
	}
}

// okLen returns a payload length the id's checks accept.
func okLen(id wire.AsyncID) int {
	l := lengths[id]
	return max(l[0], l[1])
}

func TestEmitRules(t *testing.T) {
	modes := []wire.TypeID{wire.TypePrivIPC, wire.TypePubIPC, wire.TypePubIPCFeedback, wire.TypeText, 0}
	ids := []wire.AsyncID{0, 45, 255, 256}
	for id := wire.AsyncID(1); id <= wire.MaxAsyncID; id++ {
		ids = append(ids, id)
	}
	for _, trusted := range []bool{false, true} {
		for _, id := range ids {
			for _, mode := range modes {
				s, defined := seed[id]
				var want error
				switch {
				case !mode.IsIPC():
					want = ErrBadMode
				case !defined:
					want = ErrUnknownID
				case s.restricted, privileged[id] && !trusted:
					want = ErrRestricted
				case s.audience == None, s.audience == Private && mode != wire.TypePrivIPC,
					s.audience == Public && mode == wire.TypePrivIPC:
					want = ErrNoAudience
				}
				b := New()
				from := newFake(1)
				b.Join(from)
				data := make([]byte, okLen(id))
				msg, err := b.Emit(from.id, mode, id, data, trusted)
				name := fmt.Sprintf("%v with %v trusted=%v", id, mode, trusted)
				switch {
				case want == nil && err != nil:
					t.Errorf("%s: %v", name, err)
				case want != nil && !errors.Is(err, want):
					t.Errorf("%s: error %v, want %v", name, err, want)
				case want != nil && msg != nil:
					t.Errorf("%s: refused but returned a message", name)
				case want == nil && (msg == nil || msg.ID != id || msg.Mode != mode || msg.From != from.id):
					t.Errorf("%s: message %+v", name, msg)
				}
				// Emit never delivers to the emitting session itself.
				if msgs, frames := from.take(); len(msgs)+len(frames) != 0 {
					t.Errorf("%s: delivered to the emitter", name)
				}
			}
		}
	}
}

func TestEmitLengths(t *testing.T) {
	b := New()
	from := newFake(1)
	b.Join(from)
	for id, l := range lengths {
		mode := wire.TypePubIPC
		if seed[id].audience == Private {
			mode = wire.TypePrivIPC
		}
		var bad []int
		if l[0] > 0 {
			bad = []int{0, l[0] - 1, l[0] + 1}
		} else {
			bad = []int{0, l[1] - 1}
		}
		for _, n := range bad {
			_, err := b.Emit(from.id, mode, id, make([]byte, n), true)
			if seed[id].restricted {
				if !errors.Is(err, ErrRestricted) {
					t.Errorf("%v: %v", id, err)
				}
				continue
			}
			if !errors.Is(err, ErrBadLength) {
				t.Errorf("%v with %d bytes: error %v, want ErrBadLength", id, n, err)
			}
		}
	}
}

func TestEmitDeliversToOthers(t *testing.T) {
	b := New()
	a, c := newFake(1), newFake(2)
	b.Join(a)
	b.Join(c)
	for _, mode := range []wire.TypeID{wire.TypePubIPC, wire.TypePubIPCFeedback} {
		msg, err := b.Emit(a.id, mode, wire.AsyncEnableMod, []byte("/path"), false)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := c.take()
		if len(msgs) != 1 || msgs[0] != msg || string(msg.Data) != "/path" {
			t.Fatalf("%v: other got %v", mode, msgs)
		}
		// The emitter acts on the returned message itself (feedback).
		wantGot(t, "emitter", []*fake{a})
	}
	// PRIV_IPC: nothing goes through the bus; the caller acts on the message.
	msg, err := b.Emit(a.id, wire.TypePrivIPC, wire.AsyncSetDir, []byte("/tmp"), false)
	if err != nil || msg == nil {
		t.Fatal(err)
	}
	wantGot(t, "PRIV_IPC", []*fake{a, c})
}

func castMsg(from wire.SessionID, l wire.SubChannelList, t wire.TypeID, payload string) *Message {
	d := append(l.Append(nil), byte(t))
	return &Message{ID: wire.AsyncCast, Data: append(d, payload...), From: from, Mode: wire.TypePubIPC}
}

func TestCast(t *testing.T) {
	b := New()
	sender, r1, r2, r3, other := newFake(1), newFake(2), newFake(3), newFake(4), newFake(5)
	all := []*fake{sender, r1, r2, r3, other}
	for _, m := range all {
		b.Join(m)
	}
	s1, s2, s3 := sub(7, 1), sub(7, 2), sub(8, 1)
	b.SetOpen(sender.id, list(s1, s2))
	b.SetOpen(r1.id, list(s1))
	b.SetOpen(r2.id, list(s2, s1)) // two matching entries
	b.SetOpen(r3.id, list(s3, s2))
	b.SetOpen(other.id, list(s3))

	before := b.Delivered()
	b.Publish(castMsg(sender.id, list(s1, s2), wire.TypeText, "hi"), false)
	want := wire.AppendFrameHeader(nil, wire.TypeText, uint16(wire.AsyncCast), 0, 2)
	want = append(want, "hi"...)
	var shared *byte
	for _, r := range []*fake{r1, r2, r3} {
		r.mu.Lock()
		frames := r.frames
		r.mu.Unlock()
		if len(frames) != 1 || string(frames[0]) != string(want) {
			t.Fatalf("receiver %x: frames %x, want one %x", r.id[0], frames, want)
		}
		// Encoded once, the same bytes queued for every receiver.
		if shared == nil {
			shared = &frames[0][0]
		} else if &frames[0][0] != shared {
			t.Error("the cast frame was encoded more than once")
		}
	}
	wantGot(t, "cast", all, r1, r2, r3)
	if d := b.Delivered() - before; d != 3 {
		t.Fatalf("Delivered grew by %d, want 3", d)
	}

	// Not back to the sender, even when it has a matching entry open,
	// unless the publisher asks for it.
	b.Publish(castMsg(sender.id, list(s1), wire.TypeText, "x"), true)
	wantGot(t, "cast with self", all, sender, r1, r2)

	// Empty slots anywhere in the list, and entries nobody has open.
	var l wire.SubChannelList
	l[3] = s3
	l[5] = sub(99, 9)
	b.Publish(castMsg(sender.id, l, wire.TypeBytes, ""), false)
	wantGot(t, "cast to s3", all, r3, other)

	// LIMITED_CAST goes to the mailboxes, with the same dedupe.
	lc := castMsg(sender.id, list(s1, s2), wire.TypeText, "x")
	lc.ID = wire.AsyncLimitedCast
	b.Publish(lc, false)
	wantGot(t, "limited cast", all, r1, r2, r3)
}

func TestToChannelDedupe(t *testing.T) {
	b := New()
	member, opener, named, both, outsider := newFake(1), newFake(2), newFake(3), newFake(4), newFake(5)
	all := []*fake{member, opener, named, both, outsider}
	for _, m := range all {
		b.Join(m)
	}
	b.SetChannels(member.id, []uint64{7})
	b.SetOpen(opener.id, list(sub(7, 3)))
	b.SetUser(named.id, user(9))
	b.SetChannels(both.id, []uint64{7})
	b.SetOpen(both.id, list(sub(7, 1), sub(7, 2)))
	b.SetUser(both.id, user(9))
	b.SetUser(outsider.id, user(8))

	data := append(chid(7), ub(user(9))...)
	for _, id := range []wire.AsyncID{wire.AsyncNewChMember, wire.AsyncInvitedToCh, wire.AsyncInviteAccepted, wire.AsyncRmChMember} {
		b.Publish(&Message{ID: id, Data: data}, true)
		wantGot(t, id.String(), all, member, opener, named, both)
	}
	b.Publish(&Message{ID: wire.AsyncMemLevelChanged, Data: append(data, 3)}, true)
	wantGot(t, "MEM_LEVEL_CHANGED", all, member, opener, named, both)
	// Events that name no user: members and openers.
	for _, id := range []wire.AsyncID{wire.AsyncDelCh, wire.AsyncRenameCh, wire.AsyncNewSubCh, wire.AsyncRmSubCh,
		wire.AsyncRenameSubCh, wire.AsyncSubChLevelChg, wire.AsyncAddRdonly, wire.AsyncRmRdonly} {
		b.Publish(&Message{ID: id, Data: data}, true)
		wantGot(t, id.String(), all, member, opener, both)
	}
	// Not to the emitter unless asked.
	b.Publish(&Message{ID: wire.AsyncRenameCh, Data: data, From: member.id}, false)
	wantGot(t, "without self", all, opener, both)
}

func TestTargets(t *testing.T) {
	b := New()
	a, c, d := newFake(1), newFake(2), newFake(3)
	all := []*fake{a, c, d}
	for _, m := range all {
		b.Join(m)
	}
	// ToAll, without and with the sender.
	b.Publish(&Message{ID: wire.AsyncCmdRanksChanged, From: a.id}, false)
	wantGot(t, "ToAll", all, c, d)
	b.Publish(&Message{ID: wire.AsyncCmdRanksChanged, From: a.id}, true)
	wantGot(t, "ToAll self", all, a, c, d)
	// ToSession: the id at the start of the payload.
	b.Publish(&Message{ID: wire.AsyncP2P, Data: append(d.id[:], a.id[:]...), From: a.id}, false)
	wantGot(t, "ToSession", all, d)
	b.Publish(&Message{ID: wire.AsyncP2P, Data: make([]byte, 57), From: a.id}, false)
	wantGot(t, "ToSession nobody", all)
	// Private ids go to the sender only.
	b.Publish(&Message{ID: wire.AsyncOpenSubCh, Data: make([]byte, 9), From: c.id}, false)
	wantGot(t, "private", all, c)
	// SendTo.
	if !b.SendTo(d.id, &Message{ID: wire.AsyncToPeer}) || b.SendTo(wire.SessionID{77}, &Message{ID: wire.AsyncToPeer}) {
		t.Fatal("SendTo result")
	}
	wantGot(t, "SendTo", all, d)
}

func TestHooksRunBeforeDelivery(t *testing.T) {
	b := New()
	a := newFake(1)
	b.Join(a)
	var seen []string
	b.Hook(wire.AsyncCmdRanksChanged, func(m *Message) {
		msgs, _ := a.take()
		seen = append(seen, fmt.Sprintf("hook %d", len(msgs)))
	})
	b.Publish(&Message{ID: wire.AsyncCmdRanksChanged}, true)
	b.Publish(&Message{ID: wire.AsyncEnableMod, Data: []byte("xx")}, true)
	if !slices.Equal(seen, []string{"hook 0"}) {
		t.Fatalf("hooks: %v", seen)
	}
}

// TestConcurrentUse runs joins, leaves, index changes and publishes at once
// (for the race detector).
func TestConcurrentUse(t *testing.T) {
	b := New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				m := newFake(byte(g))
				m.id[2], m.id[3] = byte(i), byte(i>>8)
				b.Join(m)
				b.SetUser(m.id, user(byte(i%3)))
				b.SetOpen(m.id, list(sub(1, uint8(i%4)), sub(2, 1)))
				b.SetChannels(m.id, []uint64{1, uint64(i % 5)})
				b.Publish(castMsg(m.id, list(sub(1, 0), sub(2, 1)), wire.TypeText, "x"), false)
				b.Publish(&Message{ID: wire.AsyncRWMyInfo, Data: ub(user(1))}, true)
				b.Publish(&Message{ID: wire.AsyncRenameCh, Data: chid(1)}, true)
				if i%2 == 0 {
					b.Leave(m.id)
				}
			}
		}()
	}
	wg.Wait()
	if b.Len() != 8*50 {
		t.Fatalf("Len %d", b.Len())
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// staller is a member that asks its senders to wait until released.
type staller struct {
	*fake
	called  chan struct{}
	release chan struct{}
}

func (s *staller) DeliverFrame(b []byte) Stall {
	s.fake.DeliverFrame(b)
	close(s.called)
	return Stall{C: s.release, For: time.Hour}
}

// TestStallWaitsOutsideTheLock: a publisher waits for a receiver that
// asked it to, but the bus stays usable meanwhile (joins, other publishes),
// and the wait ends when the receiver catches up.
func TestStallWaitsOutsideTheLock(t *testing.T) {
	b := New()
	sender, other := newFake(1), newFake(2)
	slow := &staller{fake: newFake(3), called: make(chan struct{}), release: make(chan struct{})}
	s1 := sub(7, 1)
	for _, m := range []Member{sender, other, slow} {
		b.Join(m)
		b.SetOpen(m.SessionID(), list(s1))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Publish(castMsg(sender.id, list(s1), wire.TypeText, "one"), false)
	}()
	<-slow.called
	late := newFake(4)
	b.Join(late)
	b.SetOpen(late.id, list(s1))
	b.Publish(&Message{ID: wire.AsyncRenameCh, Data: chid(9)}, true)
	select {
	case <-done:
		t.Fatal("the publisher did not wait for the stalled receiver")
	default:
	}
	close(slow.release)
	<-done
	if b.Stalled() != 1 {
		t.Fatalf("Stalled() = %d, want 1", b.Stalled())
	}
	if _, fr := other.take(); len(fr) != 1 {
		t.Fatalf("the healthy receiver got %d frames", len(fr))
	}
}

// TestHookRunsOutsideTheLock: a hook doing slow I/O holds up only its own
// publisher; sessions join and casts are delivered meanwhile.
func TestHookRunsOutsideTheLock(t *testing.T) {
	b := New()
	entered, release := make(chan struct{}), make(chan struct{})
	b.Hook(wire.AsyncEnableMod, func(*Message) {
		close(entered)
		<-release
	})
	sender, receiver := newFake(1), newFake(2)
	s1 := sub(7, 1)
	for _, m := range []*fake{sender, receiver} {
		b.Join(m)
		b.SetOpen(m.id, list(s1))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Publish(&Message{ID: wire.AsyncEnableMod, Data: []byte("xx")}, true)
	}()
	<-entered
	late := newFake(3)
	b.Join(late)
	b.SetOpen(late.id, list(s1))
	b.Publish(castMsg(sender.id, list(s1), wire.TypeText, "hi"), false)
	wantGot(t, "cast while a hook waits", []*fake{sender, receiver, late}, receiver, late)
	close(release)
	<-done
	if msgs, _ := receiver.take(); len(msgs) != 1 || msgs[0].ID != wire.AsyncEnableMod {
		t.Fatalf("after the hook: %v", msgs)
	}
}
