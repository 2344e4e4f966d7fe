package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/mrci/mrci/internal/store"
)

// AdmissionSettings returns the admission settings (defaults when none were saved).
func (s *Store) AdmissionSettings(ctx context.Context) (store.AdmissionSettings, error) {
	var (
		a                    store.AdmissionSettings
		pending, perAddr, bu int64
	)
	err := s.db.QueryRow(ctx, `SELECT max_pending, max_pending_per_addr, conn_rate_per_addr,
		conn_burst_per_addr, limit_loopback FROM admission_settings WHERE id = 1`).Scan(
		&pending, &perAddr, &a.ConnRatePerAddr, &bu, &a.LimitLoopback)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.DefaultAdmissionSettings(), nil
	}
	if err != nil {
		return store.AdmissionSettings{}, wrap("admission settings", err)
	}
	a.MaxPending, a.MaxPendingPerAddr, a.ConnBurstPerAddr = uint32(pending), uint32(perAddr), uint32(bu)
	return a, nil
}

// SaveAdmissionSettings validates and stores the admission settings.
func (s *Store) SaveAdmissionSettings(ctx context.Context, a store.AdmissionSettings) error {
	if err := a.Validate(); err != nil {
		return wrap("save admission settings", err)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO admission_settings (id, max_pending, max_pending_per_addr,
		conn_rate_per_addr, conn_burst_per_addr, limit_loopback) VALUES (1, $1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET max_pending = excluded.max_pending,
		max_pending_per_addr = excluded.max_pending_per_addr, conn_rate_per_addr = excluded.conn_rate_per_addr,
		conn_burst_per_addr = excluded.conn_burst_per_addr, limit_loopback = excluded.limit_loopback`,
		int64(a.MaxPending), int64(a.MaxPendingPerAddr), a.ConnRatePerAddr, int64(a.ConnBurstPerAddr), a.LimitLoopback)
	if err != nil {
		return wrap("save admission settings", err)
	}
	return nil
}
