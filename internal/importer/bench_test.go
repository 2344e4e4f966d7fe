package importer_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
)

// bigSource returns a copy of the fixture grown to a larger community:
// users accounts, channels channels with 4 sub-channels each, and every
// user in 4 channels.
func bigSource(b *testing.B, users, channels int) string {
	b.Helper()
	src := copyFixture(b)
	mutate(b, src,
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO users (user_name, user_id, email_address, hash, salt, new_password_req, new_name_req,
				locked, email_verified, display_name, host_rank)
			SELECT 'user' || i, randomblob(32), 'user' || i || '@example.org', randomblob(64), randomblob(128),
				0, 0, 0, 1, 'User ' || i, 2 + i %% 3 FROM n`, users),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO channels (channel_id, channel_name) SELECT i, 'channel' || i FROM n`, channels+1),
		`INSERT INTO sub_channels SELECT c.channel_id, 'sub' || k.k, k.k, 4, k.k % 2
			FROM channels c, (SELECT 0 AS k UNION SELECT 1 UNION SELECT 2 UNION SELECT 3) k WHERE c.channel_id > 1`,
		fmt.Sprintf(`INSERT INTO channel_members SELECT 2 + ((u.rowid * 7 + k.k * 131) %% %d), u.user_id, 0, 1 + k.k
			FROM users u, (SELECT 0 AS k UNION SELECT 1 UNION SELECT 2 UNION SELECT 3) k WHERE u.user_name LIKE 'user%%'`, channels),
	)
	return src
}

func benchImport(b *testing.B, open func(b *testing.B) store.Store) {
	src := bigSource(b, 5000, 500)
	for b.Loop() {
		b.StopTimer()
		st := open(b)
		b.StartTimer()
		rep, err := importer.Run(b.Context(), st, importer.Options{Source: src})
		if err != nil {
			b.Fatal(err)
		}
		if got := rep.Table("channel_members").Imported; got != 20001 {
			b.Fatalf("imported %d memberships", got)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkImportSQLite imports 5,003 accounts, 501 channels, 2,001
// sub-channels and 20,001 memberships into a fresh SQLite store.
func BenchmarkImportSQLite(b *testing.B) {
	benchImport(b, func(b *testing.B) store.Store {
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "mrci.db"))
		if err != nil {
			b.Fatal(err)
		}
		return st
	})
}

// BenchmarkImportPostgres is the same import into a fresh PostgreSQL schema.
func BenchmarkImportPostgres(b *testing.B) {
	benchImport(b, func(b *testing.B) store.Store { return openPostgres(b) })
}
