package cmds

import (
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/internal/wire"
)

// The root IP ban needs a client on a non-loopback address, which the
// end-to-end tests cannot have (their traffic stays on 127.0.0.1). This
// test runs auth itself with a session whose IP is a documentation address
// (192.0.2.10); nothing is sent anywhere.

var cheap = password.Params{MemoryKiB: 64, Passes: 1, Lanes: 1}

type authHost struct{ st store.Store }

func (h authHost) Settings(ctx context.Context) (store.Settings, error) { return h.st.Settings(ctx) }
func (authHost) SessionCount() int                                      { return 1 }
func (authHost) PasswordHash(pw string) (string, error)                 { return password.Hash(pw, cheap) }
func (authHost) VerifyPassword(pw, h string) (bool, error)              { return password.Verify(pw, h) }
func (authHost) ProductVersion() string                                 { return "test" }

type authEvent struct {
	frame *wire.Frame
	async *emitted
}

// chanSink passes an instance's output to the test goroutine.
type chanSink chan authEvent

func (k chanSink) Frame(t wire.TypeID, p []byte) {
	k <- authEvent{frame: &wire.Frame{Type: t, Payload: p}}
}
func (k chanSink) Async(mode wire.TypeID, id wire.AsyncID, data []byte) {
	k <- authEvent{async: &emitted{mode, id, data}}
}
func (k chanSink) Exited(error) {}

func TestRootFailedLoginsBanNonLoopbackAddress(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash, _ := password.Hash("Root-Pass-123", cheap)
	root := store.User{Name: "root", PasswordHash: hash, Rank: 1}
	_, _ = rand.Read(root.ID[:])
	if err := st.CreateUser(ctx, root); err != nil {
		t.Fatal(err)
	}
	s, _ := st.Settings(ctx)
	s.AutoBanThreshold, s.RootUserID = 2, root.ID
	if err := st.SaveSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	const ip = "192.0.2.10"
	env := module.Env{
		Session: fakeSession{&module.SessionInfo{IP: ip}}, Host: authHost{st}, Store: st,
		Log: slog.New(slog.DiscardHandler),
	}
	out := make(chanSink, 64)
	inst, err := New().Start(ctx, "auth", env, out)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Kill()
	next := func() authEvent {
		select {
		case e := <-out:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("auth produced nothing")
			return authEvent{}
		}
	}
	inst.Input(wire.TypeText, wire.EncodeText("-user root"))
	var asyncs []emitted
	wrong := 0
	for done := false; !done; {
		e := next()
		switch {
		case e.async != nil:
			asyncs = append(asyncs, *e.async)
		case e.frame.Type == wire.TypePrivText:
			wrong++
			inst.Input(wire.TypeText, wire.EncodeText("Wrong-Pass-9"))
		case e.frame.Type == wire.TypeIdle:
			done = true
		}
	}
	// Failures 1 and 2 are denied; the 3rd exceeds the threshold of 2.
	if wrong != 3 {
		t.Fatalf("%d password prompts, want 3", wrong)
	}
	bans, err := st.Bans(ctx)
	if err != nil || len(bans) != 1 || bans[0] != ip {
		t.Fatalf("bans = %v, %v; want [%s]", bans, err, ip)
	}
	want := []emitted{{wire.TypePrivIPC, wire.AsyncUpdateBans, nil}, {wire.TypePrivIPC, wire.AsyncEndSession, nil}}
	if len(asyncs) != 2 || asyncs[0].id != want[0].id || asyncs[1].id != want[1].id ||
		asyncs[0].mode != wire.TypePrivIPC || asyncs[1].mode != wire.TypePrivIPC {
		t.Fatalf("asyncs = %+v, want UPDATE_BANS then END_SESSION (PRIV_IPC)", asyncs)
	}
	// Root's failures from another address do not count toward this one.
	n, _ := st.CountFailedAuth(ctx, root.ID, "192.0.2.11")
	if n != 0 {
		t.Fatalf("failures counted for another address: %d", n)
	}
}
