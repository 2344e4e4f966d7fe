package host_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
)

// TestOwnerOverrideOffClosesWhatItOpened: a sub-channel opened only thanks
// to the owner override is closed as soon as the override is turned off.
func TestOwnerOverrideOffClosesWhatItOpened(t *testing.T) {
	h := hosttest.Start(t)
	ctx := context.Background()
	alice := h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	ch, err := h.Store.CreateChannel(ctx, "private", alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := h.Store.CreateSubChannel(ctx, ch.ID, "owners", 50)
	if err != nil {
		t.Fatal(err)
	}
	sc.LowestLevel = 1
	if err := h.Store.UpdateSubChannel(ctx, sc); err != nil {
		t.Fatal(err)
	}
	root := h.Root(t)
	wantErr(t, run(t, root, "open_sub_ch", "-ch_name private -sub_name owners"), "access denied")
	wantOK(t, run(t, root, "ch_owner_override", "-state 1"))
	wantOK(t, run(t, root, "open_sub_ch", "-ch_name private -sub_name owners"))
	if out := run(t, root, "ls_open_chs", "").Text(); !strings.Contains(out, "owners") {
		t.Fatalf("ls_open_chs after opening:\n%s", out)
	}
	wantOK(t, run(t, root, "ch_owner_override", "-state 0"))
	if out := run(t, root, "ls_open_chs", "").Text(); strings.Contains(out, "owners") {
		t.Fatalf("sub-channel still open after the override was turned off:\n%s", out)
	}
}
