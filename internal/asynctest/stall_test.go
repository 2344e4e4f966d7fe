package asynctest

// A receiver that falls behind never costs the others a cast, and loses
// none while it stays connected. The policy (internal/session/delivery.go,
// ARCHITECTURE.md "Slow consumers"): while a receiver's outbound queue
// holds more than QueueSoft bytes, every sender to it waits a few
// milliseconds per frame (the bounded stall NATS uses); a receiver whose
// queue would pass QueueHard, whose mailbox overflows, or whose client
// does not read for WriteTimeout is disconnected as a slow consumer, with
// an ERR notice on ASYNC_SYS_MSG as the last frame, a warning in the log
// and mrci_slow_consumers_total counted. Nothing is ever dropped.

import (
	"bufio"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/wire"
)

// metric scrapes one counter from the host's Prometheus handler.
func (e *env) metric(name string) float64 {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.h.Metrics().Handler(metrics.HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				e.t.Fatal(err)
			}
			return f
		}
	}
	e.t.Fatalf("metric %s not exported", name)
	return 0
}

type stallSetup struct {
	*env
	s        wire.SubChannel
	sender   *peer
	healthy  []*peer
	stalled  *rawClient
	payloadN int
}

// newStall starts a host with the limits, a sub-channel everyone opens, a
// sender, two healthy receivers and a raw receiver with a tiny socket
// receive buffer that stops reading once its sub-channel is open.
func newStall(t *testing.T, lim session.Limits, active bool) *stallSetup {
	t.Helper()
	e := start(t, opts{limits: lim, inactive: !active})
	alice := e.user("alice", 2)
	ch := e.channel("chan", alice, nil)
	st := &stallSetup{env: e, s: e.subChannel(ch, "s", false), payloadN: 8 << 10}
	st.sender = e.dial("sender")
	st.healthy = []*peer{e.dial("r1"), e.dial("r2")}
	for _, p := range append([]*peer{st.sender}, st.healthy...) {
		p.open(st.s)
	}
	raw, err := dialRaw(e, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subBytes(st.s)); err != nil {
		t.Fatal(err)
	}
	st.stalled = raw
	e.settle(append([]*peer{st.sender}, st.healthy...)...)
	return st
}

// cast sends one numbered cast (or limited cast) of payloadN bytes.
func (st *stallSetup) cast(id wire.AsyncID, seq uint32) {
	payload := make([]byte, st.payloadN)
	binary.LittleEndian.PutUint32(payload, seq)
	st.sender.emit(wire.TypePubIPC, id, castData(listOf(st.s), wire.TypeBytes, payload))
}

// castAll sends cast seq and checks that every healthy receiver gets it
// before the next one is sent: their queues stay near empty, so only the
// stalled receiver can hit a limit, however loaded the machine is.
func (st *stallSetup) castAll(id wire.AsyncID, seq int) {
	st.t.Helper()
	st.cast(id, uint32(seq))
	for _, p := range st.healthy {
		for {
			f := p.nextAsync(true)
			if f.Cmd != uint16(id) || f.Type != wire.TypeBytes {
				continue // PEER_STAT and the like
			}
			if got := binary.LittleEndian.Uint32(f.Payload); got != uint32(seq) || len(f.Payload) != st.payloadN {
				st.t.Fatalf("%s: cast %d of %d bytes, want %d", p.name, got, len(f.Payload), seq)
			}
			break
		}
	}
}

func stallLimits() session.Limits {
	lim := session.DefaultLimits
	lim.QueueSoft = 256 << 10
	lim.QueueHard = 1 << 20
	return lim
}

// readToEnd reads a connection the host is closing: the numbered casts
// (in the order received) and the frame after the last of them, which must
// be the last frame before the end of the stream.
func (st *stallSetup) readToEnd(raw *rawClient) (seqs []int, last wire.Frame) {
	st.t.Helper()
	_ = raw.conn.SetDeadline(time.Now().Add(wait))
	for {
		f, err := raw.r.ReadFrame()
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				st.t.Fatalf("connection still open: %v", err)
			}
			return seqs, last
		}
		if (f.Cmd == uint16(wire.AsyncCast) || f.Cmd == uint16(wire.AsyncLimitedCast)) && f.Type == wire.TypeBytes {
			if last.Cmd != 0 {
				st.t.Fatalf("cast after %s", fmtFrame(last))
			}
			seqs = append(seqs, int(binary.LittleEndian.Uint32(f.Payload)))
			continue
		}
		if f.Cmd == uint16(wire.AsyncSysMsg) {
			if last.Cmd != 0 {
				st.t.Fatalf("%s after %s", fmtFrame(f), fmtFrame(last))
			}
			last = f
		}
	}
}

// wantNotice checks a disconnected receiver's stream: a gap-free, ordered
// run of casts from the first (what was queued before the disconnection
// was written; the rest was discarded with the session), then the slow
// consumer notice as the last frame.
func (st *stallSetup) wantNotice(raw *rawClient, why string) int {
	st.t.Helper()
	seqs, last := st.readToEnd(raw)
	for i, q := range seqs {
		if q != i {
			st.t.Fatalf("disconnected receiver: cast %d at position %d", q, i)
		}
	}
	text := wire.DecodeText(last.Payload)
	if last.Cmd != uint16(wire.AsyncSysMsg) || last.Type != wire.TypeErr ||
		!strings.Contains(text, "slow consumer") || !strings.Contains(text, why) {
		st.t.Fatalf("last frame %s, want the slow consumer notice (ERR on ASYNC_SYS_MSG) saying %q", fmtFrame(last), why)
	}
	return len(seqs)
}

// castUntil casts (castAll) until cond holds, checking it every 16 casts,
// then extra more; it returns the number of casts sent.
func (st *stallSetup) castUntil(id wire.AsyncID, from, limit, extra int, cond func() bool) int {
	st.t.Helper()
	n := from
	for ; n < limit; n++ {
		st.castAll(id, n)
		if n%16 == 0 && cond() {
			break
		}
	}
	if n == limit {
		st.t.Fatalf("condition not reached after %d casts", n)
	}
	for range extra {
		n++
		st.castAll(id, n)
	}
	return n + 1
}

func TestStalledReceiverDisconnectedWithNotice(t *testing.T) {
	t.Parallel()
	st := newStall(t, stallLimits(), false)
	live := st.h.SessionCount()

	// Cast until the receiver that never reads is over its hard limit.
	// Every healthy receiver gets every cast, in order, meanwhile (castAll).
	n := st.castUntil(wire.AsyncCast, 0, 5000, 10, func() bool { return st.metric("mrci_slow_consumers_total") > 0 })
	if got := st.metric("mrci_slow_consumers_total"); got != 1 {
		t.Fatalf("slow consumers %v, want 1", got)
	}
	if st.metric("mrci_cast_stalls_total") == 0 {
		t.Fatal("the sender was never stalled before the receiver was disconnected")
	}
	got := st.wantNotice(st.stalled, "hard limit")
	st.waitSessions(live - 1)
	t.Logf("%d casts of %d bytes; the stalled receiver read %d before its notice", n, st.payloadN, got)
	st.quiet(st.sender)
}

func TestSlowReaderGetsEveryCast(t *testing.T) {
	t.Parallel()
	lim := stallLimits()
	lim.QueueSoft = 64 << 10
	lim.QueueHard = 256 << 20 // far away: this receiver is slow, not gone
	st := newStall(t, lim, false)
	live := st.h.SessionCount()

	// The receiver does not read until its queue is over its soft limit
	// and its sender has been made to wait, ...
	n := st.castUntil(wire.AsyncCast, 0, 5000, 32, func() bool { return st.metric("mrci_cast_stalls_total") > 0 })

	// ... then reads (slowly: one frame at a time through a tiny receive
	// buffer) while the sender goes on.
	type result struct {
		seqs []int
		err  error
	}
	total := n + 300
	res := make(chan result, 1)
	go func() {
		var r result
		_ = st.stalled.conn.SetDeadline(time.Now().Add(4 * wait))
		for len(r.seqs) < total {
			f, err := st.stalled.r.ReadFrame()
			if err != nil {
				r.err = err
				break
			}
			if f.Cmd == uint16(wire.AsyncCast) {
				r.seqs = append(r.seqs, int(binary.LittleEndian.Uint32(f.Payload)))
			}
		}
		res <- r
	}()
	for i := n; i < total; i++ {
		st.castAll(wire.AsyncCast, i)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("slow reader after %d casts: %v", len(r.seqs), r.err)
	}
	for i, q := range r.seqs {
		if q != i {
			t.Fatalf("slow reader: cast %d at position %d", q, i)
		}
	}
	if got := st.metric("mrci_slow_consumers_total"); got != 0 {
		t.Fatalf("slow consumers %v, want 0", got)
	}
	if got := st.h.SessionCount(); got != live {
		t.Fatalf("%d live sessions, want %d", got, live)
	}
	t.Logf("%d casts of %d bytes, every one delivered to every receiver; %v sender stalls",
		total, st.payloadN, st.metric("mrci_cast_stalls_total"))
	st.quiet(st.sender)
}

func TestStalledReceiverEndedAtHardLimit(t *testing.T) {
	t.Parallel()
	// LIMITED_CAST (PEER_STAT, PEER_INFO) goes through the receiver's
	// mailbox and loop; the limits and the notice are the same.
	st := newStall(t, stallLimits(), true)
	live := st.h.SessionCount()
	n := st.castUntil(wire.AsyncLimitedCast, 0, 5000, 10, func() bool { return st.metric("mrci_slow_consumers_total") > 0 })
	if got := st.metric("mrci_slow_consumers_total"); got != 1 {
		t.Fatalf("slow consumers %v, want 1", got)
	}
	st.wantNotice(st.stalled, "hard limit")
	st.waitSessions(live - 1)
	t.Logf("stalled receiver ended after %d limited casts of %d bytes", n, st.payloadN)
}

func TestStalledReceiverEndedByWriteTimeout(t *testing.T) {
	t.Parallel()
	lim := stallLimits()
	lim.QueueSoft = 64 << 20 // no stall and no overflow: only the deadline
	lim.QueueHard = 128 << 20
	lim.WriteTimeout = 500 * time.Millisecond
	st := newStall(t, lim, false)
	live := st.h.SessionCount()
	n := st.castUntil(wire.AsyncCast, 0, 20000, 10, func() bool { return st.metric("mrci_slow_consumers_total") > 0 })
	if got := st.metric("mrci_slow_consumers_total"); got != 1 {
		t.Fatalf("slow consumers %v, want 1", got)
	}
	got := st.wantNotice(st.stalled, "write deadline")
	st.waitSessions(live - 1)
	t.Logf("stalled receiver disconnected by the write deadline after %d casts; it read %d before its notice", n, got)
}
