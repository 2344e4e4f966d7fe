// Package doctest runs the examples of README.md and docs/ exactly as they
// are written, against a fresh host in a scratch home directory, so that a
// newcomer who copies them gets what the text promises.
package doctest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is where the README's commands run (they say `go run ./cmd/...`).
const repoRoot = "../.."

// defaultAddr is the address the README's host and clients use.
const defaultAddr = "127.0.0.1:35516"

// shBlocks returns the sh code blocks of the Markdown file's section whose
// heading is exactly heading (any level), in order.
func shBlocks(t *testing.T, file, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	in, inBlock := false, false
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock = false
			if in {
				blocks = append(blocks, cur.String())
			}
			cur.Reset()
		case inBlock:
			cur.WriteString(line + "\n")
		case strings.HasPrefix(line, "```sh"):
			inBlock = true
		case strings.HasPrefix(line, "#"):
			in = strings.TrimSpace(strings.TrimLeft(line, "#")) == heading
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("%s: section %q has no sh block", file, heading)
	}
	return blocks
}

// env is a scratch home directory with mrci and mrcic on the PATH, as a
// newcomer who followed the README has them.
type env struct {
	t     *testing.T
	home  string
	bin   string
	goEnv []string // the caller's GOPATH, GOMODCACHE and GOCACHE
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, home: t.TempDir(), bin: t.TempDir()}
	// The go command keeps its caches under $HOME by default; the scratch
	// home must not make it download and compile everything again.
	for _, v := range []string{"GOPATH", "GOMODCACHE", "GOCACHE"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", v, err)
		}
		e.goEnv = append(e.goEnv, v+"="+strings.TrimSpace(string(out)))
	}
	build := exec.Command("go", "build", "-o", e.bin, "./cmd/mrci", "./cmd/mrcic")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return e
}

// environ is the environment of every command: the scratch home, the built
// binaries first on the PATH, and none of the MRCI_* settings of whoever
// runs the tests.
func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MRCI_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "PATH=") ||
			strings.HasPrefix(kv, "GOPATH=") || strings.HasPrefix(kv, "GOMODCACHE=") || strings.HasPrefix(kv, "GOCACHE=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, e.goEnv...)
	return append(out, "HOME="+e.home, "PATH="+e.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "NO_COLOR=1")
}

// sh runs a block with bash -e in the repository root and returns its
// standard output.
func (e *env) sh(ctx context.Context, block string) string {
	e.t.Helper()
	return e.shIn(ctx, repoRoot, "", block)
}

// shIn runs a block with bash -e in dir, with stdin as its standard input,
// and returns its standard output.
func (e *env) shIn(ctx context.Context, dir, stdin, block string) string {
	e.t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", block)
	cmd.Dir = dir
	cmd.Env = e.environ()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("running\n%s\nfailed: %v\nstdout:\n%s\nstderr:\n%s", block, err, out.String(), errOut.String())
	}
	return out.String()
}

// start runs a long-lived command line (the host) in its own process
// group; it is stopped with SIGTERM to the group at the end of the test.
func (e *env) start(line string) {
	e.t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = repoRoot
	cmd.Env = e.environ()
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	e.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if e.t.Failed() {
			e.t.Logf("output of %q:\n%s", line, log.String())
		}
	})
	// Wait until it listens (go run compiles first), or fails.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := net.DialTimeout("tcp", defaultAddr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			e.t.Fatalf("%q exited before listening on %s: %v\n%s", line, defaultAddr, err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%q does not listen on %s after 5 minutes", line, defaultAddr)
		}
	}
}

// requirePortFree fails (never skips) when something already listens on
// the README's default address: the examples cannot run as written then.
func requirePortFree(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", defaultAddr)
	if err != nil {
		t.Fatalf("the README's examples use %s, which is busy here (%v): stop whatever listens there", defaultAddr, err)
	}
	ln.Close()
}

// TestReadmeQuickStartAndTerminalClient starts the host as the Quick start
// says (embedded defaults, a fresh home directory), runs the "terminal
// client" block line for line, then docs/mrcic.md's ls_users examples.
func TestReadmeQuickStartAndTerminalClient(t *testing.T) {
	requirePortFree(t)
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	quick := shBlocks(t, "README.md", "Quick start")
	serve := strings.TrimSpace(quick[0])
	if serve != "go run ./cmd/mrci serve" {
		t.Fatalf("the Quick start's first block changed to %q: update this test", serve)
	}
	e.start(serve)

	// The block writes pw.txt and newpw.txt in the directory it runs in,
	// the repository root here: never clobber a developer's files.
	for _, f := range []string{"pw.txt", "newpw.txt"} {
		p := filepath.Join(repoRoot, f)
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists in the repository root; the README's example would overwrite it", f)
		}
		t.Cleanup(func() { os.Remove(p) })
	}

	client := shBlocks(t, "README.md", "The terminal client")[0]
	out := e.sh(ctx, client)
	for _, want := range []string{"alice", "bob", "root"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls_users at the end of the README block does not list %q:\n%s", want, out)
		}
	}

	// docs/mrcic.md: "every page" with --yes, "first page only" with
	// --answer n; both run as root with the pw.txt the README left.
	for _, block := range shBlocks(t, "docs/mrcic.md", "Scripting mode (`-c`)") {
		if !strings.Contains(block, "ls_users") {
			continue
		}
		got := e.sh(ctx, block)
		if !strings.Contains(got, "alice") || !strings.Contains(got, "bob") {
			t.Errorf("docs/mrcic.md block\n%s\nprinted no users:\n%s", block, got)
		}
	}

	docsFilesTransfers(ctx, t, e)
}

// docsFilesTransfers runs docs/files.md's "Clients" blocks: root opens the
// fs_* commands to rank 2 with homes, then alice, who types her password
// at the prompt (the first line of standard input), runs the transfer
// lines in a directory holding the photos the first line uploads. Before
// that she has uploaded big.iso and a first part of it is here, as the
// --resume line assumes.
func docsFilesTransfers(ctx context.Context, t *testing.T, e *env) {
	t.Helper()
	const alicePW = "Alice-Pass-123\n"
	work := t.TempDir()
	photos := map[string][]byte{"a.jpg": bytes.Repeat([]byte{0xff, 0xd8, 1}, 70000), "b.jpg": []byte("b")}
	if err := os.Mkdir(filepath.Join(work, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range photos {
		if err := os.WriteFile(filepath.Join(work, "photos", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := make([]byte, 3<<20+17)
	for i := range iso {
		iso[i] = byte(i * 7 / 5)
	}
	seed := t.TempDir()
	if err := os.WriteFile(filepath.Join(seed, "big.iso"), iso, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "big.iso"), iso[:1<<20], 0o644); err != nil {
		t.Fatal(err)
	}

	blocks := shBlocks(t, "docs/files.md", "Clients")
	if len(blocks) != 2 {
		t.Fatalf("docs/files.md \"Clients\" has %d sh blocks, want 2 (root opens the commands, alice transfers): update this test", len(blocks))
	}
	e.sh(ctx, blocks[0])
	e.shIn(ctx, seed, alicePW, "mrcic --user alice upload --quiet big.iso big.iso")
	lines := strings.Split(strings.TrimSpace(blocks[1]), "\n")
	for _, line := range lines {
		e.shIn(ctx, work, alicePW, line)
	}
	for name, want := range map[string][]byte{"a.jpg": photos["a.jpg"], "big.iso": iso} {
		got, err := os.ReadFile(filepath.Join(work, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the docs/files.md lines: %d bytes (err %v), want the %d bytes uploaded", name, len(got), err, len(want))
		}
	}
}

// TestReadmeDaemonControl runs the "Daemon control" block: start detached,
// status, stop.
func TestReadmeDaemonControl(t *testing.T) {
	requirePortFree(t)
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	block := shBlocks(t, "README.md", "Daemon control")[0]
	t.Cleanup(func() {
		// Whatever happened, leave no daemon behind.
		stop := exec.Command(filepath.Join(e.bin, "mrci"), "stop")
		stop.Env = e.environ()
		_ = stop.Run()
	})
	out := e.sh(ctx, block)
	if !strings.Contains(out, "35516") {
		t.Errorf("mrci status does not show the listen address:\n%s", out)
	}
	// After stop, nothing listens any more.
	if c, err := net.DialTimeout("tcp", defaultAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("something still listens on %s after mrci stop", defaultAddr)
	}
}

// TestDocsWebConsoleServes runs docs/web.md's `mrci serve --web-addr`
// lines one after the other (all but the one that needs certificate files
// of the reader's own) and loads the console page from each, over the
// scheme its comment promises.
func TestDocsWebConsoleServes(t *testing.T) {
	requirePortFree(t)
	e := newEnv(t)
	block := shBlocks(t, "docs/web.md", "Running it")[0]
	ran := 0
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		cmdLine, comment, _ := strings.Cut(line, "#")
		cmdLine, comment = strings.TrimSpace(cmdLine), strings.TrimSpace(comment)
		if strings.Contains(cmdLine, "--web-cert") {
			continue // needs the reader's own certificate files
		}
		fields := strings.Fields(cmdLine)
		var webAddr string
		for i, f := range fields {
			if f == "--web-addr" && i+1 < len(fields) {
				webAddr = fields[i+1]
			}
		}
		_, port, err := net.SplitHostPort(webAddr)
		if err != nil || !strings.HasPrefix(comment, "http") {
			t.Fatalf("docs/web.md line %q: want `mrci serve --web-addr ADDR ... # http(s)://...`", line)
		}
		scheme, _, _ := strings.Cut(comment, "://")
		url := scheme + "://127.0.0.1:" + port + "/"
		t.Run(cmdLine, func(t *testing.T) {
			e := &env{t: t, home: e.home, bin: e.bin, goEnv: e.goEnv}
			e.start(cmdLine)
			hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
				// The host's self-signed default certificate.
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			}}
			// The web listener opens after the MRCI one: poll until it
			// answers (the deadline is only a safety net).
			var resp *http.Response
			for deadline := time.Now().Add(2 * time.Minute); ; {
				resp, err = hc.Get(url)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET %s: %v", url, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") {
				t.Fatalf("GET %s: %s\n%.300s", url, resp.Status, body)
			}
		})
		ran++
	}
	if ran < 2 {
		t.Fatalf("docs/web.md's serve block has %d runnable lines; this test expects the loopback and TLS examples", ran)
	}
}
