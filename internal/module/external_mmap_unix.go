//go:build unix

package module

import (
	"fmt"
	"os"
	"syscall"
)

// mappedFile is a file mapped shared into the host's memory.
type mappedFile struct {
	path string
	mem  []byte
}

// createMapped creates a new zero-filled file of size bytes (mode 0600)
// and maps it read-write.
func createMapped(path string, size int) (*mappedFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("size %s: %w", path, err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return &mappedFile{path: path, mem: mem}, nil
}

// close unmaps and removes the file. Processes that mapped it keep their
// mapping.
func (m *mappedFile) close() {
	_ = syscall.Munmap(m.mem)
	m.mem = nil
	_ = os.Remove(m.path)
}
