package host

import (
	"context"
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
	c *cache[store.Settings]
	// saved, if set, runs after the settings were stored (the cluster
	// tells the other nodes).
	saved func()
}

func newSettingsCache(st store.Store) *settingsCache {
	return &settingsCache{Store: st, c: newCache[store.Settings](settingsTTL)}
}

// Settings returns the cached settings, reading them when stale.
func (c *settingsCache) Settings(ctx context.Context) (store.Settings, error) {
	return c.c.Get(ctx, c.Store.Settings)
}

// SaveSettings stores the settings and refreshes the cached copy. A read
// of the old row that is in flight meanwhile does not replace it.
func (c *settingsCache) SaveSettings(ctx context.Context, s store.Settings) error {
	if err := c.Store.SaveSettings(ctx, s); err != nil {
		c.c.Invalidate()
		return err
	}
	c.c.Set(s)
	if c.saved != nil {
		c.saved()
	}
	return nil
}

// invalidate makes the next Settings read the database.
func (c *settingsCache) invalidate() { c.c.Invalidate() }
