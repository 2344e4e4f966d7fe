package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/pkg/client"
)

// build compiles this module into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hello")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestHelloUnderAHost(t *testing.T) {
	bin := build(t)
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		if err := st.AddModule(context.Background(), bin); err != nil {
			t.Fatal(err)
		}
	}})
	ctx := hosttest.Ctx(t, 20*time.Second)
	hello := func(c *client.Client, args, want string) {
		t.Helper()
		if _, err := c.WaitCommand(ctx, "hello"); err != nil {
			t.Fatal(err)
		}
		res, err := c.Run(ctx, "hello", args)
		if err != nil || res.Err() != nil || res.Text() != want {
			t.Fatalf("hello %s = %q, %v %v; want %q", args, res.Text(), err, res.Err(), want)
		}
	}
	anon := h.Dial(t)
	hello(anon, "", "hello, world!\n")
	hello(anon, "-name Ann", "hello, Ann!\n")
	root := h.Root(t)
	hello(root, "", "hello, root!\n")
	if nc, ok := root.CommandInfo("hello"); !ok || nc.Library != "hello 1.0" || nc.IO != "[{-name (text)}]/[text]" {
		t.Fatalf("announcement %+v", nc)
	}
}
