package cluster

import (
	"testing"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/wire"
)

// TestPairsDeliverAMemberEventOnce checks the rule for member events that
// arrive twice (channel subject, then user subject): the channel copy is
// delivered to every part, the user copy that follows is dropped, a user
// copy without its channel copy is delivered, and other events pass
// through unchanged.
func TestPairsDeliverAMemberEventOnce(t *testing.T) {
	var p pairs
	data := make([]byte, 8+wire.UserIDLen+1)
	data[8] = 7 // the named user
	rm := &bus.Message{ID: wire.AsyncRmChMember, Data: data}

	if sc := p.channelCopy(rm, bus.Scope{Part: bus.PartChannel}); sc.Part != bus.PartAll {
		t.Fatalf("channel copy delivered with part %v, want all", sc.Part)
	}
	if sc := p.channelCopy(rm, bus.Scope{Part: bus.PartChannel}); sc.Part != bus.PartAll {
		t.Fatal("second event's channel copy")
	}
	for i := range 2 {
		if !p.userCopy(rm, bus.Scope{Part: bus.PartNamed}) {
			t.Fatalf("user copy %d was not dropped after its channel copy", i)
		}
	}
	if p.userCopy(rm, bus.Scope{Part: bus.PartNamed}) {
		t.Fatal("a user copy without a channel copy was dropped")
	}

	other := &bus.Message{ID: wire.AsyncDelCh, Data: make([]byte, 8)}
	if sc := p.channelCopy(other, bus.Scope{Part: bus.PartChannel}); sc.Part != bus.PartChannel {
		t.Fatal("an event naming nobody changed part")
	}

	for range maxPairs + 10 {
		p.channelCopy(rm, bus.Scope{Part: bus.PartChannel})
	}
	if len(p.order) > maxPairs || p.due[pairKey{rm.ID, rm.From, string(rm.Data)}] > maxPairs {
		t.Fatalf("%d pairs remembered, bound %d", len(p.order), maxPairs)
	}
}
