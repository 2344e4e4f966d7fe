//go:build unix

package modsdk

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the first size bytes of a file read-only.
func mapFile(path string, size int) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < int64(size) {
		return nil, fmt.Errorf("%s is %d bytes, want %d", path, fi.Size(), size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return b, nil
}

func unmapFile(b []byte) { _ = syscall.Munmap(b) }
