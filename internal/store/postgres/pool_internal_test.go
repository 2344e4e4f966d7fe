package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/store/postgres/pgtest"
)

// TestPoolSize checks the connection pool's size: DefaultMaxConns when the
// DSN says nothing (pgxpool's own default of 4 is too small for a host),
// and exactly what pool_max_conns says when it is given.
func TestPoolSize(t *testing.T) {
	dsn, _ := pgtest.Schema(t, pgtest.Base(t), "mrci_test_")
	sep := " " // key=value form
	if strings.Contains(dsn, "://") {
		sep = "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
	}
	for _, tc := range []struct {
		dsn  string
		want int32
	}{
		{dsn, DefaultMaxConns},
		{dsn + sep + "pool_max_conns=3", 3},
	} {
		s, err := Open(context.Background(), tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		got := s.db.Config().MaxConns
		s.Close()
		if got != tc.want {
			t.Errorf("%s: pool of %d connections, want %d", pgtest.Redact(tc.dsn), got, tc.want)
		}
	}
}
