package bus

import (
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/mrci/mrci/internal/wire"
)

// fakeRemote records what the bus hands a cluster transport.
type fakeRemote struct {
	mu       sync.Mutex
	count    map[Key]int
	forwards []*Message
	sent     []wire.SessionID
}

func newFakeRemote() *fakeRemote { return &fakeRemote{count: map[Key]int{}} }

func (r *fakeRemote) Forward(msg *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forwards = append(r.forwards, msg)
}

func (r *fakeRemote) SendTo(to wire.SessionID, _ *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, to)
}

func (r *fakeRemote) Interest(changes []Interest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range changes {
		r.count[c.Key] += c.Delta
		if r.count[c.Key] < 0 {
			panic("negative interest")
		}
		if r.count[c.Key] == 0 {
			delete(r.count, c.Key)
		}
	}
}

func (r *fakeRemote) keys() map[Key]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.count)
}

func (r *fakeRemote) takeForwards() []*Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.forwards
	r.forwards = nil
	return f
}

func chKey(ch uint64) Key           { return Key{Kind: KeyChannel, Sub: wire.SubChannel{Channel: ch}} }
func subKey(sc wire.SubChannel) Key { return Key{Kind: KeySub, Sub: sc} }
func userKey(u wire.UserID) Key     { return Key{Kind: KeyUser, User: u} }
func sesKey(id wire.SessionID) Key  { return Key{Kind: KeySession, Session: id} }

// TestInterestFollowsTheIndexes: the remote is told exactly which keys the
// local sessions need, counted per session, and nothing once they left.
func TestInterestFollowsTheIndexes(t *testing.T) {
	b := New()
	r := newFakeRemote()
	b.SetRemote(r)
	s1, s2 := newFake(1), newFake(2)
	b.Join(s1)
	b.Join(s2)
	b.SetUser(s1.id, user(1))
	b.SetUser(s2.id, user(1))
	b.SetChannels(s1.id, []uint64{7})
	b.SetOpen(s1.id, list(sub(7, 1), sub(8, 2)))
	b.SetOpen(s2.id, list(sub(8, 2)))
	want := map[Key]int{
		sesKey(s1.id): 1, sesKey(s2.id): 1, userKey(user(1)): 2,
		chKey(7): 2, chKey(8): 2, subKey(sub(7, 1)): 1, subKey(sub(8, 2)): 2,
	}
	if got := r.keys(); !maps.Equal(got, want) {
		t.Fatalf("interest %v, want %v", got, want)
	}
	b.SetUser(s1.id, user(1)) // unchanged: no change recorded
	b.SetOpen(s1.id, list(sub(8, 2)))
	b.Leave(s2.id)
	want = map[Key]int{sesKey(s1.id): 1, userKey(user(1)): 1, chKey(7): 1, chKey(8): 1, subKey(sub(8, 2)): 1}
	if got := r.keys(); !maps.Equal(got, want) {
		t.Fatalf("after changes: interest %v, want %v", got, want)
	}
	b.Leave(s1.id)
	if got := r.keys(); len(got) != 0 {
		t.Fatalf("after everyone left: interest %v", got)
	}
}

// TestForwardDecisions: public routes are forwarded once per publish, after
// the local fan-out; private ones and messages for a local session are not.
func TestForwardDecisions(t *testing.T) {
	b := New()
	r := newFakeRemote()
	b.SetRemote(r)
	s1 := newFake(1)
	b.Join(s1)
	b.SetOpen(s1.id, list(sub(1, 1)))
	other := wire.SessionID{9, 9}
	cases := []struct {
		name    string
		msg     *Message
		forward bool
	}{
		{"cast", castMsg(s1.id, list(sub(1, 1)), wire.TypeText, "hi"), true},
		{"to a local session", &Message{ID: wire.AsyncToPeer, Data: append(s1.id[:], byte(wire.TypeText), 'x')}, false},
		{"to another node's session", &Message{ID: wire.AsyncToPeer, Data: append(other[:], byte(wire.TypeText), 'x')}, true},
		{"to all", &Message{ID: wire.AsyncCmdRanksChanged}, true},
		{"private", &Message{ID: wire.AsyncMaxSes, Data: []byte{1, 0, 0, 0}, From: s1.id}, false},
		{"to self", &Message{ID: wire.AsyncOpenSubCh, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0, 1}, From: s1.id}, false},
	}
	for _, c := range cases {
		b.Publish(c.msg, false)
		f := r.takeForwards()
		if c.forward != (len(f) == 1 && f[0] == c.msg) || len(f) > 1 {
			t.Errorf("%s: forwarded %d, want forwarded=%v", c.name, len(f), c.forward)
		}
	}
	if b.SendTo(other, &Message{ID: wire.AsyncCloseP2P, Data: s1.id[:]}) {
		t.Error("SendTo reported a session of another node as found here")
	}
	if !b.SendTo(s1.id, &Message{ID: wire.AsyncCloseP2P, Data: other[:]}) {
		t.Error("SendTo did not find a local session")
	}
	if !slices.Equal(r.sent, []wire.SessionID{other}) {
		t.Errorf("sent to the remote: %v, want only the other node's session", r.sent)
	}
}

// TestInjectScopes: a message from another node reaches the local sessions
// its subject covers, each once over all the subjects that carry it, and
// is never forwarded again.
func TestInjectScopes(t *testing.T) {
	b := New()
	r := newFakeRemote()
	b.SetRemote(r)
	a, bb, both, none := newFake(1), newFake(2), newFake(3), newFake(4)
	all := []*fake{a, bb, both, none}
	for _, f := range all {
		b.Join(f)
	}
	b.SetOpen(a.id, list(sub(1, 1)))
	b.SetOpen(bb.id, list(sub(1, 2)))
	b.SetOpen(both.id, list(sub(1, 2), sub(1, 1)))
	from := wire.SessionID{7}
	m := castMsg(from, list(sub(1, 1), sub(1, 2)), wire.TypeText, "x")
	b.Inject(m, Scope{Entry: 1})
	wantGot(t, "entry 1", all, a, both)
	b.Inject(m, Scope{Entry: 2})
	wantGot(t, "entry 2 (sessions without entry 1)", all, bb)
	b.Inject(m, Scope{})
	wantGot(t, "whole list", all, a, bb, both)

	// Channel events: members/openers on the channel's subject, the named
	// user's other sessions on the user's subject.
	b.SetChannels(none.id, []uint64{5})
	b.SetUser(none.id, user(1))
	b.SetUser(a.id, user(1))
	ev := &Message{ID: wire.AsyncNewChMember, Data: append(chid(5), append(ub(user(1)), make([]byte, 10)...)...), From: from}
	b.Inject(ev, Scope{Part: PartChannel})
	wantGot(t, "channel part", all, none)
	b.Inject(ev, Scope{Part: PartNamed})
	wantGot(t, "named part", all, a)
	if f := r.takeForwards(); len(f) != 0 {
		t.Fatalf("injected messages were forwarded again: %d", len(f))
	}
}
