package host

import (
	"context"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// settingsTTL is how long a host reuses the settings row it read. Changes
// made through this host are visible at once; changes made by another node
// of a cluster within this time.
const settingsTTL = time.Second

// settingsCache wraps a store so that the settings row, which every new
// session and every command listing consults, is read from the database at
// most once per settingsTTL.
type settingsCache struct {
	store.Store
	mu  sync.Mutex
	s   store.Settings
	at  time.Time
	now func() time.Time
}

func newSettingsCache(st store.Store) *settingsCache {
	return &settingsCache{Store: st, now: time.Now}
}

// Settings returns the cached settings, reading them when stale.
func (c *settingsCache) Settings(ctx context.Context) (store.Settings, error) {
	c.mu.Lock()
	if !c.at.IsZero() && c.now().Sub(c.at) < settingsTTL {
		s := c.s
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	s, err := c.Store.Settings(ctx)
	if err != nil {
		return s, err
	}
	c.mu.Lock()
	c.s, c.at = s, c.now()
	c.mu.Unlock()
	return s, nil
}

// SaveSettings stores the settings and refreshes the cached copy.
func (c *settingsCache) SaveSettings(ctx context.Context, s store.Settings) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Store.SaveSettings(ctx, s); err != nil {
		c.at = time.Time{}
		return err
	}
	c.s, c.at = s, c.now()
	return nil
}

// invalidate makes the next Settings read the database.
func (c *settingsCache) invalidate() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}
