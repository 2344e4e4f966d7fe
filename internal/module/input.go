package module

import "sync"

// FrameOverhead is what one queued client frame costs beyond its payload
// in an InputBudget, so that floods of empty frames are bounded too.
const FrameOverhead = 64

// InputBudget bounds the bytes of client input queued in the command
// instances of one session (payloads plus FrameOverhead per frame). An
// instance takes a frame's cost when it queues the frame and releases it
// when the command takes the frame (or the frame is discarded). A frame
// is refused when others are queued and it would take the total over the
// limit; a frame arriving at an empty budget is always taken, so one
// payload of the wire maximum still fits. A nil *InputBudget takes
// everything.
type InputBudget struct {
	mu    sync.Mutex
	used  int
	limit int
}

// NewInputBudget returns a budget of limit bytes.
func NewInputBudget(limit int) *InputBudget { return &InputBudget{limit: limit} }

// Take reserves n bytes and reports whether it could.
func (b *InputBudget) Take(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// Add reserves n bytes even over the limit (control frames, which are
// never refused, are a few bytes each).
func (b *InputBudget) Add(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// Release returns n bytes to the budget.
func (b *InputBudget) Release(n int) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// Used returns the bytes currently reserved.
func (b *InputBudget) Used() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
