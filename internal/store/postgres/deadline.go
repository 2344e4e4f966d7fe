package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultCallTimeout bounds each statement whose context has no deadline
// of its own (Options.CallTimeout).
const DefaultCallTimeout = 10 * time.Second

// pool is the connection pool with a default deadline: a statement whose
// context carries no deadline gets timeout, so a database that stops
// answering (a cut network, a frozen server) fails the call with an error
// instead of holding the caller for good. A context that has a deadline
// (the session loop's I/O deadline, for one) is passed on unchanged; pgx
// honours it by interrupting the connection.
type pool struct {
	*pgxpool.Pool
	timeout time.Duration
}

// bound returns ctx with the default deadline unless it has one.
func bound(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// Exec runs a statement under the default deadline.
func (p *pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := bound(ctx, p.timeout)
	defer cancel()
	return p.Pool.Exec(ctx, sql, args...)
}

// Query runs a query; the deadline lasts until the rows are closed.
func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := bound(ctx, p.timeout)
	rows, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &boundRows{Rows: rows, cancel: cancel}, nil
}

// QueryRow runs a query; the deadline lasts until the row is scanned.
func (p *pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := bound(ctx, p.timeout)
	return &boundRow{row: p.Pool.QueryRow(ctx, sql, args...), cancel: cancel}
}

// Begin starts a transaction whose statements get the default deadline.
func (p *pool) Begin(ctx context.Context) (pgx.Tx, error) {
	bctx, cancel := bound(ctx, p.timeout)
	defer cancel()
	tx, err := p.Pool.Begin(bctx)
	if err != nil {
		return nil, err
	}
	return &boundTx{Tx: tx, timeout: p.timeout}, nil
}

// boundTx gives each statement of a transaction the default deadline.
type boundTx struct {
	pgx.Tx
	timeout time.Duration
}

func (t *boundTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := bound(ctx, t.timeout)
	defer cancel()
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *boundTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := bound(ctx, t.timeout)
	rows, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &boundRows{Rows: rows, cancel: cancel}, nil
}

func (t *boundTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := bound(ctx, t.timeout)
	return &boundRow{row: t.Tx.QueryRow(ctx, sql, args...), cancel: cancel}
}

func (t *boundTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	ctx, cancel := bound(ctx, t.timeout)
	return &boundBatch{BatchResults: t.Tx.SendBatch(ctx, b), cancel: cancel}
}

func (t *boundTx) Commit(ctx context.Context) error {
	ctx, cancel := bound(ctx, t.timeout)
	defer cancel()
	return t.Tx.Commit(ctx)
}

func (t *boundTx) Rollback(ctx context.Context) error {
	ctx, cancel := bound(ctx, t.timeout)
	defer cancel()
	return t.Tx.Rollback(ctx)
}

// boundRows releases the deadline when the rows are done.
type boundRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r *boundRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.cancel()
	return false
}

func (r *boundRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// boundRow releases the deadline once the row is scanned.
type boundRow struct {
	row    pgx.Row
	cancel context.CancelFunc
}

func (r *boundRow) Scan(dest ...any) error {
	defer r.cancel()
	return r.row.Scan(dest...)
}

// boundBatch releases the deadline when the batch is closed.
type boundBatch struct {
	pgx.BatchResults
	cancel context.CancelFunc
}

func (b *boundBatch) Close() error {
	defer b.cancel()
	return b.BatchResults.Close()
}
