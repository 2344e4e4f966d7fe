package asynctest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/mrci/mrci/internal/wire"
)

// TestOneOrderedPathPerReceiver: everything one session sends to another
// reaches that client in the order it was sent. The sender emits, in one
// command run, LIMITED_CAST, CAST, OPEN_SUBCH of a second sub-channel
// (PEER_STAT to its peers), CAST over both, CLOSE_SUBCH (PEER_STAT), over
// and over; LIMITED_CAST and PEER_STAT go through the receivers' mailboxes
// and loops, CAST straight to their outbound queues, and no CAST may
// overtake what was sent before it.
func TestOneOrderedPathPerReceiver(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	alice := e.user("alice", 2)
	ch := e.channel("chan", alice, nil)
	s, s2 := e.subChannel(ch, "s", false), e.subChannel(ch, "s2", false)
	sender := e.dial("sender")
	receivers := []*peer{e.dial("r1"), e.dial("r2")}
	for _, p := range append([]*peer{sender}, receivers...) {
		p.open(s)
	}
	e.settle(append([]*peer{sender}, receivers...)...)

	num := func(seq int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(seq)) }
	const rounds, perRun = 4, 50
	var want []string
	seq := 0
	for range rounds {
		var p []byte
		for range perRun {
			p = append(p, seqEntry(wire.TypePubIPC, wire.AsyncLimitedCast, castData(listOf(s), wire.TypeBytes, num(seq)))...)
			p = append(p, seqEntry(wire.TypePubIPC, wire.AsyncCast, castData(listOf(s), wire.TypeBytes, num(seq+1)))...)
			p = append(p, seqEntry(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(s2))...)
			p = append(p, seqEntry(wire.TypePubIPC, wire.AsyncCast, castData(listOf(s, s2), wire.TypeBytes, num(seq+2)))...)
			p = append(p, seqEntry(wire.TypePrivIPC, wire.AsyncCloseSubCh, subBytes(s2))...)
			want = append(want, fmt.Sprintf("ASYNC_LIMITED_CAST %d", seq), fmt.Sprintf("ASYNC_CAST %d", seq+1), "PEER_STAT",
				fmt.Sprintf("ASYNC_CAST %d", seq+2), "PEER_STAT")
			seq += 3
		}
		res := sender.run("emitseq", wire.TypeBytes, p)
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range receivers {
		got := make([]string, 0, len(want))
		for len(got) < len(want) {
			f := r.nextAsync(true)
			switch {
			case f.Cmd == uint16(wire.AsyncLimitedCast) && f.Type == wire.TypePeerStat:
				got = append(got, "PEER_STAT")
			case f.Type == wire.TypeBytes && (f.Cmd == uint16(wire.AsyncCast) || f.Cmd == uint16(wire.AsyncLimitedCast)):
				got = append(got, fmt.Sprintf("%v %d", wire.AsyncID(f.Cmd), binary.LittleEndian.Uint32(f.Payload)))
			default:
				got = append(got, fmtFrame(f))
			}
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("%s: frame %d is %s, want %s (around: got %v, want %v)", r.name, i, got[i], want[i],
				got[max(0, i-3):min(len(got), i+3)], want[max(0, i-3):min(len(want), i+3)])
		}
	}
	e.quiet(append([]*peer{sender}, receivers...)...)
}

func firstDiff(a, b []string) int {
	if slices.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
