package host

import (
	"context"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// blockingLoad returns a load function that signals when it starts and
// returns v once released, so a test can interleave an invalidation with
// a refill deterministically (no sleeps).
func blockingLoad[T any](v T) (load func(context.Context) (T, error), started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	return func(context.Context) (T, error) {
		close(started)
		<-release
		return v, nil
	}, started, release
}

func TestCacheInvalidationDuringRefillWins(t *testing.T) {
	c := newCache[string](0)
	load, started, release := blockingLoad("old")
	done := make(chan string)
	go func() {
		v, _ := c.Get(context.Background(), load)
		done <- v
	}()
	<-started
	c.Invalidate() // the data changed while "old" was being read
	close(release)
	if v := <-done; v != "old" {
		t.Fatalf("in-flight Get = %q, want its own load's value", v)
	}
	loads := 0
	v, err := c.Get(context.Background(), func(context.Context) (string, error) { loads++; return "new", nil })
	if err != nil || v != "new" || loads != 1 {
		t.Fatalf("Get after the invalidation = %q (%d loads), want a reload giving new", v, loads)
	}
	// Now cached.
	v, _ = c.Get(context.Background(), func(context.Context) (string, error) { loads++; return "other", nil })
	if v != "new" || loads != 1 {
		t.Fatalf("Get = %q (%d loads), want the cached value", v, loads)
	}
}

func TestCacheSetDuringRefillWins(t *testing.T) {
	c := newCache[string](0)
	load, started, release := blockingLoad("old")
	done := make(chan struct{})
	go func() {
		_, _ = c.Get(context.Background(), load)
		close(done)
	}()
	<-started
	c.Set("saved")
	close(release)
	<-done
	v, _ := c.Get(context.Background(), func(context.Context) (string, error) { return "loaded", nil })
	if v != "saved" {
		t.Fatalf("Get = %q, want the value Set during the refill", v)
	}
}

// slowSettings is a store whose Settings read blocks until released.
type slowSettings struct {
	store.Store
	row              store.Settings
	started, release chan struct{}
}

func (s *slowSettings) Settings(context.Context) (store.Settings, error) {
	close(s.started)
	<-s.release
	return s.row, nil
}

func (s *slowSettings) SaveSettings(_ context.Context, st store.Settings) error {
	s.row = st
	return nil
}

func TestSettingsCacheSaveDuringReadIsKept(t *testing.T) {
	old := store.DefaultSettings()
	st := &slowSettings{row: old, started: make(chan struct{}), release: make(chan struct{})}
	c := newSettingsCache(st)
	fixed := time.Now()
	c.c.now = func() time.Time { return fixed } // the TTL never expires here
	done := make(chan struct{})
	go func() {
		_, _ = c.Settings(context.Background())
		close(done)
	}()
	<-st.started
	saved := old
	saved.MaxSessions = 7
	if err := c.SaveSettings(context.Background(), saved); err != nil {
		t.Fatal(err)
	}
	close(st.release) // the read returns the old row
	<-done
	got, err := c.Settings(context.Background()) // from the cache
	if err != nil || got.MaxSessions != 7 {
		t.Fatalf("MaxSessions = %d (%v), want 7 (the saved row, not the older read)", got.MaxSessions, err)
	}
}
