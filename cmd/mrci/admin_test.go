package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// TestMain lets the test binary act as mrci itself (MRCI_TEST_AS_MAIN=1),
// so the daemon and signal tests run real detached host processes.
func TestMain(m *testing.M) {
	if os.Getenv("MRCI_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"))
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != 0 || out != "mrci "+version+" (wire version 2.0.2)\n" {
		t.Fatalf("--version = %d %q", code, out)
	}
}

func TestUnknownLogLevelIsAnError(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCLI(t, "serve", "--data-dir", dir, "--log-level", "loud")
	if code != 2 || !strings.Contains(errs, `unknown --log-level "loud"`) {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	t.Setenv("MRCI_LOG_LEVEL", "chatty")
	code, _, errs = runCLI(t, "serve", "--data-dir", dir)
	if code != 2 || !strings.Contains(errs, `unknown --log-level "chatty"`) {
		t.Fatalf("env: exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "mrci.db")); err == nil {
		t.Fatal("a refused start created the database")
	}
}

func TestDataDirNeverRelative(t *testing.T) {
	t.Setenv("HOME", "")
	t.Setenv("MRCI_DATA_DIR", "")
	if d := defaultDataDir(); !filepath.IsAbs(d) {
		t.Fatalf("data dir without HOME is %q", d)
	}
}

func TestPortInUseDetectedBeforeRootIsCreated(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	t.Setenv("MRCI_ROOT_PASSWORD", "")
	code, _, errs := runCLI(t, "serve", "--data-dir", dir, "--addr", busy.Addr().String())
	if code != 1 || !strings.Contains(errs, "listen on "+busy.Addr().String()) || !strings.Contains(errs, "address already in use") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.UserByName(context.Background(), "root"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("root was created although the port was in use: %v", err)
	}
	// A metrics address that cannot be bound is as fatal.
	code, _, errs = runCLI(t, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--metrics-addr", busy.Addr().String())
	if code != 1 || !strings.Contains(errs, "metrics address "+busy.Addr().String()) {
		t.Fatalf("metrics: exit %d, stderr %q", code, errs)
	}
}

func TestConfigFilePrecedenceAndPrintConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mrci.toml")
	writeFile(t, cfg, "# test config\naddr = \"127.0.0.1:4100\"\nmax-sessions = 9\nforce-tls = true\nmetrics-addr = \"127.0.0.1:9999\"\ndrain-timeout = \"3s\"\n"+
		"cn-cert = [\"a.example=/a.crt,/a.key\", \"b.example=/b.crt,/b.key\"]\n")
	t.Setenv("MRCI_MAX_SESSIONS", "7")
	code, out, errs := runCLI(t, "serve", "--data-dir", dir, "--force-tls=false", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`addr = "127.0.0.1:4100" # file`,
		`max-sessions = 7 # env MRCI_MAX_SESSIONS`,
		`force-tls = false # flag`,
		`drain-timeout = "3s" # file`,
		`cn-cert = ["a.example=/a.crt,/a.key", "b.example=/b.crt,/b.key"] # file`,
		`log-level = "info" # default`,
		`data-dir = "` + dir + `" # flag`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mrci.db")); err == nil {
		t.Fatal("--print-config started the host")
	}
	// Bad files name the line and the key.
	t.Setenv("MRCI_MAX_SESSIONS", "")
	for _, c := range []struct{ text, want string }{
		{"addr = \"x\"\n\nmax-sesions = 3\n", `line 3: unknown key "max-sesions"`},
		{"addr = \"x\"\nmax-sessions = \"lots\"\n", `line 2: key "max-sessions": `},
		{"force-tls = true\ndrain-timeout = 5\n", `line 2: key "drain-timeout": `},
		{"addr = \n", "line 1: "},
		{"[serve]\naddr = \"x\"\n", `line 1: unknown key "serve"`},
		{"\naddr = [\"a\", \"b\"]\n", `line 2: key "addr": an array is not a string value`},
	} {
		writeFile(t, cfg, c.text)
		code, _, errs := runCLI(t, "serve", "--data-dir", dir, "--print-config")
		if code != 2 || !strings.Contains(errs, cfg+" "+c.want) {
			t.Errorf("file %q: exit %d, stderr %q, want %q", c.text, code, errs, c.want)
		}
	}
}

// TestConfigCoversFlagsAddedLater registers a new flag on the serve
// command, as other features do, and sets it from a file and the
// environment without any config code of its own.
func TestConfigCoversFlagsAddedLater(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	writeFile(t, cfg, "later-host = \"mail.example\"\nlater-port = 2525\nlater-switch = true\n")
	newServe := func() (*cobra.Command, *string, *int, *bool) {
		c := serveCmd(&options{dataDir: dir})
		h, p, b := new(string), new(int), new(bool)
		c.Flags().StringVar(h, "later-host", "", "")
		c.Flags().IntVar(p, "later-port", 25, "")
		c.Flags().BoolVar(b, "later-switch", false, "")
		return c, h, p, b
	}
	c, h, p, b := newServe()
	if _, err := applyConfig(c, cfg); err != nil {
		t.Fatal(err)
	}
	if *h != "mail.example" || *p != 2525 || !*b {
		t.Fatalf("from file: %q %d %v", *h, *p, *b)
	}
	t.Setenv("MRCI_LATER_PORT", "587")
	c, _, p, _ = newServe()
	if _, err := applyConfig(c, cfg); err != nil || *p != 587 {
		t.Fatalf("env over file: %d %v", *p, err)
	}
	c, _, p, _ = newServe()
	if err := c.Flags().Parse([]string{"--later-port", "465"}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyConfig(c, cfg); err != nil || *p != 465 {
		t.Fatalf("flag over env: %d %v", *p, err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestControlSocketStaleAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, controlName)
	// A socket nobody listens on any more is removed and replaced.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	c, err := listenControl(dir)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	// A live one means a host runs there.
	if _, err := listenControl(dir); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second control socket: %v", err)
	}
	c.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("Close left the socket file")
	}
	// A regular file of that name is not ours to remove.
	writeFile(t, path, "precious")
	if _, err := listenControl(dir); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
}

// child runs the test binary as `mrci args...` and returns it with its
// stderr lines.
func child(t *testing.T, env []string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), append([]string{"MRCI_TEST_AS_MAIN=1"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines
}

// waitLine reads lines until one contains want and returns it.
func waitLine(t *testing.T, lines <-chan string, want string, seen *[]string) string {
	t.Helper()
	timeout := time.After(startupLimit)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("process output ended before %q:\n%s", want, strings.Join(*seen, "\n"))
			}
			*seen = append(*seen, l)
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q within %v:\n%s", want, startupLimit, strings.Join(*seen, "\n"))
		}
	}
}

func fieldOf(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestSIGTERMDrains50Sessions runs a real host process, connects 50
// sessions and sends SIGTERM: every session gets the closing notice and
// is ended, and the process exits 0 after a clean drain.
func TestSIGTERMDrains50Sessions(t *testing.T) {
	dir := t.TempDir()
	cmd, lines := child(t, []string{"MRCI_ROOT_PASSWORD=Root-Pass-1234"}, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0")
	var seen []string
	addr := fieldOf(waitLine(t, lines, "mrci host listening", &seen), "addr")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var clients []*client.Client
	for range 50 {
		c, err := client.Dial(ctx, addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	got := make([]string, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range c.Async() {
				if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeText {
					got[i] = wire.DecodeText(f.Payload)
				}
			}
		}()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, g := range got {
		if g != host.NoticeClosing {
			t.Errorf("session %d: last system message %q", i, g)
		}
	}
	for _, want := range []string{"draining", "host exited cleanly", "database closed"} {
		waitLine(t, lines, want, &seen)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after a clean drain: %v", err)
	}
}

// TestStartStatusStop runs `mrci start` (a real detached process), then
// status, a refused second start, stop and status again.
func TestStartStatusStop(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MRCI_TEST_AS_MAIN", "1") // the detached child is this binary acting as mrci
	t.Setenv("MRCI_ROOT_PASSWORD", "Root-Pass-1234")
	code, out, errs := runCLI(t, "start", "--data-dir", dir, "--", "--addr", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "mrci started (pid ") {
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
	code, out, _ = runCLI(t, "status", "--data-dir", dir)
	for _, want := range []string{fmt.Sprintf("mrci is running (pid %d)\n", pid), "Load:           0/100\n",
		"Listening:      127.0.0.1:", "Stored Addr:    127.0.0.1:35516\n", "Data Dir:       " + dir + "\n",
		"Version:        mrci " + version, "Uptime:", "Cluster:        single node\n", "Node ID:        " + nodeIDOf(t, dir) + "\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status (%d) lacks %q:\n%s", code, want, out)
		}
	}
	// Legacy -status maps to status.
	if code, out2, _ := runCLI(t, "-status", "--data-dir", dir); code != 0 || !strings.Contains(out2, "mrci is running") {
		t.Fatalf("-status: %d %q", code, out2)
	}
	code, _, errs = runCLI(t, "start", "--data-dir", dir)
	if code != 1 || !strings.Contains(errs, fmt.Sprintf("already running on data directory %s (pid %d)", dir, pid)) {
		t.Fatalf("second start: %d %q", code, errs)
	}
	code, out, errs = runCLI(t, "stop", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "mrci stopped") {
		t.Fatalf("stop: %d %q %q", code, out, errs)
	}
	if processAlive(pid) {
		t.Fatal("the host process is still alive after stop returned")
	}
	code, out, _ = runCLI(t, "status", "--data-dir", dir)
	if code != 3 || !strings.Contains(out, "mrci is not running") {
		t.Fatalf("status after stop: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, controlName)); !os.IsNotExist(err) {
		t.Fatal("the control socket is left after stop")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "mrci.log"))
	for _, want := range []string{"stop requested through the control socket", "host exited cleanly", "database closed"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// stop with nothing running is not an error.
	if code, out, _ := runCLI(t, "stop", "--data-dir", dir); code != 0 || !strings.Contains(out, "not running") {
		t.Fatalf("stop when stopped: %d %q", code, out)
	}
}

// TestSystemdUnitVerifies checks deploy/mrci.service with systemd-analyze
// verify where it is installed (the binary path is replaced by this test
// binary, which exists).
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "mrci.service"))
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/mrci serve") {
		t.Fatal("the unit does not run mrci serve")
	}
	path := filepath.Join(t.TempDir(), "mrci.service")
	writeFile(t, path, strings.ReplaceAll(string(unit), "/usr/local/bin/mrci", exe))
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeOperatorSurface runs a real host process and checks what an
// operator reads and probes: health endpoints, metrics of logins and
// command latency, the log lines, --max-sessions for this run only, and
// SIGHUP re-reading the certificate files.
func TestServeOperatorSurface(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a")
	certC, keyC := writePair(t, dir, "c")
	cmd, lines := child(t, []string{"MRCI_ROOT_PASSWORD=Root-Pass-1234"}, "serve", "--data-dir", dir,
		"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--max-sessions", "10", "--force-tls",
		"--tls-cert", certA.certFile, "--tls-key", keyA, "--cn-cert", "mrci.example="+certC.certFile+","+keyC)
	var seen []string
	waitLine(t, lines, "certificate installed from files", &seen)
	maddr := fieldOf(waitLine(t, lines, "metrics listening", &seen), "addr")
	addr := fieldOf(waitLine(t, lines, "mrci host listening", &seen), "addr")
	base := "http://" + maddr
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/"); code != 404 {
		t.Fatalf("pprof served without --pprof: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() *client.Client {
		c, err := client.Dial(ctx, addr, client.Options{PinnedCert: string(certA.pem)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	bad := dial()
	if err := bad.Login(ctx, "root", "Wrong-Pass-1234"); err == nil {
		t.Fatal("wrong password accepted")
	}
	root := dial()
	if err := root.Login(ctx, "root", "Root-Pass-1234"); err != nil {
		t.Fatal(err)
	}
	res, err := root.Run(ctx, "host_info", "")
	if err != nil || !strings.Contains(res.Text(), "Load:           2/10\n") {
		t.Fatalf("host_info: %v\n%s", err, res.Text())
	}
	_, body := httpGet(t, base+"/metrics")
	for _, want := range []string{`mrci_auth_attempts_total{result="accepted"} 1`, `mrci_auth_attempts_total{result="refused"} 1`,
		`mrci_command_seconds_count{command="host_info"} 1`, `mrci_command_seconds_count{command="auth"} 2`, "mrci_sessions 2"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, want := range []string{"connection accepted", "failed login", "password accepted", "msg=login session="} {
		waitLine(t, lines, want, &seen)
	}
	cnDial := func(pin []byte) error {
		c, err := client.Dial(ctx, addr, client.Options{PinnedCert: string(pin), CommonName: "mrci.example"})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := cnDial(certC.pem); err != nil {
		t.Fatalf("--cn-cert not served: %v", err)
	}
	// SIGHUP re-reads the certificate files.
	certB, keyB := writePair(t, dir, "b")
	certD, keyD := writePair(t, dir, "d")
	if err := os.Rename(certD.certFile, certC.certFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keyD, keyC); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(certB.certFile, certA.certFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keyB, keyA); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "default certificate replaced", &seen)
	waitLine(t, lines, "certificate installed from files", &seen)
	if err := cnDial(certD.pem); err != nil {
		t.Fatalf("after SIGHUP the new --cn-cert certificate is not served: %v", err)
	}
	c, err := client.Dial(ctx, addr, client.Options{PinnedCert: string(certB.pem)})
	if err != nil {
		t.Fatalf("after SIGHUP the new certificate is not served: %v", err)
	}
	c.Close()
	root.Close()
	bad.Close()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "host exited cleanly", &seen)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s, _ := st.Settings(context.Background()); s.MaxSessions != 100 {
		t.Fatalf("--max-sessions rewrote the stored setting: %d", s.MaxSessions)
	}
}

type pemCert struct {
	certFile string
	pem      []byte
}

// writePair writes a self-signed certificate and key for localhost.
func writePair(t *testing.T, dir, name string) (pemCert, string) {
	t.Helper()
	p, err := tlscert.Generate("127.0.0.1", []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := pemCert{certFile: filepath.Join(dir, name+".crt"), pem: p.CertPEM}
	key := filepath.Join(dir, name+".key")
	writeFile(t, c.certFile, string(p.CertPEM))
	writeFile(t, key, string(p.KeyPEM))
	return c, key
}
