package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mrci/mrci/internal/store"
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

// unavailable marks an error that means the server did not answer (as
// opposed to an answer that is an error) with store.ErrUnavailable.
func unavailable(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, pgx.ErrTxClosed) || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &pe) {
		// The server answered; 57P01..57P03 (admin shutdown, crash
		// shutdown, cannot connect now) mean it is going away.
		if !strings.HasPrefix(pe.Code, "57P") {
			return err
		}
	} else if !pgconn.Timeout(err) && !errors.As(err, &ce) && !errors.As(err, &ne) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
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
	tag, err := p.Pool.Exec(ctx, sql, args...)
	return tag, unavailable(err)
}

// Query runs a query; the deadline lasts until the rows are closed.
func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := bound(ctx, p.timeout)
	rows, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, unavailable(err)
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
		return nil, unavailable(err)
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
	tag, err := t.Tx.Exec(ctx, sql, args...)
	return tag, unavailable(err)
}

func (t *boundTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := bound(ctx, t.timeout)
	rows, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, unavailable(err)
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
	return unavailable(t.Tx.Commit(ctx))
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

func (r *boundRows) Err() error { return unavailable(r.Rows.Err()) }

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
	return unavailable(r.row.Scan(dest...))
}

// boundBatch releases the deadline when the batch is closed.
type boundBatch struct {
	pgx.BatchResults
	cancel context.CancelFunc
}

func (b *boundBatch) Close() error {
	defer b.cancel()
	return unavailable(b.BatchResults.Close())
}
