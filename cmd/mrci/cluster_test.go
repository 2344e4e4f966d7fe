package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/store/postgres"
	"github.com/mrci/mrci/pkg/client"
)

// nodeIDOf reads the node id kept in a data directory.
func nodeIDOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, nodeIDFile))
	if err != nil {
		t.Fatalf("node id file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestClusterOptionsValidation: every bad cluster setting is refused with
// a message naming the flag, and a full set fills cluster.Options.
func TestClusterOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "n.creds")
	writeFile(t, creds, "creds")
	pg := &options{dataDir: dir, database: "postgres://u@db:5432/mrci"}
	lite := &options{dataDir: dir}
	base := func() clusterFlags {
		return clusterFlags{urls: []string{"nats://a:4222"}, name: "mrci", nodeID: "n1"}
	}
	for _, tc := range []struct {
		name string
		o    *options
		edit func(*clusterFlags)
		want string
	}{
		{"sqlite", lite, func(*clusterFlags) {}, "--cluster needs a database every node shares: give --database postgres://"},
		{"scheme", pg, func(f *clusterFlags) { f.urls = []string{"http://a:4222"} }, `--cluster "http://a:4222": want nats://host:port`},
		{"no host", pg, func(f *clusterFlags) { f.urls = []string{"nats://:4222"} }, "no host"},
		{"name", pg, func(f *clusterFlags) { f.name = "a.b" }, `--cluster-name "a.b": want 1 to 64 letters`},
		{"wildcard name", pg, func(f *clusterFlags) { f.name = ">" }, "--cluster-name"},
		{"node id", pg, func(f *clusterFlags) { f.nodeID = "n*1" }, `--node-id "n*1": want 1 to 64 letters`},
		{"node id space", pg, func(f *clusterFlags) { f.nodeID = "n 1" }, "--node-id"},
		{"node id long", pg, func(f *clusterFlags) { f.nodeID = strings.Repeat("n", 65) }, "--node-id"},
		{"token+user", pg, func(f *clusterFlags) { f.token, f.user = "t", "u" }, "exclude each other"},
		{"password alone", pg, func(f *clusterFlags) { f.password = "p" }, "--cluster-password needs --cluster-user"},
		{"cert alone", pg, func(f *clusterFlags) { f.tlsCert = creds }, "go together"},
		{"missing ca", pg, func(f *clusterFlags) { f.tlsCA = filepath.Join(dir, "none.pem") }, "--cluster-tls-ca: stat"},
		{"user without cluster", pg, func(f *clusterFlags) { f.urls, f.user = nil, "u" }, "--cluster-user is set but --cluster is not"},
	} {
		f := base()
		tc.edit(&f)
		if _, err := f.options(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	f := clusterFlags{urls: []string{"nats://a:4222,tls://b:4222", " nats://c:4222 "}, name: "prod_1", nodeID: "node-1",
		creds: creds, tlsCA: creds, tlsCert: creds, tlsKey: creds}
	co, err := f.options(pg)
	if err != nil {
		t.Fatal(err)
	}
	want := cluster.Options{URLs: []string{"nats://a:4222", "tls://b:4222", "nats://c:4222"}, Name: "prod_1", NodeID: "node-1",
		CredsFile: creds, TLSCA: creds, TLSCert: creds, TLSKey: creds}
	if !slices.Equal(co.URLs, want.URLs) || co.Name != want.Name || co.NodeID != want.NodeID || co.CredsFile != want.CredsFile ||
		co.TLSCA != want.TLSCA || co.TLSCert != want.TLSCert || co.TLSKey != want.TLSKey || !co.Enabled() {
		t.Fatalf("options = %+v, want %+v", co, want)
	}
	f = clusterFlags{urls: []string{"nats://a:4222"}, name: "mrci", nodeID: "n", user: "u", password: "p"}
	if co, err := f.options(pg); err != nil || co.User != "u" || co.Password != "p" {
		t.Fatalf("user/password: %+v %v", co, err)
	}
	// Single-node mode over SQLite is fine and still has a node id.
	f = clusterFlags{name: "mrci"}
	if co, err := f.options(lite); err != nil || co.Enabled() || co.NodeID != nodeIDOf(t, dir) {
		t.Fatalf("single node: %+v %v", co, err)
	}
}

// TestNodeIDGeneratedOnceAndKept: without --node-id a node id is made
// once and read back on every later start; --node-id wins; a damaged file
// is an error, not a silent new id.
func TestNodeIDGeneratedOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := nodeID(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+-[0-9a-f]{6}$`).MatchString(id) || id != nodeIDOf(t, dir) {
		t.Fatalf("generated id %q, file %q", id, nodeIDOf(t, dir))
	}
	if again, err := nodeID(dir, ""); err != nil || again != id {
		t.Fatalf("second start: %q %v, want %q", again, err, id)
	}
	if given, err := nodeID(dir, "edge-7"); err != nil || given != "edge-7" {
		t.Fatalf("given: %q %v", given, err)
	}
	if other, _ := nodeID(t.TempDir(), ""); other == id {
		t.Fatal("two data directories got the same id")
	}
	writeFile(t, filepath.Join(dir, nodeIDFile), "bad id\n")
	if _, err := nodeID(dir, ""); err == nil || !strings.Contains(err.Error(), "fix or delete the file") {
		t.Fatalf("damaged file: %v", err)
	}
}

// TestClusterRefusedOverSQLite: serve with --cluster (flag, environment or
// config file) and no PostgreSQL database exits 2 with the reason and
// creates no database.
func TestClusterRefusedOverSQLite(t *testing.T) {
	for _, how := range []string{"flag", "env", "file"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}
			switch how {
			case "flag":
				args = append(args, "--cluster", "nats://127.0.0.1:4222")
			case "env":
				t.Setenv("MRCI_CLUSTER", "nats://127.0.0.1:4222")
			case "file":
				writeFile(t, filepath.Join(dir, "mrci.toml"), "cluster = [\"nats://127.0.0.1:4222\"]\nnode-id = \"n1\"\n")
			}
			code, _, errs := runCLI(t, args...)
			if code != 2 || !strings.Contains(errs, "--cluster needs a database every node shares: give --database postgres://") {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "mrci.db")); !os.IsNotExist(err) {
				t.Fatal("the refused start created the SQLite database")
			}
		})
	}
	code, _, errs := runCLI(t, "serve", "--data-dir", t.TempDir(), "--database", "mysql://x/y")
	if code != 2 || !strings.Contains(errs, `--database "mysql://x/y": want a postgres:// or postgresql:// URL`) {
		t.Fatalf("bad --database: %d %q", code, errs)
	}
}

// TestClusterConfigKeysAndEnvironment: the cluster flags and --database
// are config file keys and MRCI_* variables like every serve flag, and
// --print-config does not print secrets.
func TestClusterConfigKeysAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mrci.toml"), `cluster = ["nats://a:4222", "nats://b:4222"]
cluster-name = "prod"
node-id = "file-node"
database = "postgres://mrci:secret-pw@db.example:5432/mrci?sslmode=require"
database-timeout = "3s"
cluster-user = "nodes"
`)
	t.Setenv("MRCI_NODE_ID", "env-node")
	t.Setenv("MRCI_CLUSTER_PASSWORD", "nats-secret")
	code, out, errs := runCLI(t, "serve", "--data-dir", dir, "--print-config", "--cluster-tls-ca", "/etc/ca.pem")
	if code != 0 {
		t.Fatalf("print-config: %d %q", code, errs)
	}
	for _, want := range []string{
		`cluster = ["nats://a:4222", "nats://b:4222"] # file`,
		`cluster-name = "prod" # file`,
		`node-id = "env-node" # env MRCI_NODE_ID`,
		`database = "postgres://mrci:xxxxx@db.example:5432/mrci?sslmode=require" # file, password redacted`,
		`database-timeout = "3s" # file`,
		`cluster-user = "nodes" # file`,
		`cluster-password = "(redacted)" # env MRCI_CLUSTER_PASSWORD, redacted`,
		`cluster-tls-ca = "/etc/ca.pem" # flag`,
		`cluster-token = "" # default`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("print-config lacks %q", want)
		}
	}
	for _, secret := range []string{"secret-pw", "nats-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("print-config shows the secret %q", secret)
		}
	}
}

// dialRetry connects to a host that is starting.
func dialRetry(ctx context.Context, t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestServePostgres runs `mrci serve` over PostgreSQL as a real process:
// root logs in over TCP, host_info, `mrci status` and the metrics show the
// node id, and other sub-commands reach the same database through the flag,
// the environment and the config file.
func TestServePostgres(t *testing.T) {
	dsn, _ := pgSchema(t, pgBase(t))
	dir := t.TempDir()
	cmd, lines := child(t, []string{"MRCI_ROOT_PASSWORD=Root-Pass-1234", "MRCI_DATABASE=" + dsn}, "serve", "--data-dir", dir,
		"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--node-id", "pg-node-1")
	var seen []string
	maddr := fieldOf(waitLine(t, lines, "metrics listening", &seen), "addr")
	addr := fieldOf(waitLine(t, lines, "mrci host listening", &seen), "addr")
	if _, err := os.Stat(filepath.Join(dir, "mrci.db")); !os.IsNotExist(err) {
		t.Fatal("serve --database created a SQLite file too")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := dialRetry(ctx, t, addr)
	if err := root.Login(ctx, "root", "Root-Pass-1234"); err != nil {
		t.Fatalf("login over PostgreSQL: %v", err)
	}
	res, err := root.Run(ctx, "host_info", "")
	if err != nil {
		t.Fatalf("host_info: %v", err)
	}
	if !strings.HasSuffix(res.Text(), "Node ID:        pg-node-1\n") || !strings.Contains(res.Text(), "Load:           1/100\n") {
		t.Fatalf("host_info:\n%s", res.Text())
	}
	if _, body := httpGet(t, "http://"+maddr+"/metrics"); !strings.Contains(body, `mrci_node_info{cluster="",node_id="pg-node-1"} 1`+"\n") {
		t.Errorf("/metrics lacks mrci_node_info:\n%s", grepLines(body, "node"))
	}
	t.Setenv("MRCI_DATABASE", "") // the sub-commands below get it each their own way
	code, out, _ := runCLI(t, "status", "--data-dir", dir)
	for _, want := range []string{"Node ID:        pg-node-1\n", "Cluster:        single node\n", "Database:       " + redactDSN(dsn) + "\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status (%d) lacks %q:\n%s", code, want, out)
		}
	}
	// A sub-command with --database writes the shared database ...
	if code, out, errs := runCLI(t, "set-addr", "127.0.0.1:40123", "--data-dir", t.TempDir(), "--database", dsn); code != 0 {
		t.Fatalf("set-addr --database: %d %q %q", code, out, errs)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s, err := st.Settings(ctx); err != nil || s.ListenPort != 40123 {
		t.Fatalf("stored port %d, %v (want 40123 from set-addr --database)", s.ListenPort, err)
	}
	// ... and so do sub-commands given it by the environment and by the
	// config file (whose serve keys they leave alone).
	t.Setenv("MRCI_DATABASE", dsn)
	envDir := t.TempDir()
	if code, out, errs := runCLI(t, "admission", "--data-dir", envDir); code != 0 || !strings.Contains(out, "max-pending:") {
		t.Fatalf("admission (env): %d %q %q", code, out, errs)
	}
	t.Setenv("MRCI_DATABASE", "")
	fileDir := t.TempDir()
	writeFile(t, filepath.Join(fileDir, "mrci.toml"), fmt.Sprintf("database = %q\naddr = \"127.0.0.1:1\"\n", dsn))
	if code, out, errs := runCLI(t, "set-addr", "127.0.0.1:40124", "--data-dir", fileDir); code != 0 {
		t.Fatalf("set-addr (config file): %d %q %q", code, out, errs)
	}
	for _, d := range []string{envDir, fileDir} {
		if _, err := os.Stat(filepath.Join(d, "mrci.db")); !os.IsNotExist(err) {
			t.Errorf("a sub-command given PostgreSQL created %s/mrci.db", d)
		}
	}
	if s, err := st.Settings(ctx); err != nil || s.ListenPort != 40124 {
		t.Fatalf("stored port %d, %v (want 40124 from the config-file run)", s.ListenPort, err)
	}
	_ = root.Close()
	_ = cmd.Process.Signal(os.Interrupt)
	waitLine(t, lines, "host exited cleanly", &seen)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStartHandsDatabaseToServe: `mrci start --database` runs the detached
// serve on that database (given through its environment, not its command
// line, which ps shows).
func TestStartHandsDatabaseToServe(t *testing.T) {
	dsn, _ := pgSchema(t, pgBase(t))
	dir := t.TempDir()
	t.Setenv("MRCI_TEST_AS_MAIN", "1") // the detached child is this binary acting as mrci
	t.Setenv("MRCI_ROOT_PASSWORD", "Root-Pass-1234")
	t.Setenv("MRCI_DATABASE", "")
	code, out, errs := runCLI(t, "start", "--data-dir", dir, "--database", dsn, "--", "--addr", "127.0.0.1:0", "--node-id", "started-1")
	if code != 0 {
		t.Fatalf("start: %d %q %q", code, out, errs)
	}
	var pid int
	if _, err := fmt.Sscanf(out, "mrci started (pid %d)", &pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if strings.Contains(string(cmdline), "postgres://") {
		t.Errorf("the database URL is on serve's command line: %q", cmdline)
	}
	code, out, _ = runCLI(t, "status", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "Database:       "+redactDSN(dsn)+"\n") || !strings.Contains(out, "Node ID:        started-1\n") {
		t.Errorf("status (%d):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "mrci.db")); !os.IsNotExist(err) {
		t.Error("the started host created a SQLite database")
	}
	if code, out, errs := runCLI(t, "stop", "--data-dir", dir); code != 0 || !strings.Contains(out, "mrci stopped") {
		t.Fatalf("stop: %d %q %q", code, out, errs)
	}
}
