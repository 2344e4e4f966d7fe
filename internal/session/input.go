package session

import (
	"sync"

	"github.com/mrci/mrci/internal/module"
)

// transitBudget bounds the bytes of client frames read from the socket
// but not yet dispatched by the loop (payloads plus module.FrameOverhead
// each). The reader reserves a frame's cost before it reads the payload
// and waits while the budget is full, so a session that cannot keep up
// stops reading its socket and TCP flow control slows the client down
// (back-pressure) instead of the host buffering. A frame arriving at an
// empty budget is always admitted, so one payload of the wire maximum
// fits whatever the limit.
type transitBudget struct {
	mu     sync.Mutex
	used   int
	limit  int
	freed  chan struct{} // signalled by release
	onWait func()        // test hook: called before the reader waits
}

func newTransitBudget(limit int) *transitBudget {
	return &transitBudget{limit: limit, freed: make(chan struct{}, 1)}
}

// acquire reserves n bytes, waiting until they fit or done closes; it
// reports false when done closed first.
func (b *transitBudget) acquire(n int, done <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return true
		}
		wait := b.onWait
		b.mu.Unlock()
		if wait != nil {
			wait()
		}
		select {
		case <-b.freed:
		case <-done:
			return false
		}
	}
}

// release returns n bytes and wakes a waiting reader.
func (b *transitBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// frameCost is what a frame with an n-byte payload costs in the input budgets.
func frameCost(n int) int { return n + module.FrameOverhead }

// payloadLimit is the largest client payload the session accepts now:
// Limits.LoggedOutPayload until a user is logged in (enough for auth and
// the other public commands), Limits.MaxPayload afterwards.
func (s *Session) payloadLimit() int {
	if info := s.info.Load(); info == nil || !info.LoggedIn {
		return min(s.lim.LoggedOutPayload, s.lim.MaxPayload)
	}
	return s.lim.MaxPayload
}
