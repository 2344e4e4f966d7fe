package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/pkg/client"
)

// serveOnce runs `mrci serve` with args in dir until a client has
// connected (the first-start work is done by then) and stops it.
func serveOnce(t *testing.T, dir string, args ...string) {
	t.Helper()
	t.Setenv("MRCI_DATA_DIR", dir)
	t.Setenv("MRCI_ROOT_PASSWORD", "Env-Root-Pass-1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() { done <- run(ctx, append([]string{"serve", "--addr", addr}, args...), &bytes.Buffer{}, &errb) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d: %s", code, errb.String())
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.Dial(dctx, addr, client.Options{})
		dcancel()
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve ended early (%d): %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("host did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a listener that is starting
	}
}

func storedRanks(t *testing.T, dir string) map[string]uint32 {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.CommandRanks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint32{}
	for _, r := range rs {
		if r.Module != store.InternalModule {
			t.Errorf("rank for module %q", r.Module)
		}
		m[r.Command] = r.Rank
	}
	return m
}

// TestServeInstallsDefaultRanksOnce: the first start installs the policy; an
// administrator's removal survives the next start.
func TestServeInstallsDefaultRanksOnce(t *testing.T) {
	dir := t.TempDir()
	serveOnce(t, dir)
	m := storedRanks(t, dir)
	if len(m) != len(host.DefaultRankedCommands) {
		t.Fatalf("%d ranks after first start, want %d: %v", len(m), len(host.DefaultRankedCommands), m)
	}
	for _, c := range host.DefaultRankedCommands {
		if m[c] != store.DefaultInitialHostRank {
			t.Errorf("%s rank %d, want %d", c, m[c], store.DefaultInitialHostRank)
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveCommandRank(context.Background(), store.InternalModule, "cast"); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	serveOnce(t, dir)
	if m := storedRanks(t, dir); len(m) != len(host.DefaultRankedCommands)-1 || m["cast"] != 0 {
		t.Fatalf("second start changed the ranks: %v", m)
	}
}

// TestServeNoDefaultRanks keeps the original's bare behaviour.
func TestServeNoDefaultRanks(t *testing.T) {
	dir := t.TempDir()
	serveOnce(t, dir, "--no-default-ranks")
	if m := storedRanks(t, dir); len(m) != 0 {
		t.Fatalf("--no-default-ranks installed %v", m)
	}
}
