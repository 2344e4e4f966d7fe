package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
