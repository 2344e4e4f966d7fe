package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mrci/mrci/internal/store"
)

// AdmissionSettings returns the admission settings (defaults when none were saved).
func (s *Store) AdmissionSettings(ctx context.Context) (store.AdmissionSettings, error) {
	var a store.AdmissionSettings
	err := s.r.QueryRowContext(ctx, `SELECT max_pending, max_pending_per_addr, conn_rate_per_addr,
		conn_burst_per_addr, limit_loopback FROM admission_settings WHERE id = 1`).Scan(
		&a.MaxPending, &a.MaxPendingPerAddr, &a.ConnRatePerAddr, &a.ConnBurstPerAddr, &a.LimitLoopback)
	if errors.Is(err, sql.ErrNoRows) {
		return store.DefaultAdmissionSettings(), nil
	}
	if err != nil {
		return store.AdmissionSettings{}, wrap("admission settings", err)
	}
	return a, nil
}

// SaveAdmissionSettings validates and stores the admission settings.
func (s *Store) SaveAdmissionSettings(ctx context.Context, a store.AdmissionSettings) error {
	if err := a.Validate(); err != nil {
		return wrap("save admission settings", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO admission_settings (id, max_pending, max_pending_per_addr,
		conn_rate_per_addr, conn_burst_per_addr, limit_loopback) VALUES (1, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET max_pending = excluded.max_pending,
		max_pending_per_addr = excluded.max_pending_per_addr, conn_rate_per_addr = excluded.conn_rate_per_addr,
		conn_burst_per_addr = excluded.conn_burst_per_addr, limit_loopback = excluded.limit_loopback`,
		a.MaxPending, a.MaxPendingPerAddr, a.ConnRatePerAddr, a.ConnBurstPerAddr, a.LimitLoopback)
	if err != nil {
		return wrap("save admission settings", err)
	}
	return nil
}
