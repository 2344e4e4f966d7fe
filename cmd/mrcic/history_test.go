package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHistoryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hist")
	if err := os.WriteFile(path, []byte("old one\nold two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	skip := false
	h := loadHistory(path, func() bool { return skip })
	if h.Len() != 2 || h.At(0) != "old two" || h.At(1) != "old one" {
		t.Fatalf("loaded %d entries", h.Len())
	}
	h.Add("ls_chs")
	h.Add("ls_chs") // repeated: once
	h.Add("   ")
	h.Add(strings.Repeat("x", maxHistoryLine+1))
	skip = true
	h.Add("an answer to a question")
	skip = false
	h.Add("my_info")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "old one\nold two\nls_chs\nmy_info\n" {
		t.Fatalf("file %q", b)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if h.At(0) != "my_info" || h.Len() != 4 {
		t.Fatalf("in memory: %d, %q", h.Len(), h.At(0))
	}
}
