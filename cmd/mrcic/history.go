package main

import (
	"bufio"
	"os"
	"strings"
	"sync"
)

// maxHistory bounds the history kept in memory and loaded from the file;
// lines longer than maxHistoryLine (pastes) are not recorded.
const (
	maxHistory     = 1000
	maxHistoryLine = 4096
)

// history is the line editor's history (term.History), appended to a file
// created with mode 0600. The editor adds only echoed lines: what is typed
// at a password (hidden) prompt never reaches it. skip decides about the
// others (mrcic skips nothing typed at a hidden prompt and every line that
// answers a command's question, which may be secret).
type history struct {
	mu      sync.Mutex
	entries []string // oldest first
	path    string
	skip    func() bool
}

// loadHistory reads the file's last maxHistory lines; a missing file is an
// empty history. An empty path keeps the history in memory only.
func loadHistory(path string, skip func() bool) *history {
	h := &history{path: path, skip: skip}
	if path == "" {
		return h
	}
	f, err := os.Open(path)
	if err != nil {
		return h
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		h.entries = append(h.entries, sc.Text())
	}
	if len(h.entries) > maxHistory {
		h.entries = h.entries[len(h.entries)-maxHistory:]
	}
	return h
}

// Add records a line typed at the command prompt.
func (h *history) Add(entry string) {
	if strings.TrimSpace(entry) == "" || len(entry) > maxHistoryLine || strings.ContainsAny(entry, "\r\n") ||
		(h.skip != nil && h.skip()) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.entries); n > 0 && h.entries[n-1] == entry {
		return
	}
	h.entries = append(h.entries, entry)
	if len(h.entries) > maxHistory {
		h.entries = h.entries[1:]
	}
	if h.path == "" {
		return
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	_ = f.Chmod(0o600) // an older file may have been created wider
	_, _ = f.WriteString(entry + "\n")
	_ = f.Close()
}

// Len returns the number of entries.
func (h *history) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// At returns entry idx, 0 being the most recent.
func (h *history) At(idx int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entries[len(h.entries)-1-idx]
}
