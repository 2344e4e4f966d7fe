package asynctest

// Host-level private asyncs: 3 EXIT, 5 MAXSES, 11 RESTART, 14 END_SESSION
// (privileged: refused from an untrusted module, acted on from a trusted
// one), 41 UPDATE_BANS, 42 KEEP_ALIVE, 43 SET_DIR, 44 DEBUG_TEXT.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// emitNoWait sends an emit frame without waiting for the IDLE, for asyncs
// that end the session before it can arrive.
func (p *peer) emitNoWait(mode wire.TypeID, id wire.AsyncID, data []byte) {
	p.t.Helper()
	if err := p.call("emit").Send(wire.TypeBytes, emitPayload(mode, id, data)); err != nil {
		p.t.Fatal(err)
	}
}

// waitGone waits until the peer's connection has ended.
func (p *peer) waitGone() {
	p.t.Helper()
	select {
	case <-p.c.Done():
	case <-time.After(wait):
		p.t.Fatalf("%s: connection still open", p.name)
	}
}

// tryDial dials without failing the test.
func (e *env) tryDial() (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, e.h.Addr, e.clientOptions())
	if err == nil {
		e.t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func (e *env) mustRefuseDial(why string) {
	e.t.Helper()
	if c, err := e.tryDial(); err == nil {
		_ = c.Close()
		e.t.Fatalf("a new connection was accepted (%s)", why)
	}
}

// waitRefused dials until the host refuses the connection.
func (e *env) waitRefused(why string) {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		c, err := e.tryDial()
		if err != nil {
			return
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			e.t.Fatalf("connections still accepted (%s)", why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSessions waits until the host (all the nodes of a cluster) counts n
// live sessions.
func (e *env) waitSessions(n int) {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	for e.liveSessions() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d live sessions, want %d", e.liveSessions(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) liveSessions() int {
	n := 0
	for _, h := range e.hosts {
		n += h.SessionCount()
	}
	return n
}

// untrustedRefusal checks that a privileged id is refused from an
// untrusted module in every mode and the session and host carry on.
func untrustedRefusal(t *testing.T, id wire.AsyncID, data []byte) {
	e := start(t, opts{})
	p, q := e.dial("emitter"), e.dial("other")
	for _, m := range allModes {
		p.wantRefused(m, id, data, whyPrivileged)
	}
	e.quiet(p, q)
	e.dial("late") // the host still accepts connections
}

func TestAsync03Exit(t *testing.T) {
	t.Parallel()
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		untrustedRefusal(t, wire.AsyncExit, nil)
	})
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{trust: true})
		p, q := e.dial("emitter"), e.dial("other")
		p.wantRefused(wire.TypePubIPC, wire.AsyncExit, nil, whyAudience)
		p.wantRefused(wire.TypePubIPCFeedback, wire.AsyncExit, nil, whyAudience)
		e.quiet(p, q)
		// The host stops: every session ends and the listener closes.
		p.emitNoWait(wire.TypePrivIPC, wire.AsyncExit, nil)
		p.waitGone()
		q.waitGone()
		e.barrier.waitGone()
		// Sessions end with the host's context, the listener closes right
		// after: wait for it.
		e.waitRefused("after ASYNC_EXIT")
	})
}

func TestAsync05MaxSes(t *testing.T) {
	t.Parallel()
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		untrustedRefusal(t, wire.AsyncMaxSes, le32(1))
	})
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{trust: true})
		p := e.dial("emitter")
		p.wantRefused(wire.TypePrivIPC, wire.AsyncMaxSes, []byte{2, 0, 0}, whyLength)
		p.wantRefused(wire.TypePrivIPC, wire.AsyncMaxSes, []byte{2, 0, 0, 0, 0}, whyLength)
		p.wantRefused(wire.TypePubIPC, wire.AsyncMaxSes, le32(2), whyAudience)
		e.waitSessions(2) // barrier + emitter

		// The live limit and the stored setting change.
		p.emit(wire.TypePrivIPC, wire.AsyncMaxSes, le32(2))
		e.mustRefuseDial("with max sessions 2 and 2 sessions")
		if s, err := e.h.Store.Settings(context.Background()); err != nil || s.MaxSessions != 2 {
			t.Fatalf("stored max_sessions %d (%v)", s.MaxSessions, err)
		}
		// 0 is ignored.
		p.emit(wire.TypePrivIPC, wire.AsyncMaxSes, le32(0))
		e.mustRefuseDial("after MAXSES 0")
		p.emit(wire.TypePrivIPC, wire.AsyncMaxSes, le32(3))
		if _, err := e.tryDial(); err != nil {
			t.Fatalf("dial with max sessions 3: %v", err)
		}
		e.quiet(p)
	})
}

func TestAsync11Restart(t *testing.T) {
	t.Parallel()
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		untrustedRefusal(t, wire.AsyncRestart, nil)
	})
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{trust: true})
		p, q := e.dial("emitter"), e.dial("other")
		p.wantRefused(wire.TypePubIPC, wire.AsyncRestart, nil, whyAudience)
		e.quiet(p, q)
		// The restart ends every session and reloads the host's cached
		// state; the ban list shows it (settings are cached by the host's
		// store wrapper for up to a second, see docs/async.md).
		if err := e.h.Store.AddBan(context.Background(), "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.tryDial(); err != nil {
			t.Fatalf("dial before the restart: %v", err)
		}
		p.emitNoWait(wire.TypePrivIPC, wire.AsyncRestart, nil)
		p.waitGone()
		q.waitGone()
		e.barrier.waitGone()
		// The restart drains, reloads the settings and the ban list and
		// listens again on the same address.
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if _, err := e.h.WaitListening(ctx); err != nil {
			t.Fatalf("not listening again after ASYNC_RESTART: %v", err)
		}
		e.waitRefused("127.0.0.1 banned before the restart")
		if err := e.h.Store.RemoveBan(context.Background(), "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		e.h.ReloadBans()
		if _, err := e.tryDial(); err != nil {
			t.Fatalf("dial after ASYNC_RESTART: %v", err)
		}
	})
}

func TestAsync14EndSession(t *testing.T) {
	t.Parallel()
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		untrustedRefusal(t, wire.AsyncEndSession, nil)
	})
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		e := start(t, opts{trust: true})
		alice, bob := e.user("alice", 2), e.user("bob", 2)
		ch := e.channel("chan", alice, []store.User{bob})
		s := e.subChannel(ch, "sub", false)
		a, b, b2 := e.login("alice"), e.login("bob"), e.login("bob")
		a.open(s)
		b.open(s)
		a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), listOf(s), false))
		b.wantRefused(wire.TypePubIPCFeedback, wire.AsyncEndSession, nil, whyAudience)
		e.quiet(a, b)

		// The whole session ends (not just a logout, commands.md §15.1 #6);
		// its peers get a final PEER_STAT; other sessions carry on.
		b.emitNoWait(wire.TypePrivIPC, wire.AsyncEndSession, nil)
		b.waitGone()
		a.want(wire.TypePeerStat, wire.AsyncLimitedCast, peerStat(b.sid(), wire.SubChannelList{}, true))
		e.quiet(a, b2)
		if !b2.snap().LoggedIn {
			t.Fatal("the account's other session was ended too")
		}
		e.waitSessions(3) // barrier, a, b2
		if got := e.sessionsOf(bob.ID); len(got) != 1 || got[0] != b2.sid() {
			t.Fatalf("bus user index: %v", got)
		}
	})
}

func TestAsync41UpdateBans(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	p := e.dial("emitter")
	ctx := context.Background()
	if err := e.h.Store.AddBan(ctx, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// Until the reload the host uses its cached list.
	if _, err := e.tryDial(); err != nil {
		t.Fatalf("dial before UPDATE_BANS: %v", err)
	}
	p.wantRefused(wire.TypePubIPC, wire.AsyncUpdateBans, nil, whyAudience)
	p.wantRefused(wire.TypePubIPCFeedback, wire.AsyncUpdateBans, nil, whyAudience)
	if _, err := e.tryDial(); err != nil {
		t.Fatalf("dial after a refused UPDATE_BANS: %v", err)
	}
	p.emit(wire.TypePrivIPC, wire.AsyncUpdateBans, nil)
	e.mustRefuseDial("127.0.0.1 is banned")
	e.quiet(p) // existing sessions are not affected
	if err := e.h.Store.RemoveBan(ctx, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	p.emit(wire.TypePrivIPC, wire.AsyncUpdateBans, nil)
	if _, err := e.tryDial(); err != nil {
		t.Fatalf("dial after lifting the ban: %v", err)
	}
}

func TestAsync42KeepAlive(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	p, q := e.dial("emitter"), e.dial("other")
	// Dropped on arrival whatever the mode or payload: not acted on, not
	// logged (commands.md §15.2).
	for _, m := range allModes {
		p.wantAccepted(m, wire.AsyncKeepAlive, nil)
		p.wantAccepted(m, wire.AsyncKeepAlive, []byte("junk"))
	}
	e.quiet(p, q)
}

func TestAsync43SetDir(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	p, q := e.dial("emitter"), e.dial("other")
	orig := p.snap().Dir
	if orig != e.h.DataDir {
		t.Fatalf("initial dir %q, want %q", orig, e.h.DataDir)
	}
	dir := t.TempDir()
	p.emit(wire.TypePrivIPC, wire.AsyncSetDir, wire.EncodeText(dir))
	if got := p.snap().Dir; got != dir {
		t.Fatalf("dir %q, want %q", got, dir)
	}
	// Invalid paths are ignored (the seed's rule; the original stores the
	// text unvalidated, commands.md §15.1 #16).
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), file, ""} {
		p.emit(wire.TypePrivIPC, wire.AsyncSetDir, wire.EncodeText(bad))
		if got := p.snap().Dir; got != dir {
			t.Fatalf("after SET_DIR %q: dir %q", bad, got)
		}
	}
	p.wantRefused(wire.TypePubIPC, wire.AsyncSetDir, wire.EncodeText(orig), whyAudience)
	p.wantRefused(wire.TypePubIPCFeedback, wire.AsyncSetDir, wire.EncodeText(orig), whyAudience)
	if got := p.snap().Dir; got != dir {
		t.Fatalf("dir %q after refused SET_DIR", got)
	}
	// Not shared with other sessions.
	if got := q.snap().Dir; got != orig {
		t.Fatalf("other session's dir %q", got)
	}
	e.quiet(p, q)
}

func TestAsync44DebugText(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	p, q := e.dial("emitter"), e.dial("other")
	e.debugMark(p)
	p.emit(wire.TypePrivIPC, wire.AsyncDebugText, wire.EncodeText("module says: something odd\n"))
	if rows := e.debugMark(p); len(rows) != 1 || rows[0] != "module says: something odd\n" {
		t.Fatalf("debug log %q", rows)
	}
	p.wantRefused(wire.TypePubIPC, wire.AsyncDebugText, wire.EncodeText("x"), whyAudience)
	p.wantRefused(wire.TypePubIPCFeedback, wire.AsyncDebugText, wire.EncodeText("x"), whyAudience)
	e.quiet(p, q)
}
