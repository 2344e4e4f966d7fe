package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store/postgres"
)

// freeRun returns the first of n consecutive free TCP ports on 127.0.0.1
// (free when asked; the caller binds them soon after).
func freeRun(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		first := ln.Addr().(*net.TCPAddr).Port
		held := []net.Listener{ln}
		ok := true
		for i := 1; i < n && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", first+i))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			_ = l.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatal("no run of free ports")
	return 0
}

// needTool fails (CI) or skips the test when a program is missing.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
}

// TestDeployClusterCheck runs deploy/cluster/run.sh --check exactly as an
// operator would (it builds mrci and mrcic, starts a private NATS server,
// creates a database and three nodes, logs in as root on each and reads
// its node id from host_info) and checks that it cleans up after itself.
func TestDeployClusterCheck(t *testing.T) {
	pgBase(t)
	needTool(t, "nats-server")
	needTool(t, "psql")
	needTool(t, "go")
	script, err := filepath.Abs("../../deploy/cluster/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	db := fmt.Sprintf("mrci_check_test_%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "--check")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "MRCI_DB="+db,
		fmt.Sprintf("BASE_PORT=%d", freeRun(t, 3)), fmt.Sprintf("METRICS_PORT=%d", freeRun(t, 3)),
		fmt.Sprintf("NATS_PORT=%d", freeRun(t, 1)), "MRCI_TEST_AS_MAIN=", "MRCI_DATABASE=", "MRCI_DATA_DIR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run.sh --check: %v\n%s", err, out)
	}
	for _, want := range []string{"check: node1 answers and shows Node ID node1", "check: node2 answers and shows Node ID node2",
		"check: node3 answers and shows Node ID node3", "check: ok", "stopped"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("run.sh output lacks %q:\n%s", want, out)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "mrci-cluster-check.*")); len(left) > 0 {
		t.Errorf("run.sh --check left %v", left)
	}
	check := exec.CommandContext(ctx, "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc",
		"SELECT count(*) FROM pg_database WHERE datname = '"+db+"'")
	check.Env = append(os.Environ(), "PGHOST=127.0.0.1")
	if n, err := check.Output(); err != nil || strings.TrimSpace(string(n)) != "0" {
		t.Errorf("run.sh --check left database %s (%q, %v)", db, n, err)
	}
}

// TestNodesStartTogether starts three `mrci serve` processes at once on a
// new PostgreSQL database, as a service manager starting a cluster does:
// every node comes up (one creates root, the others adopt it), and root
// logs in on each.
func TestNodesStartTogether(t *testing.T) {
	dsn, _ := pgSchema(t, pgBase(t))
	type node struct {
		addr  string
		lines <-chan string
		cmd   *exec.Cmd
	}
	nodes := make([]node, 3)
	for i := range nodes {
		cmd, lines := child(t, []string{"MRCI_ROOT_PASSWORD=Root-Pass-1234", "MRCI_DATABASE=" + dsn}, "serve",
			"--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--node-id", fmt.Sprintf("n%d", i+1))
		nodes[i] = node{lines: lines, cmd: cmd}
	}
	for i := range nodes {
		var seen []string
		nodes[i].addr = fieldOf(waitLine(t, nodes[i].lines, "mrci host listening", &seen), "addr")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// One after another: concurrent password answers for one account
	// meet the login delay (docs/accounts.md), which is not under test.
	for i, n := range nodes {
		c := dialRetry(ctx, t, n.addr)
		if err := c.Login(ctx, "root", "Root-Pass-1234"); err != nil {
			t.Fatalf("node n%d: %v", i+1, err)
		}
		res, err := c.Run(ctx, "host_info", "")
		if err != nil {
			t.Fatalf("node n%d: host_info: %v", i+1, err)
		}
		if !strings.Contains(res.Text(), fmt.Sprintf("Node ID:        n%d\n", i+1)) {
			t.Fatalf("node n%d: host_info lacks its node id:\n%s", i+1, res.Text())
		}
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := st.UserByName(ctx, "root")
	if err != nil || root.ID != s.RootUserID {
		t.Fatalf("root %v (%v), settings name %v", root.ID, err, s.RootUserID)
	}
}
