package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
)

func TestAdmissionShowsAndStoresSettings(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCLI(t, "admission", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "max-pending:          2048") || strings.Contains(out, "saved") {
		t.Fatalf("show defaults = %d %q", code, out)
	}
	code, out, _ = runCLI(t, "admission", "--data-dir", dir, "--conn-rate", "2.5", "--limit-loopback")
	if code != 0 || !strings.Contains(out, "conn-rate:            2.5 per second") || !strings.Contains(out, "saved") {
		t.Fatalf("change = %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "admission", "--data-dir", dir, "--max-pending", "0"); code != 128 || !strings.Contains(errOut, "at least 1") {
		t.Fatalf("invalid change = %d %q", code, errOut)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := store.DefaultAdmissionSettings()
	want.ConnRatePerAddr, want.LimitLoopback = 2.5, true
	if got, err := st.AdmissionSettings(context.Background()); err != nil || got != want {
		t.Fatalf("stored %+v, %v; want %+v", got, err, want)
	}
}
