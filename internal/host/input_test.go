package host_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// liveHeap returns the live heap after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestFrameHeadersBeforeLoginDoNotGrowHeap is the attack of issue 8
// defect 3: 60 logged-out connections each send one frame header announcing
// the wire maximum (16 MiB) and nothing more. The old host allocated every
// announced payload at once (~1 GB). Now a payload over the logged-out
// limit is answered with ERR and skipped, and nothing is allocated for it.
func TestFrameHeadersBeforeLoginDoNotGrowHeap(t *testing.T) {
	h := hosttest.Start(t)
	const conns = 60
	raws := make([]*rawConn, conns)
	for i := range raws {
		raws[i] = dialRaw(t, h.Addr)
		raws[i].handshake("attacker", "")
	}
	before := liveHeap()
	for _, c := range raws {
		c.write(wire.AppendFrameHeader(nil, wire.TypeText, 300, 1, wire.MaxPayload))
	}
	for _, c := range raws {
		var f wire.Frame
		for f.Cmd != 300 {
			f = c.frame()
		}
		if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "before login") {
			t.Fatalf("reply to a 16 MiB header before login: %v %q", f.Type, wire.DecodeText(f.Payload))
		}
	}
	// Every session has read its header and is discarding the payload.
	if grown := liveHeap() - before; grown > 64<<20 {
		t.Fatalf("live heap grew by %d MiB for 60 frame headers", grown>>20)
	}
}

// TestFloodOfCommandThatReadsNothingStaysBounded: a logged-in client sends
// 64 MiB of 1 MiB frames to a command that never reads its input. The old
// host queued up to 256 frames per command (here all 64 MiB); now the
// session's command input is bounded by bytes (Limits.InputQueued) and the
// frames over it are refused with ERR.
func TestFloodOfCommandThatReadsNothingStaysBounded(t *testing.T) {
	started := make(chan struct{}, 1)
	hold := &module.Command{
		Def: module.Def{Name: "hold", Summary: "waits until killed"},
		In:  func(cat module.Category, _ store.Settings) bool { return cat == module.Exempt },
		Run: func(ctx context.Context, c *module.Call) error {
			started <- struct{}{}
			<-ctx.Done()
			return nil
		},
		Accepts: []wire.TypeID{wire.TypeText, wire.TypeBytes},
		MaxArgs: -1,
	}
	h := hosttest.StartWith(t, hosttest.Options{Modules: []module.Module{module.NewInProcess("test.hold", []*module.Command{hold})}})
	c := h.Root(t)
	ctx := hosttest.Ctx(t, 60*time.Second)
	call, err := c.Start(ctx, "hold")
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Send(wire.TypeText, nil); err != nil {
		t.Fatal(err)
	}
	<-started
	payload := make([]byte, 1<<20)
	before := liveHeap()
	const frames = 64
	for range frames {
		if err := call.Send(wire.TypeBytes, payload); err != nil {
			t.Fatal(err)
		}
	}
	// 7 frames (7 MiB) fit in the default 8 MiB; the rest are refused.
	queued := (8 << 20) / (1<<20 + module.FrameOverhead)
	for range frames - queued {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != wire.TypeErr || !strings.Contains(wire.DecodeText(f.Payload), "input queue is full") {
			t.Fatalf("reply %v %q, want the input-queue-full error", f.Type, wire.DecodeText(f.Payload))
		}
	}
	if grown := liveHeap() - before; grown > 24<<20 {
		t.Fatalf("live heap grew by %d MiB for 64 MiB sent to a command that reads nothing", grown>>20)
	}
	if err := call.Send(wire.TypeKillCmd, nil); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == wire.TypeIdle {
			break
		}
	}
}
