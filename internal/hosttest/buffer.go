package hosttest

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer that concurrent writers (a host's logger, a
// child process's stderr) and a test can share.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how often substr occurs in what was written so far.
func (l *Buffer) Count(substr string) int { return strings.Count(l.String(), substr) }
