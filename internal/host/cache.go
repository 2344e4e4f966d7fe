package host

import (
	"context"
	"sync"
	"time"
)

// cache holds one value loaded from the store, for the settings row and
// the command ranks. A load runs without the lock (store I/O must not
// block readers of the cached value), so an invalidation or a Set can land
// while a load is in flight; the generation counter makes sure the older
// value that load read is then not stored over the newer state (issue 8:
// stale data after an invalidation during a refill).
type cache[T any] struct {
	ttl time.Duration    // 0: valid until invalidated
	now func() time.Time // clock (tests may replace it)

	mu  sync.Mutex
	val T
	ok  bool
	at  time.Time
	gen uint64 // bumped by every Set and Invalidate
}

func newCache[T any](ttl time.Duration) *cache[T] {
	return &cache[T]{ttl: ttl, now: time.Now}
}

// Get returns the cached value, or calls load and caches its result unless
// the cache was invalidated or set while load ran (the result is returned
// to this caller either way: it was current when load started).
func (c *cache[T]) Get(ctx context.Context, load func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	if c.ok && (c.ttl == 0 || c.now().Sub(c.at) < c.ttl) {
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	gen := c.gen
	c.mu.Unlock()
	v, err := load(ctx)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.val, c.ok, c.at = v, true, c.now()
	}
	c.mu.Unlock()
	return v, nil
}

// Set stores a value known to be current (just written to the store).
func (c *cache[T]) Set(v T) {
	c.mu.Lock()
	c.gen++
	c.val, c.ok, c.at = v, true, c.now()
	c.mu.Unlock()
}

// Invalidate forgets the value; the next Get loads it again, and a load
// already in flight does not store its result.
func (c *cache[T]) Invalidate() {
	c.mu.Lock()
	c.gen++
	var zero T
	c.val, c.ok = zero, false
	c.mu.Unlock()
}
