//go:build !unix

package module

import (
	"errors"
	"os"
)

// mappedFile is a session or host data file. Without shared memory
// mappings (non-Unix systems) the host keeps the block in memory and
// external modules are not supported.
type mappedFile struct {
	path string
	mem  []byte
}

var errNoMmap = errors.New("external modules need a Unix system")

func createMapped(path string, size int) (*mappedFile, error) { return nil, errNoMmap }

func (m *mappedFile) close() { _ = os.Remove(m.path) }
