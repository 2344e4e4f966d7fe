package asynctest

// A stalled client must never stop delivery to the others. The policy
// (internal/session/queue.go, ARCHITECTURE.md "Slow consumers"): casts
// (ASYNC_CAST) for a receiver whose outbound queue holds more than
// QueueSoft bytes are dropped and counted; a frame that cannot be dropped
// (any other async, command output) and would take the queue past
// QueueHard ends that session, and so does a batch that cannot be written
// within WriteTimeout. Senders never wait for receivers.

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

func TestStalledReceiverDropsCasts(t *testing.T) {
	t.Parallel()
	st := newStall(t, stallLimits(), false)
	live := st.h.SessionCount()

	// Cast until the stalled receiver's queue is over its soft limit and
	// casts for it are being dropped, then some more.
	n, extra := 0, -1
	for ; n < 5000 && extra != 0; n++ {
		st.castAll(wire.AsyncCast, n)
		if extra > 0 {
			extra--
		} else if n%16 == 0 && st.metric("mrci_casts_dropped_total") > 0 {
			extra = 32
		}
	}
	if extra != 0 {
		t.Fatalf("no cast dropped after %d casts", n)
	}
	dropped := int(st.metric("mrci_casts_dropped_total"))
	t.Logf("%d casts of %d bytes, %d dropped for the stalled receiver", n, st.payloadN, dropped)

	// Everyone else received every cast, in order (castAll).
	st.quiet(st.sender)
	if got := st.h.SessionCount(); got != live {
		t.Fatalf("%d live sessions, want %d: the stalled session was ended", got, live)
	}
	if st.metric("mrci_slow_consumers_total") != 0 {
		t.Fatal("a slow consumer was ended")
	}

	// The stalled session is still usable: once its client reads again it
	// gets the casts that were queued (in order), then its command's IDLE.
	// Every cast was either delivered or dropped and counted.
	_ = st.stalled.conn.SetDeadline(time.Now().Add(wait))
	frames, err := st.stalled.runCmd("snap", wire.TypeText, nil)
	if err != nil {
		t.Fatalf("stalled client reading again: %v", err)
	}
	got, last := 0, -1
	for _, f := range frames {
		if f.Cmd != uint16(wire.AsyncCast) {
			continue
		}
		seq := int(binary.LittleEndian.Uint32(f.Payload))
		if seq <= last || len(f.Payload) != st.payloadN {
			t.Fatalf("stalled receiver: cast %d after %d (%d bytes)", seq, last, len(f.Payload))
		}
		last = seq
		got++
	}
	if got+dropped != n || dropped == 0 {
		t.Fatalf("stalled receiver got %d casts and %d were dropped, of %d", got, dropped, n)
	}
}

func TestStalledReceiverEndedAtHardLimit(t *testing.T) {
	t.Parallel()
	// LIMITED_CAST is state (PEER_STAT, PEER_INFO): it is never dropped, so
	// a receiver that cannot take it is ended once its queue would pass
	// QueueHard.
	st := newStall(t, stallLimits(), true)
	live := st.h.SessionCount()
	n := 0
	for ; n < 5000 && st.h.SessionCount() == live; n++ {
		st.castAll(wire.AsyncLimitedCast, n)
	}
	st.waitSessions(live - 1)
	if got := st.metric("mrci_slow_consumers_total"); got != 1 {
		t.Fatalf("slow consumers %v, want 1", got)
	}
	for i := range 10 { // delivery goes on
		st.castAll(wire.AsyncLimitedCast, n+i)
	}
	n += 10
	t.Logf("stalled receiver ended after %d limited casts of %d bytes", n-10, st.payloadN)
	// Its connection is closed: reading drains what was sent, then fails.
	_ = st.stalled.conn.SetDeadline(time.Now().Add(wait))
	for {
		if _, err := st.stalled.r.ReadFrame(); err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatal("stalled connection still open")
			}
			break
		}
	}
}

func TestStalledReceiverEndedByWriteTimeout(t *testing.T) {
	t.Parallel()
	lim := stallLimits()
	lim.QueueSoft = 64 << 20 // casts are never dropped here
	lim.QueueHard = 128 << 20
	lim.WriteTimeout = 500 * time.Millisecond
	st := newStall(t, lim, false)
	live := st.h.SessionCount()
	n := 0
	for ; n < 20000 && st.h.SessionCount() == live; n++ {
		st.castAll(wire.AsyncCast, n)
	}
	st.waitSessions(live - 1)
	for i := range 10 {
		st.castAll(wire.AsyncCast, n+i)
	}
	n += 10
	if d := st.metric("mrci_casts_dropped_total"); d != 0 {
		t.Fatalf("%v casts dropped", d)
	}
	t.Logf("stalled receiver ended by the write deadline after %d casts", n-10)
}
