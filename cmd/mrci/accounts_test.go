package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store/sqlite"
)

func TestAccountLimitsCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--data-dir", dir, "account-limits"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "max-channels   50\n") || !strings.Contains(out.String(), "first-delay    1s\n") {
		t.Fatalf("defaults not shown:\n%s", out.String())
	}
	out.Reset()
	args := []string{"--data-dir", dir, "account-limits", "--max-channels", "7", "--first-delay", "0", "--rename-window", "10m"}
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	st, err := sqlite.Open(context.Background(), dir+"/mrci.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := st.AccountLimits(context.Background())
	if err != nil || l.MaxChannelsPerUser != 7 || l.FirstDelay != 0 || l.RenameWindow != 10*time.Minute || l.MaxRenames != 20 {
		t.Fatalf("stored limits %+v, %v", l, err)
	}
	if !strings.Contains(out.String(), "max-channels   7\n") {
		t.Fatalf("output:\n%s", out.String())
	}
}
