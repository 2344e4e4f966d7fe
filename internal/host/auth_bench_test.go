package host_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/wire"
)

// BenchmarkAuthAttempts measures failed password answers per second
// against root from loopback (exempt from the ban), end to end through a
// client session, with an empty auth log and with 1M failure rows of root
// in it (issue 8, defect 8: the rate must not fall as the log grows).
//
//	go test -run '^$' -bench AuthAttempts -benchtime 2000x ./internal/host/
func BenchmarkAuthAttempts(b *testing.B) {
	for _, rows := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("log=%d", rows), func(b *testing.B) {
			h := hosttest.Start(b)
			root, err := h.Store.UserByName(context.Background(), "root")
			if err != nil {
				b.Fatal(err)
			}
			db, err := sql.Open("sqlite", "file:"+filepath.Join(h.DataDir, "mrci.db")+"?_pragma=busy_timeout(5000)")
			if err != nil {
				b.Fatal(err)
			}
			// Failures that no longer count (earlier logins un-counted them),
			// as a host that has been guessed at for a long time has.
			if _, err := db.Exec(`WITH RECURSIVE seq(i) AS
				(SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
				INSERT INTO auth_log (ip_address, user_id, auth_attempt, count_to_threshold, accepted)
				SELECT '127.0.0.1', ?, 1, 0, 0 FROM seq`, rows, root.ID[:]); err != nil {
				b.Fatal(err)
			}
			db.Close()
			c := h.Dial(b)
			ctx := context.Background()
			call, err := c.Start(ctx, "auth")
			if err != nil {
				b.Fatal(err)
			}
			// next waits for the password prompt, (re)starting auth when
			// the threshold ended the previous round.
			next := func() {
				for {
					f, err := call.Next(ctx)
					if err != nil {
						if err := call.SendText("-user root"); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if f.Type == wire.TypePrivText {
						return
					}
				}
			}
			if err := call.SendText("-user root"); err != nil {
				b.Fatal(err)
			}
			next()
			for b.Loop() {
				if err := call.SendText("Wrong-Pass-1"); err != nil {
					b.Fatal(err)
				}
				next()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
		})
	}
}
