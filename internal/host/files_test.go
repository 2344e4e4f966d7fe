package host_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
)

// TestUnconfinedFilesWarnAtStart: a host whose file commands are not
// confined says so in its log when it starts; a confined one does not.
func TestUnconfinedFilesWarnAtStart(t *testing.T) {
	for _, unconfined := range []bool{false, true} {
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mrci.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SaveFilesSettings(ctx, store.FilesSettings{Unconfined: unconfined}); err != nil {
			t.Fatal(err)
		}
		var logs hosttest.Buffer
		h, err := host.New(ctx, host.Config{Store: st, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		cancel()
		_ = h.Serve(sctx, ln) // returns at once; stops the host's background work
		_ = st.Close()
		if got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "NOT confined"); got != unconfined {
			t.Fatalf("unconfined=%v: warning logged %v:\n%s", unconfined, got, logs.String())
		}
	}
}
