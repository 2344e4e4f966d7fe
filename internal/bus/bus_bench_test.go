package bus

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/mrci/mrci/internal/wire"
)

// nopMember counts deliveries and does nothing else, so the benchmarks
// measure routing only.
type nopMember struct {
	id     wire.SessionID
	frames int
	msgs   int
}

func (m *nopMember) SessionID() wire.SessionID { return m.id }
func (m *nopMember) Deliver(*Message) Stall    { m.msgs++; return Stall{} }
func (m *nopMember) DeliverFrame([]byte) Stall { m.frames++; return Stall{} }

// castReceivers are the audience sizes benchmarked; each has its own
// sub-channel (channel 1, sub n%256... see benchBus).
var castReceivers = []int{10, 100, 1000}

// benchBus builds a bus with total joined sessions, each logged in as its
// own user and member of a channel. For every n in castReceivers exactly
// n sessions have sub-channel (1, index) open; every other session has a
// sub-channel of a "background" channel open (10,000 of them spread over
// 100 channels), so the indexes are as full as on a busy host.
func benchBus(total int) (*Bus, map[int]wire.SubChannel, map[int][]*nopMember) {
	b := New()
	targets := map[int]wire.SubChannel{}
	members := map[int][]*nopMember{}
	next := 0
	mk := func() *nopMember {
		m := &nopMember{}
		binary.LittleEndian.PutUint64(m.id[:], uint64(next)+1)
		var u wire.UserID
		binary.LittleEndian.PutUint64(u[:], uint64(next)+1)
		b.Join(m)
		b.SetUser(m.id, u)
		b.SetChannels(m.id, []uint64{uint64(1000 + next%100)})
		next++
		return m
	}
	for i, n := range castReceivers {
		sc := wire.SubChannel{Channel: 1, Sub: uint8(i)}
		targets[n] = sc
		for range n {
			m := mk()
			var l wire.SubChannelList
			l.Add(sc)
			b.SetOpen(m.id, l)
			members[n] = append(members[n], m)
		}
	}
	for next < total {
		m := mk()
		var l wire.SubChannelList
		l.Add(wire.SubChannel{Channel: uint64(1000 + next%100), Sub: uint8(next % 100)})
		b.SetOpen(m.id, l)
	}
	return b, targets, members
}

var benchBuses = map[int]struct {
	b       *Bus
	targets map[int]wire.SubChannel
	members map[int][]*nopMember
}{}

// castMsg builds the benchmark cast: a 54-byte list holding the target
// sub-channel and extra-1 entries no one has open, and a 64-byte payload.
func benchCast(target wire.SubChannel, extra int) *Message {
	var l wire.SubChannelList
	for i := range extra - 1 {
		l.Add(wire.SubChannel{Channel: 5, Sub: uint8(i)})
	}
	l.Add(target)
	data := append(l.Append(nil), byte(wire.TypeText))
	data = append(data, make([]byte, 64)...)
	var from wire.SessionID
	from[27] = 0xFF // not a joined session
	return &Message{ID: wire.AsyncCast, Data: data, From: from, Mode: wire.TypePubIPC}
}

// BenchmarkPublishCast measures the routing hot path of a cast: Publish of
// an ASYNC_CAST (54-byte list with 1 or 3 entries, one of which the
// receivers have open; 64-byte payload) to N receivers among 1,000 or
// 100,000 joined sessions, each logged in and in a channel. ns/frame (per
// delivered frame) stays flat as N grows and does not depend on the number
// of sessions: the cost is O(receivers). The frame is encoded once and the
// same bytes are handed to every receiver. With one list entry the
// allocations per cast are constant; with several, the set that dedupes
// receivers matching more than one entry grows with N (see docs/async.md).
func BenchmarkPublishCast(b *testing.B) {
	for _, total := range []int{1_000, 100_000} {
		bb, ok := benchBuses[total]
		if !ok {
			bb.b, bb.targets, bb.members = benchBus(total)
			benchBuses[total] = bb
		}
		for _, n := range castReceivers {
			for _, entries := range []int{1, 3} {
				b.Run(fmt.Sprintf("sessions=%d/receivers=%d/entries=%d", total, n, entries), func(b *testing.B) {
					msg := benchCast(bb.targets[n], entries)
					for _, m := range bb.members[n] {
						m.frames = 0
					}
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						bb.b.Publish(msg, false)
					}
					b.StopTimer()
					if got := bb.members[n][0].frames; got != b.N {
						b.Fatalf("a receiver got %d frames in %d publishes", got, b.N)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
				})
			}
		}
	}
}

// TestCastCostIndependentOfSessions pins what the benchmark shows,
// deterministically: a cast visits exactly its receivers, its allocations
// do not depend on how many sessions are joined, and with a one-entry list
// they do not depend on the number of receivers either.
func TestCastCostIndependentOfSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bus with 100,000 sessions")
	}
	allocs := map[string]float64{}
	for _, total := range []int{2_000, 100_000} {
		b, targets, members := benchBus(total)
		for _, n := range castReceivers {
			for _, entries := range []int{1, 3} {
				msg := benchCast(targets[n], entries)
				for _, m := range members[n] {
					m.frames = 0
				}
				before := b.Delivered()
				a := testing.AllocsPerRun(20, func() { b.Publish(msg, false) })
				if d := b.Delivered() - before; d != uint64(21*n) { // one warm-up run
					t.Fatalf("sessions=%d receivers=%d: %d deliveries in 21 casts", total, n, d)
				}
				for _, m := range members[n] {
					if m.frames != 21 {
						t.Fatalf("a receiver got %d frames", m.frames)
					}
				}
				key := fmt.Sprintf("receivers=%d/entries=%d", n, entries)
				if prev, ok := allocs[key]; ok && prev != a {
					t.Errorf("%s: %v allocations with 2,000 sessions, %v with 100,000", key, prev, a)
				}
				allocs[key] = a
			}
		}
	}
	for _, n := range castReceivers[1:] {
		if a, a0 := allocs[fmt.Sprintf("receivers=%d/entries=1", n)], allocs["receivers=10/entries=1"]; a != a0 {
			t.Errorf("one-entry cast: %v allocations for %d receivers, %v for 10", a, n, a0)
		}
	}
	t.Logf("allocations per cast: %v", allocs)
}
