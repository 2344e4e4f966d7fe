package cmds_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

func modsRun(t *testing.T, c *client.Client, cmd, args string) *client.Result {
	t.Helper()
	res, err := c.Run(hosttest.Ctx(t, 20*time.Second), cmd, args)
	if err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	return res
}

func modsOK(t *testing.T, c *client.Client, cmd, args string) string {
	t.Helper()
	res := modsRun(t, c, cmd, args)
	if err := res.Err(); err != nil {
		t.Fatalf("%s %s: %v", cmd, args, err)
	}
	return res.Text()
}

func modsFails(t *testing.T, c *client.Client, cmd, args, want string) {
	t.Helper()
	res := modsRun(t, c, cmd, args)
	errs := res.Errors()
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "err: ") || !strings.Contains(errs[0], want) {
		t.Fatalf("%s %s: errors %q, want one containing %q", cmd, args, errs, want)
	}
}

func TestModuleAdminCommands(t *testing.T) {
	h := hosttest.Start(t)
	root := h.Root(t)
	dir := t.TempDir()
	real, _ := filepath.EvalSymlinks(dir)
	exe := filepath.Join(real, "mod.sh")
	// A module that exits at once: registering it needs no working module.
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "plain"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(real, "link")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MRCI_TEST_MODDIR", real)

	modsFails(t, root, "add_mod", "", "-mod_path missing")
	modsFails(t, root, "add_mod", "-mod_path 'a|b'", "invalid module path")
	modsFails(t, root, "add_mod", "-mod_path "+filepath.Join(real, "nope"), "does not exist or is not executable")
	modsFails(t, root, "add_mod", "-mod_path "+filepath.Join(real, "plain"), "does not exist or is not executable")
	// Expanded, absolute, links resolved.
	modsOK(t, root, "add_mod", "-mod_path $MRCI_TEST_MODDIR/link")
	mods, err := h.Store.Modules(context.Background())
	if err != nil || len(mods) != 1 || mods[0] != exe {
		t.Fatalf("stored modules %q, %v; want %q", mods, err, exe)
	}
	modsFails(t, root, "add_mod", "-mod_path "+exe, "module already exists")
	modsFails(t, root, "add_mod", "-mod_path "+link, "module already exists")
	if got := modsOK(t, root, "ls_mods", ""); !strings.Contains(got, "module_executable") || !strings.Contains(got, exe) {
		t.Fatalf("ls_mods:\n%s", got)
	}
	if got := modsOK(t, root, "ls_mods", "-module_executable nothing-like-it"); strings.Contains(got, exe) {
		t.Fatalf("ls_mods filter:\n%s", got)
	}

	modsFails(t, root, "rm_mod", "", "-mod_path missing")
	modsFails(t, root, "rm_mod", "-mod_path /no/such/module", "no such module")
	modsOK(t, root, "rm_mod", "-mod_path "+link)
	if mods, _ := h.Store.Modules(context.Background()); len(mods) != 0 {
		t.Fatalf("modules after rm_mod: %q", mods)
	}
	// Both changes are in the activity log with who made them.
	rows, err := h.Store.ListView(context.Background(), store.ViewActLog, []store.Filter{{Column: "log_entry", Value: "module "}}, store.Page{})
	if err != nil || len(rows) != 2 || rows[0].Cells[4] != "module added: "+exe+" (by root)" || rows[1].Cells[4] != "module removed: "+exe+" (by root)" {
		t.Fatalf("activity log %v, %v", rows, err)
	}

	// Ranked commands.
	modsFails(t, root, "add_ranked_cmd", "-mod :internal_mod -rank 2", "-command missing")
	modsFails(t, root, "add_ranked_cmd", "-mod :internal_mod -command host_info", "-rank missing")
	modsFails(t, root, "add_ranked_cmd", "-command host_info -rank 2", "-mod missing")
	for _, r := range []string{"0", "abc", "4294967296"} {
		modsFails(t, root, "add_ranked_cmd", "-mod :internal_mod -command host_info -rank "+r, "invalid 32-bit unsigned rank")
	}
	modsFails(t, root, "add_ranked_cmd", "-mod :internal_mod -command 'a b' -rank 2", "invalid command name")
	modsFails(t, root, "add_ranked_cmd", "-mod 'x|y' -command host_info -rank 2", "invalid module path")

	h.CreateUser(t, "carol", "Carol-Pass-1234", 3)
	carol := h.Login(t, "carol", "Carol-Pass-1234")
	if _, ok := carol.CommandID("host_info"); ok {
		t.Fatal("rank 3 has host_info before it is ranked")
	}
	modsOK(t, root, "add_ranked_cmd", "-mod :INTERNAL_MOD -command HOST_INFO -rank 3")
	if _, err := carol.WaitCommand(hosttest.Ctx(t, 10*time.Second), "host_info"); err != nil {
		t.Fatalf("CMD_RANKS_CHANGED did not load host_info: %v", err)
	}
	modsFails(t, root, "add_ranked_cmd", "-mod :internal_mod -command host_info -rank 4", "already ranked")
	modsOK(t, root, "add_ranked_cmd", "-mod $MRCI_TEST_MODDIR/link -command Some_Cmd -rank 7")
	ranks, _ := h.Store.CommandRanks(context.Background())
	want := map[store.CommandRank]bool{
		{Module: store.InternalModule, Command: "host_info", Rank: 3}: true,
		{Module: exe, Command: "some_cmd", Rank: 7}:                   true,
	}
	for _, r := range ranks {
		delete(want, r)
	}
	if len(want) != 0 {
		t.Fatalf("stored ranks %+v, missing %+v", ranks, want)
	}
	got := modsOK(t, root, "ls_ranked_cmds", "")
	if !strings.Contains(got, ":internal_mod") || !strings.Contains(got, "host_info") || !strings.Contains(got, "some_cmd") {
		t.Fatalf("ls_ranked_cmds:\n%s", got)
	}
	modsFails(t, root, "rm_ranked_cmd", "-mod :internal_mod", "-command missing")
	modsFails(t, root, "rm_ranked_cmd", "-command host_info", "-mod missing")
	modsFails(t, root, "rm_ranked_cmd", "-mod :internal_mod -command my_info", "pair has no assigned rank")
	modsOK(t, root, "rm_ranked_cmd", "-mod :internal_mod -command Host_Info")
	waitGone(t, carol, "host_info")
}

func waitGone(t *testing.T, c *client.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.CommandID(name); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still loaded", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLsDbg(t *testing.T) {
	h := hosttest.Start(t)
	root := h.Root(t)
	ctx := context.Background()
	for _, m := range []string{"first debug row", "second debug row", "other entry"} {
		if err := h.Store.LogDebug(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got := modsOK(t, root, "ls_dbg", "")
	if !strings.Contains(got, "time_stamp") || !strings.Contains(got, "log_entry") || !strings.Contains(got, "second debug row") {
		t.Fatalf("ls_dbg:\n%s", got)
	}
	yes := client.TextPrompts(client.PromptFunc(func(context.Context, wire.Frame) (string, error) { return "y", nil }),
		func(f wire.Frame) bool { return strings.Contains(wire.DecodeText(f.Payload), "(y/n)") })
	res, err := root.RunInteractive(hosttest.Ctx(t, 10*time.Second), "ls_dbg", "-delete -log_entry debug", yes)
	if err != nil || res.Err() != nil {
		t.Fatalf("ls_dbg -delete: %v %v", err, res.Err())
	}
	if txt := res.Text(); !strings.Contains(txt, "delete parameter: log_entry ~= debug") || !strings.Contains(txt, "2 rows deleted") {
		t.Fatalf("delete output:\n%s", txt)
	}
	got = modsOK(t, root, "ls_dbg", "")
	if strings.Contains(got, "debug row") || !strings.Contains(got, "other entry") {
		t.Fatalf("after delete:\n%s", got)
	}
}
