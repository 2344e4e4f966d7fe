//go:build !unix

package modsdk

import "errors"

func mapFile(path string, size int) ([]byte, error) {
	return nil, errors.New("session data needs a Unix system")
}

func unmapFile(b []byte) {}
