package session

import (
	"context"
	"errors"
	"sync"
)

// inputBudget bounds the payload bytes of client frames a session has read
// but its commands have not consumed yet. A frame larger than the budget is
// admitted alone. When the budget is used up the reader stops reading, so a
// client that uploads faster than the host writes is slowed down by TCP
// instead of growing the host's memory.
const inputBudget = 8 << 20

// budget is a byte semaphore.
type budget struct {
	mu    sync.Mutex
	used  int
	limit int
	wake  chan struct{} // closed and replaced on release
}

// acquire takes n bytes, waiting while the budget is used up (a request
// larger than the limit waits until nothing else is held). It reports false
// when done closes first.
func (b *budget) acquire(n int, done <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return true
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		w := b.wake
		b.mu.Unlock()
		select {
		case <-w:
		case <-done:
			return false
		}
	}
}

// release returns n bytes.
func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}

// errSessionEnded is returned by WaitRoom once the session is over.
var errSessionEnded = errors.New("session ended")

// WaitRoom implements module.Flow for an instance's sink: it returns once
// the frames the session has queued for the client, plus the command
// output posted to the loop but not queued yet, are at most limit bytes.
// A client that stops reading keeps it waiting until the writer's timeout
// ends the session (the usual slow-consumer rule); the host never buffers
// more than limit plus one frame on behalf of such a producer.
func (k sink) WaitRoom(ctx context.Context, limit int) error {
	s := k.s
	for {
		queued, wait := s.out.room()
		if queued+int(s.outPending.Load()) <= limit {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errSessionEnded
		}
	}
}

// room returns the queued bytes and a channel closed at the next take.
func (q *outQueue) room() (int, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.taken == nil {
		q.taken = make(chan struct{})
	}
	return q.bytes, q.taken
}
