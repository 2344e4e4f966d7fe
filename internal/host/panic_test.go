package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// callOnce runs one call of a command and returns its frames up to IDLE.
func callOnce(t *testing.T, ctx context.Context, c *client.Client, name string) []wire.Frame {
	t.Helper()
	call, err := c.Start(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if err := call.SendText(""); err != nil {
		t.Fatal(err)
	}
	var out []wire.Frame
	for {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Type == wire.TypeIdle {
			return out
		}
		out = append(out, f)
	}
}

// TestCommandPanicsAreContained: a panic in a command (in its own
// goroutine or inline in the session loop) used to end the host process
// and every session on it. Now the caller gets ERR and IDLE, the panic is
// counted, and the session and the others carry on.
func TestCommandPanicsAreContained(t *testing.T) {
	pub := func(cat module.Category, _ store.Settings) bool { return cat == module.Public }
	mod := module.NewInProcess("test.panics", []*module.Command{
		{Def: module.Def{Name: "boom"}, In: pub, MaxArgs: -1,
			Run: func(context.Context, *module.Call) error { panic("boom") }},
		{Def: module.Def{Name: "boomline"}, In: pub, MaxArgs: -1, Inline: true,
			Run: func(context.Context, *module.Call) error { panic("inline boom") }},
		{Def: module.Def{Name: "fine"}, In: pub, MaxArgs: -1,
			Run: func(_ context.Context, c *module.Call) error { c.Text("fine"); return nil }},
	})
	h := hosttest.StartWith(t, hosttest.Options{Modules: []module.Module{mod}})
	ctx := hosttest.Ctx(t, 30*time.Second)
	a, b := h.Dial(t), h.Dial(t)
	for _, name := range []string{"boom", "boomline"} {
		got := callOnce(t, ctx, a, name)
		if len(got) != 1 || got[0].Type != wire.TypeErr || wire.DecodeText(got[0].Payload) != "err: internal error; details were logged for admin review\n" {
			t.Fatalf("%s answered %v, want one ERR then IDLE", name, got)
		}
	}
	for _, c := range []*client.Client{a, b} {
		if got := callOnce(t, ctx, c, "fine"); len(got) != 1 || wire.DecodeText(got[0].Payload) != "fine" {
			t.Fatalf("after the panics: %v", got)
		}
	}
	for where, want := range map[string]float64{"command": 1, "inline": 1} {
		if n := testutil.ToFloat64(h.Metrics().Panics.WithLabelValues(where)); n != want {
			t.Errorf("mrci_panics_total{where=%q} = %v, want %v", where, n, want)
		}
	}
}
