package asynctest

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// slowModules is a store whose Modules call blocks, while armed, until
// released: the bus hook of ASYNC_ENABLE_MOD reloads the module list with
// it, as a slow database would make it wait.
type slowModules struct {
	store.Store
	armed    atomic.Bool
	inside   atomic.Bool
	entered  chan struct{}
	release  chan struct{}
	timedOut atomic.Bool
}

func (s *slowModules) Modules(ctx context.Context) ([]string, error) {
	if s.armed.CompareAndSwap(true, false) {
		s.inside.Store(true)
		defer s.inside.Store(false)
		close(s.entered)
		select {
		case <-s.release:
		case <-ctx.Done():
			s.timedOut.Store(true)
			return nil, ctx.Err()
		}
	}
	return s.Store.Modules(ctx)
}

// TestSlowHookDoesNotStallCasts: while a bus hook waits for the store,
// sessions still connect (joining the bus) and casts still reach their
// receivers; only the session that published the hooked async waits.
func TestSlowHookDoesNotStallCasts(t *testing.T) {
	t.Parallel()
	slow := &slowModules{entered: make(chan struct{}), release: make(chan struct{})}
	e := start(t, opts{wrap: func(st store.Store) store.Store { slow.Store = st; return slow }})
	alice := e.user("alice", 2)
	ch := e.channel("chan", alice, nil)
	s := e.subChannel(ch, "s", false)
	sender, receiver, admin := e.dial("sender"), e.dial("receiver"), e.dial("admin")
	sender.open(s)
	receiver.open(s)
	e.settle(sender, receiver)

	slow.armed.Store(true)
	emitted := make(chan struct{})
	call := admin.call("emit")
	go func() {
		defer close(emitted)
		// Not admin.emit: its t.Fatal must not run outside the test goroutine.
		_, _ = call.Run(ctxT(t), wire.TypeBytes, emitPayload(wire.TypePubIPC, wire.AsyncEnableMod, wire.EncodeText("/no/such/module")), nil)
	}()
	<-slow.entered

	late := e.dial("late") // joins the bus (its write lock) while the hook waits
	for i := range 20 {
		sender.emit(wire.TypePubIPC, wire.AsyncCast, castData(listOf(s), wire.TypeBytes, binary.LittleEndian.AppendUint32(nil, uint32(i))))
		receiver.want(wire.TypeBytes, wire.AsyncCast, binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	if !slow.inside.Load() || slow.timedOut.Load() {
		t.Fatal("the casts were held up until the hook's store call gave up")
	}
	close(slow.release)
	<-emitted
	e.settle(sender, receiver, late)
}
