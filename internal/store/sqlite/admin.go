package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// AdminSettings returns the administration settings row.
func (s *Store) AdminSettings(ctx context.Context) (store.AdminSettings, error) {
	a := store.DefaultAdminSettings()
	var days int64
	err := s.r.QueryRowContext(ctx, `SELECT cert_auto_generate, log_retention_days, ban_ends_sessions
		FROM admin_settings WHERE id = 1`).Scan(&a.CertAutoGenerate, &days, &a.BanEndsSessions)
	if errors.Is(err, sql.ErrNoRows) {
		return store.DefaultAdminSettings(), nil
	}
	if err != nil {
		return a, wrap("admin settings", err)
	}
	a.LogRetentionDays = uint32(days)
	return a, nil
}

// SaveAdminSettings replaces the administration settings row.
func (s *Store) SaveAdminSettings(ctx context.Context, a store.AdminSettings) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO admin_settings (id, cert_auto_generate, log_retention_days,
		ban_ends_sessions) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET
		cert_auto_generate = excluded.cert_auto_generate, log_retention_days = excluded.log_retention_days,
		ban_ends_sessions = excluded.ban_ends_sessions`,
		a.CertAutoGenerate, int64(a.LogRetentionDays), a.BanEndsSessions)
	if err != nil {
		return wrap("save admin settings", err)
	}
	return nil
}

// PruneLogs deletes log rows stamped before the given time.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	cut := before.UTC().Format(store.TimeLayout)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("prune logs", err)
	}
	defer func() { _ = tx.Rollback() }()
	var total int64
	for _, table := range []string{"ip_history", "auth_log", "host_debug_messages"} {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE time_stamp < ?`, cut)
		if err != nil {
			return 0, wrap("prune logs", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, wrap("prune logs", err)
		}
		total += n
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap("prune logs", err)
	}
	return total, nil
}
