package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// codeBlocks returns the fenced blocks of the given language in the
// section of a Markdown file whose heading is heading (up to the next
// heading of the same or a higher level).
func codeBlocks(t *testing.T, file, heading, lang string) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	in, level, fence, want := false, 0, false, false
	var cur []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		if !fence && strings.HasPrefix(line, "#") {
			l := len(line) - len(strings.TrimLeft(line, "#"))
			title := strings.TrimSpace(line[l:])
			switch {
			case title == heading:
				in, level = true, l
			case in && l <= level:
				in = false
			}
			continue
		}
		switch {
		case !fence && strings.HasPrefix(line, "```"):
			fence, cur = true, nil
			want = in && strings.TrimPrefix(line, "```") == lang
		case fence && line == "```":
			fence = false
			if want {
				blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			}
		case fence:
			cur = append(cur, line)
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("%s: section %q has no %s block", file, heading, lang)
	}
	return blocks
}

// TestDocsClusterExamples: docs/cluster.md's node config file is a valid
// config whose every key is read, and the refusal it quotes is the one
// serve prints.
func TestDocsClusterExamples(t *testing.T) {
	doc := "../../docs/cluster.md"
	dir := t.TempDir()
	conf := codeBlocks(t, doc, "Configuration", "toml")[0]
	writeFile(t, filepath.Join(dir, "node.toml"), conf)
	code, out, errs := runCLI(t, "serve", "--data-dir", dir, "--config", filepath.Join(dir, "node.toml"), "--print-config")
	if code != 0 {
		t.Fatalf("print-config with the documented file: %d %q", code, errs)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(conf), "\n") {
		key, val, _ := strings.Cut(line, " = ")
		if !strings.Contains(out, key+" = "+val+" # file\n") {
			t.Errorf("the documented key %s is not read as written:\n%s", key, grepLines(out, key))
		}
	}
	refusal := strings.TrimSpace(codeBlocks(t, doc, "Nodes", "")[0])
	code, _, errs = runCLI(t, "serve", "--data-dir", t.TempDir(), "--cluster", "nats://127.0.0.1:4222")
	if code != 2 || strings.TrimSpace(errs) != refusal {
		t.Fatalf("serve over SQLite with --cluster: %d\n%s\nthe docs say\n%s", code, errs, refusal)
	}
}
