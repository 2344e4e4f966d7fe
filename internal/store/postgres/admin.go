package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrci/mrci/internal/store"
)

// AdminSettings returns the administration settings row.
func (s *Store) AdminSettings(ctx context.Context) (store.AdminSettings, error) {
	a := store.DefaultAdminSettings()
	var days int64
	err := s.db.QueryRow(ctx, `SELECT cert_auto_generate, log_retention_days, ban_ends_sessions
		FROM admin_settings WHERE id = 1`).Scan(&a.CertAutoGenerate, &days, &a.BanEndsSessions)
	if errors.Is(err, pgx.ErrNoRows) {
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
	_, err := s.db.Exec(ctx, `INSERT INTO admin_settings (id, cert_auto_generate, log_retention_days,
		ban_ends_sessions) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET
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
	var total int64
	err := s.inTx(ctx, "prune logs", func(tx pgx.Tx) error {
		for _, table := range []string{"ip_history", "auth_log", "host_debug_messages"} {
			tag, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE time_stamp < $1`, before)
			if err != nil {
				return wrap("prune logs", err)
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	return total, err
}
