package cluster_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/modsdk/modsdktest"
)

// waitCommands waits until the client has the command (or, with want
// false, does not have it); module listings run real processes, so the
// deadline is long.
func (p *peer) waitCommands(name string, want bool) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, ok := p.c.Commands()[name]; ok == want {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: command %s present=%v, want %v", p.name, name, !want, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sysErrors returns the error texts of the ASYNC_SYS_MSG frames received
// so far (call it after a command's reply), skipping other asyncs.
func (p *peer) sysErrors() []string {
	var out []string
	for {
		select {
		case f := <-p.c.Async():
			if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeErr {
				out = append(out, wire.DecodeText(f.Payload))
			}
		default:
			return out
		}
	}
}

// TestModuleMissingOnOneNode registers a module whose executable exists
// on nodes 1 and 2 but not on node 3, a child process with its own view of
// the module's directory (as another machine would have): sessions on
// nodes 1 and 2 get its commands; on node 3 they never do, without error
// messages, ls_mods marks the module missing there, and node 3 logs one
// warning naming the path and the node. When the operator installs the
// file on node 3, its periodic check picks it up and its sessions get the
// commands, without a restart.
func TestModuleMissingOnOneNode(t *testing.T) {
	dsn, natsURL := hosttest.PostgresDSN(t), hosttest.NATSURL(t)
	name := fmt.Sprintf("mrcimods%d", time.Now().UnixNano())
	w := newWorld(t, hosttest.ClusterOptions{Nodes: 2, DSN: dsn, Name: name})
	w.hosts[0].RankAll(t, 2, "ls_mods")
	for _, h := range w.hosts {
		h.ConfigureModules(module.ExternalConfig{KillGrace: 500 * time.Millisecond, ConnectTimeout: 30 * time.Second,
			ListQuiet: time.Second, ListTimeout: 30 * time.Second})
	}
	shared, own := t.TempDir(), t.TempDir() // nodes 1 and 2 see shared; node 3 sees own there
	shared, _ = filepath.EvalSymlinks(shared)
	path, err := modsdktest.WriteModule(shared, "tool", modsdktest.Normal)
	if err != nil {
		t.Fatal(err)
	}
	n3 := spawn(t, dsn, natsURL, name, "n3", "MRCI_CHILD_BIND="+own+"="+shared, "MRCI_CHILD_MODULE_CHECK=100ms")
	t.Cleanup(func() {
		for _, h := range w.hosts {
			h.Stop()
			if e := h.ExternalModule(path); e != nil {
				waitFor(t, "module processes ended", func() bool { return e.Running() == 0 })
			}
		}
	})
	w.member("carol")
	w.member("dave")
	carol := w.loginAt("carol", 2, n3.addr, "") // on node 3 before the module is added

	root := &peer{t: t, name: "root", c: w.hosts[0].Root(t)}
	root.run("add_mod", wire.TypeText, wire.EncodeText("-mod_path "+path))
	alice, bob := w.login("alice", 0), w.login("bob", 1)
	dave := w.loginAt("dave", 2, n3.addr, "")
	for _, p := range []*peer{root, alice, bob} {
		p.waitCommands("echo", true)
	}
	if got := bob.text("ls_mods"); strings.Contains(got, "missing") || !strings.Contains(got, path) {
		t.Fatalf("ls_mods on node 2:\n%s", got)
	}
	// Node 3 has handled ENABLE_MOD (reloaded its module list) once
	// ls_mods, run there, marks the module.
	marked := path + " (missing on node n3: no such file)"
	waitFor(t, "node 3 to mark the module missing", func() bool { return strings.Contains(carol.text("ls_mods"), marked) })
	for _, p := range []*peer{carol, dave} {
		if got := p.text("ls_mods"); !strings.Contains(got, marked) {
			t.Fatalf("%s: ls_mods on node 3 lacks %q:\n%s", p.name, marked, got)
		}
		if _, ok := p.c.Commands()["echo"]; ok {
			t.Fatalf("%s: got the commands of a module missing on its node", p.name)
		}
		if errs := p.sysErrors(); len(errs) != 0 {
			t.Fatalf("%s: sent errors %q", p.name, errs)
		}
	}
	if got := alice.text("echo"); got != "" {
		t.Fatalf("echo on node 1 = %q", got)
	}
	const warning = "module executable missing on this node"
	waitFor(t, "node 3's warning", func() bool { return strings.Contains(n3.stderr.String(), warning) })
	for _, want := range []string{"module=" + path, "node_id=n3", "reason=\"no such file\""} {
		if !strings.Contains(n3.stderr.String(), want) {
			t.Errorf("node 3's warning lacks %s:\n%s", want, n3.stderr.String())
		}
	}

	// The operator installs the module on node 3.
	if _, err := modsdktest.WriteModule(own, "tool", modsdktest.Normal); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{carol, dave} {
		p.waitCommands("echo", true)
	}
	ctx := hosttest.Ctx(t, time.Minute)
	res, err := dave.c.Run(ctx, "echo", "from node 3")
	if err == nil {
		err = res.Err()
	}
	if err != nil || res.Text() != "from node 3" {
		t.Fatalf("echo on node 3: %q %v", res.Text(), err)
	}
	if got := dave.text("ls_mods"); strings.Contains(got, "missing") {
		t.Fatalf("ls_mods on node 3 after the install:\n%s", got)
	}
	// Sessions on node 3 listed their commands several times: one warning.
	if n := strings.Count(n3.stderr.String(), warning); n != 1 {
		t.Fatalf("node 3 logged %d warnings about the module, want 1:\n%s", n, n3.stderr.String())
	}
}
