package module

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotExecutable is wrapped by CanonicalPath's error when the path does
// not name an existing executable regular file.
var ErrNotExecutable = errors.New("does not exist or is not executable")

// ExpandPath expands environment variables ($VAR, ${VAR}) and a leading
// "~/" in a module path and makes it absolute and clean. It does not touch
// the file system beyond looking up the home directory.
func ExpandPath(p string) (string, error) {
	p = os.ExpandEnv(strings.TrimSpace(p))
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", p, err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	if p == "" {
		return "", fmt.Errorf("empty module path")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("expand %q: %w", p, err)
	}
	return abs, nil
}

// CleanPath is ExpandPath with symbolic links resolved when the path
// exists; a missing path is returned expanded and cleaned. It names
// modules in command_ranks, whose modules need not exist yet.
func CleanPath(p string) (string, error) {
	abs, err := ExpandPath(p)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}

// CanonicalPath returns the absolute, expanded path of a module
// executable with symbolic links resolved, and checks that it is a regular
// file the host may execute. This is the form the host stores and runs.
func CanonicalPath(p string) (string, error) {
	abs, err := ExpandPath(p)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("%s %w", abs, ErrNotExecutable)
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s %w", real, ErrNotExecutable)
	}
	return real, nil
}
