package host_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// TestPerAccountCreationLimits reproduces defect 9 of issue 8: one account
// may own only so many channels, a channel may hold only so many pending
// invitations, and renames are limited per time window, with clear errors.
func TestPerAccountCreationLimits(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		l := hosttest.NoDelays()
		l.MaxChannelsPerUser, l.MaxPendingInvites, l.MaxRenames, l.RenameWindow = 3, 2, 2, time.Hour
		_ = st.SaveAccountLimits(context.Background(), l)
	}})
	h.RankAll(t, 10, "add_ch", "invite_to_ch", "rename_ch", "add_sub_ch", "rename_sub_ch")
	const pw = "Abc-Pass-123"
	h.CreateUser(t, "alice", pw, 10)
	for _, n := range []string{"bob", "carol", "dave"} {
		h.CreateUser(t, n, pw, 10)
	}
	a := h.Login(t, "alice", pw)
	for i := range 3 {
		wantOK(t, run(t, a, "add_ch", fmt.Sprintf("-ch_name chan%d", i)))
	}
	wantErr(t, run(t, a, "add_ch", "-ch_name chan3"), "you already own the maximum of 3 channels")
	if n, _ := h.Store.CountOwnedChannels(context.Background(), user(t, h, "alice").ID); n != 3 {
		t.Fatalf("alice owns %d channels, want 3", n)
	}
	wantOK(t, run(t, a, "invite_to_ch", "-ch_name chan0 -user bob"))
	wantOK(t, run(t, a, "invite_to_ch", "-ch_name chan0 -user carol"))
	wantErr(t, run(t, a, "invite_to_ch", "-ch_name chan0 -user dave"), "the channel already has the maximum of 2 pending invitations")
	wantOK(t, run(t, a, "invite_to_ch", "-ch_name chan1 -user dave")) // per channel

	wantOK(t, run(t, a, "rename_ch", "-ch_name chan0 -new_name room0"))
	wantOK(t, run(t, a, "add_sub_ch", "-ch_name room0 -sub_name talk"))
	wantOK(t, run(t, a, "rename_sub_ch", "-ch_name room0 -sub_name talk -new_name chat"))
	const tooMany = "too many renames: at most 2 per 1h0m0s"
	wantErr(t, run(t, a, "rename_ch", "-ch_name chan1 -new_name room1"), tooMany)
	wantErr(t, run(t, a, "rename_sub_ch", "-ch_name room0 -sub_name chat -new_name talk"), tooMany)
	wantErr(t, run(t, a, "set_user_name", "-new_name alicia"), tooMany)
	// Another account has its own quota.
	b := h.Login(t, "bob", pw)
	wantOK(t, run(t, b, "set_user_name", "-new_name robert"))
}

// TestChannelLimitHoldsForParallelCommands runs add_ch on many branches at
// once: the account never ends up owning more than the limit.
func TestChannelLimitHoldsForParallelCommands(t *testing.T) {
	const limit = 3
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		l := hosttest.NoDelays()
		l.MaxChannelsPerUser = limit
		_ = st.SaveAccountLimits(context.Background(), l)
	}})
	h.RankAll(t, 10, "add_ch")
	const pw = "Abc-Pass-123"
	alice := h.CreateUser(t, "alice", pw, 10)
	a := h.Login(t, "alice", pw)
	ctx := hosttest.Ctx(t, 60*time.Second)
	var wg sync.WaitGroup
	for i := range 12 {
		call, err := a.Start(ctx, "add_ch")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := call.SendText(fmt.Sprintf("-ch_name para%d", i)); err != nil {
				t.Error(err)
				return
			}
			for {
				f, err := call.Next(ctx)
				if err != nil || f.Type == wire.TypeIdle {
					if err != nil {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	n, err := h.Store.CountOwnedChannels(context.Background(), alice.ID)
	if err != nil || n < 1 || n > limit {
		t.Fatalf("alice owns %d channels (%v), want 1..%d", n, err, limit)
	}
}
