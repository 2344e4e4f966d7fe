package main

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/mrciwire"
)

// TestPostgresOutage runs `mrci serve` with its database behind a TCP
// proxy and takes the database away in the two ways it goes: frozen (the
// connections stay open but nothing answers: a hung server or a network
// that drops packets) and cut (connections reset, new ones refused: a
// server that is down). Each time a command fails with a clear error
// instead of hanging, and the next command after the database is back
// works, without restarting the host.
func TestPostgresOutage(t *testing.T) {
	dsn, _ := pgSchema(t, pgBase(t))
	u, err := url.Parse(dsn)
	if err != nil || u.Port() == "" {
		t.Fatalf("the test DSN %q has no host:port to put a proxy in front of", redactDSN(dsn))
	}
	proxy := newProxy(t, u.Host)
	proxied := withHost(t, dsn, proxy.addr())
	cmd, lines := child(t, []string{"MRCI_ROOT_PASSWORD=Root-Pass-1234", "MRCI_DATABASE=" + proxied}, "serve",
		"--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--database-timeout", "2s")
	var seen []string
	addr := fieldOf(waitLine(t, lines, "mrci host listening", &seen), "addr")
	// The safety net: a command that hangs fails the test here instead of
	// at the package timeout. The deadline under test is 2 s.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := dialRetry(ctx, t, addr)
	if err := root.Login(ctx, "root", "Root-Pass-1234"); err != nil {
		t.Fatal(err)
	}
	lsUsers := func() (string, []string) {
		t.Helper()
		res, err := root.Run(ctx, "ls_users", "")
		if err != nil {
			for len(lines) > 0 {
				seen = append(seen, <-lines)
			}
			t.Fatalf("ls_users: %v (the command hung or the session ended); log:\n%s", err, strings.Join(seen, "\n"))
		}
		return res.Text(), res.Errors()
	}
	if text, errs := lsUsers(); len(errs) > 0 || !strings.Contains(text, "root") {
		t.Fatalf("ls_users before the outage: %q %q", text, errs)
	}
	for _, mode := range []struct {
		name string
		take func()
	}{{"frozen", proxy.freeze}, {"cut", proxy.cut}} {
		mode.take()
		text, errs := lsUsers()
		if len(errs) != 1 || errs[0] != "err: the database is not answering; try again in a moment\n" || strings.Contains(text, "root") {
			t.Fatalf("%s: ls_users = %q, errors %q; want the database error", mode.name, text, errs)
		}
		waitLine(t, lines, "command failed: database unavailable", &seen)
		// A client connecting now either gets its command list (the
		// listing reads the settings, cached for a second) and then a
		// log-in fails with the database error, or is told why it has no
		// commands.
		c := dialRetry(ctx, t, addr)
		if msg, listed := sysErrOrCommand(ctx, t, c, "auth"); listed {
			if err := c.Login(ctx, "root", "Root-Pass-1234"); err == nil || !strings.Contains(err.Error(), "the database is not answering; try again in a moment") {
				t.Fatalf("%s: login during the outage: %v", mode.name, err)
			}
		} else if !strings.Contains(msg, "err: the database is not answering, so commands could not be loaded; reconnect in a moment.") {
			t.Fatalf("%s: a client connecting during the outage was told %q", mode.name, msg)
		}
		_ = c.Close()
		proxy.restore()
		if text, errs := lsUsers(); len(errs) > 0 || !strings.Contains(text, "root") {
			t.Fatalf("%s: ls_users after the database came back: %q %q", mode.name, text, errs)
		}
		c = dialRetry(ctx, t, addr)
		if err := c.Login(ctx, "root", "Root-Pass-1234"); err != nil {
			t.Fatalf("%s: login after the database came back: %v", mode.name, err)
		}
		_ = c.Close()
	}
	_ = root.Close()
	_ = cmd.Process.Signal(os.Interrupt)
	waitLine(t, lines, "host exited cleanly", &seen)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// sysErrOrCommand waits until the client either has the command name
// (listed true) or gets an ERR on ASYNC_SYS_MSG (its text).
func sysErrOrCommand(ctx context.Context, t *testing.T, c *client.Client, name string) (msg string, listed bool) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	has := make(chan error, 1)
	go func() {
		_, err := c.WaitCommand(wctx, name)
		has <- err
	}()
	defer func() {
		cancel()
		<-has
	}()
	for {
		select {
		case err := <-has:
			has <- err // for the deferred receive
			if err != nil {
				t.Fatalf("waiting for %s: %v", name, err)
			}
			return "", true
		case f, ok := <-c.Async():
			if !ok {
				t.Fatal("the connection ended before its commands or an error message")
			}
			if f.Type == mrciwire.TypeErr && f.Cmd == uint16(mrciwire.AsyncSysMsg) {
				return mrciwire.DecodeText(f.Payload), false
			}
		case <-ctx.Done():
			t.Fatal("neither commands nor an error message on ASYNC_SYS_MSG")
		}
	}
}
