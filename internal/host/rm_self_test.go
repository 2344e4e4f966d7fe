package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// TestRmAcctOfOwnAccountEndsWithItsNormalReply: deleting one's own account
// logs the session out, which unloads rm_acct itself; the call must still
// end with its normal reply (IDLE, no error), not with "The command was
// removed from this session while it was running." (issue 8, point 10).
func TestRmAcctOfOwnAccountEndsWithItsNormalReply(t *testing.T) {
	h := hosttest.Start(t)
	h.RankAll(t, 5, "rm_acct")
	const pw = "Abc-Pass-123"
	h.CreateUser(t, "pleb", pw, 5)
	c := h.Login(t, "pleb", pw)
	ctx := hosttest.Ctx(t, 20*time.Second)
	call, err := c.Start(ctx, "rm_acct")
	if err != nil {
		t.Fatal(err)
	}
	if err := call.SendText("-name pleb -force"); err != nil {
		t.Fatal(err)
	}
	var frames []wire.Frame
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		frames = append(frames, f)
		if f.Type == wire.TypeIdle {
			break
		}
	}
	if len(frames) != 1 || frames[0].Type != wire.TypeIdle || len(frames[0].Payload) != 0 ||
		frames[0].Cmd != call.Cmd() || frames[0].Branch != call.Branch() {
		for _, f := range frames {
			t.Logf("frame %v cmd %d branch %d %q", f.Type, f.Cmd, f.Branch, wire.DecodeText(f.Payload))
		}
		t.Fatalf("rm_acct of the own account sent %d frames, want exactly its IDLE", len(frames))
	}
	if _, err := h.Store.UserByName(context.Background(), "pleb"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account still there: %v", err)
	}
	// The session is logged out and keeps working.
	res := run(t, c, "my_info", "")
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Text(), "User Name:") {
		t.Fatalf("still logged in:\n%s", res.Text())
	}
	// The removal of rm_acct was announced after its reply.
	if _, ok := c.CommandID("rm_acct"); ok {
		t.Fatal("rm_acct still in the client's command table")
	}
}
