package host

import (
	"context"
	"sync"
)

// FilesRoot returns the default files root of the fs_* commands (used
// when the files_settings row names none).
func (h *Host) FilesRoot() string { return h.cfg.FilesRoot }

// warnFiles logs a warning when the file-system commands are configured
// without confinement (docs/files.md).
func (h *Host) warnFiles(ctx context.Context) {
	f, err := h.cfg.Store.FilesSettings(ctx)
	if err != nil {
		h.log.Error("files settings", "err", err)
		return
	}
	if f.Unconfined {
		h.log.Warn("file commands are NOT confined: users allowed to run fs_* commands can read, write and delete " +
			"every file the host's OS account can reach (files_settings.unconfined)")
	}
}

// filesQuota holds the bytes that running uploads and copies have reserved
// in each home, so transfers that run at the same time cannot together
// exceed a quota.
type filesQuota struct {
	mu       sync.Mutex
	reserved map[string]int64
}

// ReserveFiles reserves grow bytes in the home at path dir if used (the
// bytes on disk now) plus what running transfers reserved plus grow stays
// within quota. It returns a release function, or ok false and what others
// have reserved.
func (h *Host) ReserveFiles(dir string, used, grow, quota int64) (release func(), reserved int64, ok bool) {
	q := &h.files
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reserved[dir]
	if used+r+grow > quota {
		return nil, r, false
	}
	if q.reserved == nil {
		q.reserved = make(map[string]int64)
	}
	q.reserved[dir] = r + grow
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.reserved[dir] -= grow; q.reserved[dir] <= 0 {
				delete(q.reserved, dir)
			}
		})
	}, r, true
}
