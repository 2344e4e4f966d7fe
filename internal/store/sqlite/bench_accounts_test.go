package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Benchmarks of issue 8 (docs/benchmarks.md). Run them on a disk, not a
// tmpfs, so that syncs cost what they cost:
//
//	go test -run '^$' -bench 'Auth|Durab' -benchtime 2s ./internal/store/sqlite/

func benchStore(b *testing.B, syncMode string) (*Store, wire.UserID) {
	b.Helper()
	s, err := open(context.Background(), filepath.Join(b.TempDir(), "mrci.db"), syncMode)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var id wire.UserID
	id[0] = 1
	if err := s.CreateUser(context.Background(), store.User{ID: id, Name: "root", PasswordHash: "x", Rank: 1}); err != nil {
		b.Fatal(err)
	}
	return s, id
}

// fillAuthLog adds n counted failures of user from 127.0.0.1 (an attacker
// guessing root's password from loopback, never succeeding).
func fillAuthLog(b *testing.B, s *Store, user wire.UserID, n int) {
	b.Helper()
	_, err := s.w.ExecContext(context.Background(), `WITH RECURSIVE seq(i) AS
		(SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO auth_log (ip_address, user_id, auth_attempt, count_to_threshold, accepted)
		SELECT '127.0.0.1', ?, 1, 1, 0 FROM seq`, n, user[:])
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAuthFailure is the store work of one failed password answer
// against root from loopback, with an empty and a 1M-row auth log:
// counters (BeginAuth + FailAuth, this version) and, for comparison, the
// previous log scan (AddAuthAttempt + CountFailedAuth).
func BenchmarkAuthFailure(b *testing.B) {
	for _, rows := range []int{0, 1_000_000} {
		for _, way := range []string{"counters", "logscan"} {
			b.Run(fmt.Sprintf("log=%d/%s", rows, way), func(b *testing.B) {
				s, root := benchStore(b, syncFull)
				fillAuthLog(b, s, root, rows)
				ctx := context.Background()
				c := store.AuthClaim{User: root, IP: "127.0.0.1", PerIP: true, Now: time.Now(),
					Limits: store.AccountLimits{FreeFailures: 1 << 30}}
				for b.Loop() {
					if way == "counters" {
						if _, err := s.BeginAuth(ctx, c); err != nil {
							b.Fatal(err)
						}
						if _, err := s.FailAuth(ctx, c); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if err := s.AddAuthAttempt(ctx, store.AuthAttempt{IP: c.IP, UserID: root, AuthAttempt: true, CountToThreshold: true}); err != nil {
						b.Fatal(err)
					}
					if _, err := s.CountFailedAuth(ctx, root, c.IP); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
			})
		}
	}
}

// BenchmarkDurability compares synchronous=NORMAL (before) and FULL (now)
// for a write command (set_disp_name: one UpdateUser) and for the store
// work of a login (BeginAuth + PassAuth), plus a batch of 64 activity
// rows (the log writer's transaction).
func BenchmarkDurability(b *testing.B) {
	for _, mode := range []string{"NORMAL", "FULL"} {
		b.Run("write/sync="+mode, func(b *testing.B) {
			s, id := benchStore(b, mode)
			ctx := context.Background()
			name := "Display Name"
			for b.Loop() {
				if err := s.UpdateUser(ctx, id, store.UserUpdate{DisplayName: &name}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("login/sync="+mode, func(b *testing.B) {
			s, id := benchStore(b, mode)
			ctx := context.Background()
			c := store.AuthClaim{User: id, IP: "127.0.0.1", PerIP: true, Limits: store.AccountLimits{FreeFailures: 1 << 30}}
			for b.Loop() {
				c.Now = time.Now()
				if _, err := s.BeginAuth(ctx, c); err != nil {
					b.Fatal(err)
				}
				if err := s.PassAuth(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("logbatch64/sync="+mode, func(b *testing.B) {
			s, _ := benchStore(b, mode)
			ctx := context.Background()
			acts := make([]store.Activity, 64)
			for i := range acts {
				acts[i] = store.Activity{IP: "127.0.0.1", ClientApp: "bench", Entry: "Session Active"}
			}
			for b.Loop() {
				if err := s.LogActivity(ctx, acts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
