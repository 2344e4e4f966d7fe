package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "notebook")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// nbHost starts a host with the notebook module and a fresh data directory.
func nbHost(t *testing.T) (*hosttest.Host, string) {
	t.Helper()
	bin := build(t)
	data := t.TempDir()
	t.Setenv("MRCI_NOTEBOOK_DIR", data)
	t.Setenv("MRCI_MODULE_ENV", "MRCI_NOTEBOOK_DIR") // passed on to module processes (docs/modules.md)
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		if err := st.AddModule(context.Background(), bin); err != nil {
			t.Fatal(err)
		}
	}})
	return h, data
}

func run(t *testing.T, c *client.Client, cmd, args string) *client.Result {
	t.Helper()
	ctx := hosttest.Ctx(t, 20*time.Second)
	if _, err := c.WaitCommand(ctx, cmd); err != nil {
		t.Fatalf("%s not loaded: %v", cmd, err)
	}
	res, err := c.Run(ctx, cmd, args)
	if err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	return res
}

func ok(t *testing.T, c *client.Client, cmd, args string) string {
	t.Helper()
	res := run(t, c, cmd, args)
	if err := res.Err(); err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	return res.Text()
}

func fails(t *testing.T, c *client.Client, cmd, args, want string) {
	t.Helper()
	if err := run(t, c, cmd, args).Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s %s: %v, want %q", cmd, args, err, want)
	}
}

func answer(a string) client.TextPrompter {
	return client.TextPrompts(client.PromptFunc(func(context.Context, wire.Frame) (string, error) { return a, nil }),
		func(f wire.Frame) bool { return strings.Contains(wire.DecodeText(f.Payload), "(y/n)") })
}

func TestNotebook(t *testing.T) {
	h, data := nbHost(t)
	anon := h.Dial(t)
	root := h.Root(t)
	ok(t, root, "note_set", `-key todo -value "buy milk"`)
	ok(t, root, "note_set", `-key idea -value 'a module SDK'`)
	if got := ok(t, root, "note_get", "-key todo"); got != "buy milk\n" {
		t.Fatalf("note_get = %q", got)
	}
	if got := ok(t, root, "note_ls", ""); got != "idea: a module SDK\ntodo: buy milk\n" {
		t.Fatalf("note_ls = %q", got)
	}
	fails(t, root, "note_get", "-key nothing", `no note "nothing"`)
	fails(t, root, "note_set", "-key x", "-value missing")

	// Notebooks are per account.
	h.CreateUser(t, "bob", "Bob-Pass-1234", 2)
	bob := h.Login(t, "bob", "Bob-Pass-1234")
	fails(t, bob, "note_get", "-key todo", "no note")
	ok(t, bob, "note_set", "-key todo -value bobs")
	if got := ok(t, root, "note_get", "-key todo"); got != "buy milk\n" {
		t.Fatalf("root's note after bob's = %q", got)
	}

	// Deleting asks first.
	ctx := hosttest.Ctx(t, 20*time.Second)
	if res, err := root.RunInteractive(ctx, "note_rm", "-key todo", answer("n")); err != nil || res.Err() != nil {
		t.Fatalf("note_rm (n): %v %v", err, res.Err())
	}
	ok(t, root, "note_get", "-key todo")
	if res, err := root.RunInteractive(ctx, "note_rm", "-key todo", answer("y")); err != nil || res.Err() != nil {
		t.Fatalf("note_rm (y): %v %v", err, res.Err())
	}
	fails(t, root, "note_get", "-key todo", "no note")
	ok(t, root, "note_rm", "-key idea -force")
	if got := ok(t, root, "note_ls", ""); got != "your notebook is empty\n" {
		t.Fatalf("note_ls = %q", got)
	}

	// Stored on disk, one file per account.
	files, _ := filepath.Glob(filepath.Join(data, "*.json"))
	if len(files) != 2 {
		t.Fatalf("data files %q", files)
	}
	b, _ := os.ReadFile(filepath.Join(data, userHex(t, h, "bob")+".json"))
	if !strings.Contains(string(b), "bobs") {
		t.Fatalf("bob's file: %s", b)
	}

	// Not offered to anonymous sessions.
	if _, ok := anon.CommandID("note_ls"); ok {
		t.Fatal("anonymous session has note_ls")
	}
}

func userHex(t *testing.T, h *hosttest.Host, name string) string {
	t.Helper()
	u, err := h.Store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID.String()
}

func TestNotebookCast(t *testing.T) {
	h, _ := nbHost(t)
	alice := h.Root(t)
	other := h.Root(t)
	ok(t, alice, "add_ch", "-ch_name notes")
	ok(t, alice, "add_sub_ch", "-ch_name notes -sub_name general")
	fails(t, alice, "note_cast", "-key x", `no note "x"`)
	ok(t, alice, "note_set", "-key hello -value world")
	fails(t, alice, "note_cast", "-key hello", "open a sub-channel")
	ok(t, alice, "open_sub_ch", "-ch_name notes -sub_name general")
	ok(t, other, "open_sub_ch", "-ch_name notes -sub_name general")
	ok(t, alice, "note_cast", "-key hello")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-other.Async():
			if f.Cmd == uint16(wire.AsyncCast) && f.Type == wire.TypeText {
				if got := wire.DecodeText(f.Payload); got != "root shares a note: hello: world\n" {
					t.Fatalf("cast = %q", got)
				}
				return
			}
		case <-deadline:
			t.Fatal("no cast received")
		}
	}
}
