package host_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"

	_ "modernc.org/sqlite" // database/sql driver for inspecting the file
)

func debugRows(t *testing.T, st store.Store) []string {
	t.Helper()
	rows, err := st.ListView(context.Background(), store.ViewDebug, nil, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Cells[1])
	}
	return out
}

func TestLogRetentionPrunesOldRows(t *testing.T) {
	h := hosttest.Start(t)
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(h.DataDir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := time.Now().UTC().Add(-72 * time.Hour).Format(store.TimeLayout)
	if _, err := db.ExecContext(ctx, `INSERT INTO host_debug_messages (time_stamp, log_entry) VALUES (?, 'three days old')`, old); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.LogDebug(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	// Retention 0 keeps everything.
	h.PruneLogs(ctx)
	if got := debugRows(t, h.Store); len(got) != 2 {
		t.Fatalf("retention 0 pruned: %q", got)
	}
	a := store.DefaultAdminSettings()
	a.LogRetentionDays = 2
	if err := h.Store.SaveAdminSettings(ctx, a); err != nil {
		t.Fatal(err)
	}
	h.PruneLogs(ctx)
	if got := debugRows(t, h.Store); len(got) != 1 || got[0] != "fresh" {
		t.Fatalf("after pruning with 2 days: %q", got)
	}
}

// TestCloseWhileCommandRuns stops the host while a command waits at its
// prompt: the command ends with its session and the database stays sound.
func TestCloseWhileCommandRuns(t *testing.T) {
	h := hosttest.Start(t)
	root := h.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := root.Start(ctx, "host_config")
	if err != nil {
		t.Fatal(err)
	}
	if err := call.SendText(""); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == wire.TypeText && strings.HasSuffix(wire.DecodeText(f.Payload), "select an option: ") {
			break
		}
	}
	h.Exit()
	var notice string
	for f := range root.Async() {
		if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeText {
			notice = wire.DecodeText(f.Payload)
		}
	}
	if notice != host.NoticeClosing {
		t.Fatalf("last notice %q", notice)
	}
	if _, err := call.Next(ctx); err == nil {
		t.Fatal("the call survived the host")
	}
	<-h.Done()
	db, err := sql.Open("sqlite", filepath.Join(h.DataDir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check %q, %v", check, err)
	}
	var c *client.Client
	if c, err = client.Dial(ctx, h.Addr, client.Options{}); err == nil {
		c.Close()
		t.Fatal("the host still accepts connections")
	}
}
