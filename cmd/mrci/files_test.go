package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesSettings: `mrci files` prints the defaults, stores each flag in
// the database, and refuses a negative quota.
func TestFilesSettings(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCLI(t, "files", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, filepath.Join(dir, "files")+" (default)") || !strings.Contains(out, "homes:       false") {
		t.Fatalf("defaults: %d %q", code, out)
	}
	root := filepath.Join(dir, "shared")
	code, out, _ = runCLI(t, "files", "--data-dir", dir, "--root", root, "--homes", "--quota", "1048576")
	if code != 0 || !strings.Contains(out, "files root:  "+root+"\n") || !strings.Contains(out, "1048576 bytes per user") {
		t.Fatalf("set: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "files", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "homes:       true") {
		t.Fatalf("reload: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "files", "--data-dir", dir, "--quota", "-1"); code == 0 {
		t.Fatalf("negative quota accepted: %q", errs)
	}
	code, out, _ = runCLI(t, "files", "--data-dir", dir, "--unconfined")
	if code != 0 || !strings.Contains(out, "confinement: OFF") {
		t.Fatalf("unconfined: %d %q", code, out)
	}
}
