package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mrci/mrci/internal/store"
)

// FilesSettings returns the file-system command settings.
func (s *Store) FilesSettings(ctx context.Context) (store.FilesSettings, error) {
	var f store.FilesSettings
	err := s.r.QueryRowContext(ctx, `SELECT root, homes, quota, unconfined FROM files_settings WHERE singleton = 1`).
		Scan(&f.Root, &f.Homes, &f.Quota, &f.Unconfined)
	if errors.Is(err, sql.ErrNoRows) {
		return store.DefaultFilesSettings(), nil
	}
	if err != nil {
		return store.FilesSettings{}, wrap("files settings", err)
	}
	return f, nil
}

// SaveFilesSettings replaces the file-system command settings.
func (s *Store) SaveFilesSettings(ctx context.Context, f store.FilesSettings) error {
	if f.Quota < 0 {
		return wrap("save files settings", fmt.Errorf("negative quota %d", f.Quota))
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO files_settings (singleton, root, homes, quota, unconfined)
		VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (singleton) DO UPDATE SET root = excluded.root, homes = excluded.homes,
			quota = excluded.quota, unconfined = excluded.unconfined`,
		f.Root, f.Homes, f.Quota, f.Unconfined)
	if err != nil {
		return wrap("save files settings", err)
	}
	return nil
}
