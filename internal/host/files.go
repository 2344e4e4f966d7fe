package host

import (
	"context"
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
