package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/pkg/client"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// startupLimit bounds how long a test waits for a host it started to
// listen: only a safety net (a first start makes a certificate and an
// argon2id hash, slow under the race detector on a loaded machine).
const startupLimit = 2 * time.Minute

// dialStarting connects to a host that is starting in this process,
// retrying until it listens; the client is closed when the test ends.
func dialStarting(ctx context.Context, t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	deadline := time.Now().Add(startupLimit)
	for {
		c, err := client.Dial(ctx, addr, opts)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the listener, not synchronising
	}
}

func TestAboutBeforeFirstStartHasNoSideEffects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, _ := runCLI(t, "-about", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "wire version 2.0.2") || !strings.Contains(out, "mrci "+version) {
		t.Fatalf("about = %d %q", code, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("-about created the data directory")
	}
}

func TestLegacyAddrStoresSettingAndRejectsBadValues(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := runCLI(t, "-addr", "127.0.0.1:40000", "--data-dir", dir); code != 0 {
		t.Fatalf("-addr exit %d", code)
	}
	if code, _, _ := runCLI(t, "-ADDR", "nonsense", "--data-dir", dir); code != 128 {
		t.Fatalf("bad -addr exit %d, want 128", code)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, _ := st.Settings(context.Background())
	if s.ListenAddress != "127.0.0.1" || s.ListenPort != 40000 {
		t.Fatalf("stored %s:%d", s.ListenAddress, s.ListenPort)
	}
}

// TestServeFirstStart runs the real serve command with MRCI_DATA_DIR: it
// creates the database, the certificate and root with the generated
// password, which -about shows until root changes it.
func TestServeFirstStartAndAbout(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MRCI_DATA_DIR", dir)
	t.Setenv("MRCI_ROOT_PASSWORD", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb hosttest.Buffer
	go func() { done <- run(ctx, []string{"-host", "--addr", addr}, &hosttest.Buffer{}, &errb) }()
	defer func() {
		cancel()
		<-done
	}()
	c := dialStarting(ctx, t, addr, client.Options{})
	for _, f := range []string{"mrci.db", "tls/cert.pem", "tls/key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("first start did not create %s: %v", f, err)
		}
	}
	_, out, _ := runCLI(t, "about")
	pw := ""
	for _, l := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(l, "default password: "); ok {
			pw = p
		}
	}
	if pw == "" || !strings.Contains(errb.String(), pw) {
		t.Fatalf("generated password not shown: about %q, log %q", out, errb.String())
	}
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	if err := c.Login(lctx, "root", pw); err == nil {
		t.Fatal("root logged in without the forced password change")
	}
	c2, err := client.Dial(lctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(lctx, "root", pw, client.WithNewPassword("Changed-Pass-1")); err != nil {
		t.Fatalf("first login with forced change: %v", err)
	}
	if _, out, _ = runCLI(t, "about"); strings.Contains(out, "default password") {
		t.Fatalf("about still shows the default password after the change: %q", out)
	}
}

func TestRootPasswordFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MRCI_DATA_DIR", dir)
	t.Setenv("MRCI_ROOT_PASSWORD", "Env-Root-Pass-1")
	ctx, cancel := context.WithCancel(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--force-tls"}, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	defer func() {
		cancel()
		<-done
	}()
	c := dialStarting(ctx, t, addr, client.Options{TrustHostCert: true})
	if !c.Encrypted() {
		t.Fatal("--force-tls did not make a loopback client use TLS")
	}
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	if err := c.Login(lctx, "root", "Env-Root-Pass-1"); err != nil {
		t.Fatalf("login with MRCI_ROOT_PASSWORD: %v", err)
	}
	if _, out, _ := runCLI(t, "about"); strings.Contains(out, "default password") {
		t.Fatal("about shows a default password although it was given")
	}
}
