package host_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// flagsFail is a store whose read-only flags cannot be read.
type flagsFail struct{ store.Store }

func (flagsFail) ReadOnlyFlags(context.Context, uint64) ([]store.ReadOnlyFlag, error) {
	return nil, errors.New("injected: database unavailable")
}

// TestReadOnlyCheckFailsClosed: when the read-only flags cannot be read,
// an opened sub-channel is not writable (issue 8, point 10), so cast
// refuses instead of writing where a flag may forbid it.
func TestReadOnlyCheckFailsClosed(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{WrapStore: func(st store.Store) store.Store { return flagsFail{st} }})
	root := h.Root(t)
	wantOK(t, run(t, root, "add_ch", "-ch_name room"))
	wantOK(t, run(t, root, "add_sub_ch", "-ch_name room -sub_name talk"))
	wantOK(t, run(t, root, "open_sub_ch", "-ch_name room -sub_name talk"))
	ctx := hosttest.Ctx(t, 20*time.Second)
	call, err := root.Start(ctx, "cast")
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Send(wire.TypeText, wire.EncodeText("hello")); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == wire.TypeErr {
			errs = append(errs, wire.DecodeText(f.Payload))
		}
		if f.Type == wire.TypeIdle {
			break
		}
	}
	const want = "err: every open sub-channel is read-only for you; open a sub-channel you may write to first\n"
	if len(errs) != 1 || errs[0] != want {
		t.Fatalf("cast errors = %q, want %q", errs, want)
	}
}
