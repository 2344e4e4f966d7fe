package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/pkg/client"
)

// fixture is the original host's sample database (copied before use).
const fixture = "../../internal/importer/testdata/original-1.1.2-sample.db"

func copyFixtureTo(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestImportOriginalCommand runs the sub-command: JSON report, dry run
// without side effects, the import, a harmless second run, and the refusal
// to import into a host with accounts of its own.
func TestImportOriginalCommand(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data.db")
	copyFixtureTo(t, src)

	dir := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runCLI(t, "import-original", "--from", src, "--data-dir", dir, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("dry run exit %d: %s", code, errOut)
	}
	var rep importer.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, out)
	}
	if !rep.DryRun || rep.Written || !rep.Changed || rep.Table("users").Imported != 3 {
		t.Fatalf("dry run report %+v", rep)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the dry run created the data directory: %v", err)
	}

	code, out, errOut = runCLI(t, "import-original", "--from", src, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "result: imported in one transaction") {
		t.Fatalf("import exit %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"users", "channel_members", "port: original 36521, ours 35516: applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "import-original", "--from", src, "--data-dir", dir, "--json")
	if code != 0 {
		t.Fatalf("second import exit %d", code)
	}
	rep = importer.Report{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Changed || rep.Written {
		t.Fatalf("second import report %+v %v", rep, err)
	}

	// A host with an account of its own is refused without --merge.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "mrci.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO users (user_id, user_name, password_hash, host_rank) VALUES (randomblob(32), 'alice', 'x', 2)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "import-original", "--from", src, "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "refusing to import") || !strings.Contains(errOut, "--merge") {
		t.Fatalf("import into a used host: exit %d, %q", code, errOut)
	}
	if code, _, _ = runCLI(t, "import-original", "--from", src, "--data-dir", dir, "--merge"); code != 0 {
		t.Fatalf("merge exit %d", code)
	}
	if code, _, errOut = runCLI(t, "import-original", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "from") {
		t.Fatalf("missing --from: exit %d %q", code, errOut)
	}
	if code, _, errOut = runCLI(t, "import-original", "--from", filepath.Join(dir, "mrci.db"), "--data-dir", dir); code == 0 {
		t.Fatalf("importing the host's own database: exit %d %q", code, errOut)
	}
}

// readmeCommands returns the command lines of the first sh block of the
// README section "Moving from the original host".
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Moving from the original host\n")
	if !ok {
		t.Fatal("README has no section \"Moving from the original host\"")
	}
	_, block, ok := strings.Cut(sec, "```sh\n")
	if !ok {
		t.Fatal("the section has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			cmds = append(cmds, l)
		}
	}
	return cmds
}

// TestReadmeMigrationSteps runs the README's migration commands as written
// in a scratch home directory holding an original host's ~/.mrci/data.db,
// then logs in to the started host, on the original's port, with an
// original password.
func TestReadmeMigrationSteps(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("MRCI_DATA_DIR", "")
	t.Setenv("MRCI_ROOT_PASSWORD", "")
	original := filepath.Join(home, ".mrci", "data.db")
	copyFixtureTo(t, original)
	// The original listened on a port that is free on this machine.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	db, err := sql.Open("sqlite", "file:"+original)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(fmt.Sprintf(`UPDATE host_settings SET port = %d`, port))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	cmds := readmeCommands(t)
	if len(cmds) < 3 || !strings.HasPrefix(cmds[len(cmds)-1], "mrci serve") {
		t.Fatalf("unexpected README commands %q", cmds)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	served := false
	defer func() {
		cancel()
		if served {
			<-done
		}
	}()
	for _, line := range cmds {
		expanded := strings.ReplaceAll(line, "~/", home+"/")
		rest, isMrci := strings.CutPrefix(expanded, "mrci ")
		switch {
		case !isMrci:
			cmd := exec.Command("sh", "-c", expanded)
			cmd.Env = append(os.Environ(), "HOME="+home)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
		case strings.HasPrefix(rest, "serve"):
			served = true
			go func() { done <- run(ctx, strings.Fields(rest), &bytes.Buffer{}, &bytes.Buffer{}) }()
		default:
			code, out, errOut := runCLI(t, strings.Fields(rest)...)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s\n%s", line, code, out, errOut)
			}
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var c *client.Client
	for range 200 {
		c, err = client.Dial(ctx, addr, client.Options{})
		if err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("mrci serve exited with %d", code)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("mrci serve is not listening on the original's port %d: %v", port, err)
	}
	defer c.Close()
	lctx, lcancel := context.WithTimeout(ctx, 20*time.Second)
	defer lcancel()
	if err := c.Login(lctx, "dave", "Dave#Orig2019aa"); err != nil {
		t.Fatalf("dave's original password after the migration: %v", err)
	}
	if info, _ := c.MyInfo(); info.Peer.DisplayName != "Dave_D" || info.Rank != 2 {
		t.Fatalf("dave's MY_INFO %+v", info)
	}
}
