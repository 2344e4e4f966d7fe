// Package gomodtest builds Go programs in a module of their own, outside
// this repository, for tests that check what a third party can do with the
// public packages: the program's go.mod requires github.com/mrci/mrci and
// replaces it with the repository on disk, so only exported (non-internal)
// packages are importable. The build runs offline (GOPROXY=off,
// GOFLAGS=-mod=mod, GOSUMDB=off) from the module cache the repository's
// own build filled.
package gomodtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build writes files (name → content; go.mod is generated) into a fresh
// temporary directory, builds the program there and returns the path of
// the executable. The test fails with the compiler's output if the build
// fails.
func Build(t testing.TB, files map[string]string) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	goVersion := "1.26"
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "go "); ok {
				goVersion = strings.TrimSpace(v)
			}
		}
	}
	mod := "module example.com/thirdparty\n\ngo " + goVersion + "\n\n" +
		"require github.com/mrci/mrci v0.0.0\n\n" +
		"replace github.com/mrci/mrci => " + root + "\n"
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", mod)
	// The repository's checksums cover every module the program can need.
	if sum, err := os.ReadFile(filepath.Join(root, "go.sum")); err == nil {
		write("go.sum", string(sum))
	}
	for name, content := range files {
		write(name, content)
	}
	exe := filepath.Join(dir, "prog")
	run := func(args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOWORK=off", "CGO_ENABLED=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s in a separate module: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	// -e: tidy also walks the tests of the packages the program imports,
	// whose own dependencies need not be in the module cache (the build
	// below needs only what the program imports).
	run("mod", "tidy", "-e")
	run("build", "-o", exe, ".")
	return exe
}

// repoRoot returns the directory of this repository's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	p := strings.TrimSpace(string(out))
	if p == "" || p == os.DevNull {
		t.Fatal("not inside the mrci module")
	}
	return filepath.Dir(p)
}
