package cmds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mrci/mrci/internal/module"
)

// maxPathBytes is the longest path the file commands accept (PATH_MAX - 1).
const maxPathBytes = 4095

// filesRooter is implemented by hosts that know a default files root.
type filesRooter interface{ FilesRoot() string }

// jail is the part of the host's file system one fs_* call may use: every
// path resolves beneath base and is opened through an os.Root, so "..",
// absolute paths and symbolic links cannot lead outside it (the kernel's
// openat walk is checked component by component; a link swapped in during
// a transfer is caught the same way).
type jail struct {
	root  *os.Root
	base  string // absolute host path of the root
	cwd   string // current directory relative to base ("." for base)
	quota int64  // bytes the jail may hold; 0: no limit
	home  bool   // base is a per-user home
}

// openJail opens the caller's jail: the files root (or the user's home
// under it, created on first use), with the session's current directory
// when that lies inside it. Unconfined hosts get a jail at "/".
func openJail(ctx context.Context, c *module.Call) (*jail, error) {
	fset, err := c.Store().FilesSettings(ctx)
	if err != nil {
		return nil, err
	}
	j := &jail{}
	switch {
	case fset.Unconfined:
		j.base = string(filepath.Separator)
	default:
		root := fset.Root
		if root == "" {
			if fr, ok := c.Host().(filesRooter); ok {
				root = fr.FilesRoot()
			}
		}
		if root == "" {
			return nil, module.Fail("no files root is configured on this host")
		}
		if root, err = filepath.Abs(root); err != nil {
			return nil, fmt.Errorf("files root: %w", err)
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, fmt.Errorf("create files root: %w", err)
		}
		j.base = root
		if fset.Homes {
			name := c.Session().UserName
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
				return nil, module.Fail("your user name cannot name a home folder")
			}
			r, err := os.OpenRoot(root)
			if err != nil {
				return nil, fmt.Errorf("open files root: %w", err)
			}
			err = r.Mkdir(name, 0o700)
			r.Close()
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("create home folder: %w", err)
			}
			j.base = filepath.Join(root, name)
			j.home = true
			j.quota = fset.Quota
		}
	}
	if j.root, err = os.OpenRoot(j.base); err != nil {
		return nil, fmt.Errorf("open files root: %w", err)
	}
	j.cwd = "."
	if dir := c.Session().Dir; dir != "" {
		if rel, ok := j.inside(dir); ok {
			j.cwd = rel
		}
	}
	return j, nil
}

// close releases the jail's root handle.
func (j *jail) close() { j.root.Close() }

// inside returns abs relative to base when it lies beneath it (lexically).
func (j *jail) inside(abs string) (string, bool) {
	if !filepath.IsAbs(abs) {
		return "", false
	}
	rel, err := filepath.Rel(j.base, filepath.Clean(abs))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// resolve turns a path as the client typed it into a name relative to the
// jail's root. Relative paths resolve against the current directory; ".."
// is applied lexically and may not climb above the root; absolute paths
// must lie beneath it. Names with control characters or NUL and paths
// longer than 4095 bytes are refused.
func (j *jail) resolve(p string) (string, error) {
	switch {
	case p == "":
		return "", module.Fail("empty path")
	case strings.ContainsRune(p, 0):
		return "", module.Fail("'%s' contains a NUL character", strings.ReplaceAll(p, "\x00", `\0`))
	case strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return "", module.Fail("%q contains a control character (line breaks and tabs are not allowed in names)", p)
	case len(p) > maxPathBytes:
		return "", module.Fail("path of %d bytes is longer than the limit of %d bytes", len(p), maxPathBytes)
	}
	if filepath.IsAbs(p) {
		rel, ok := j.inside(p)
		if !ok {
			return "", module.Fail("'%s' is outside the files root", p)
		}
		return rel, nil
	}
	rel := filepath.Clean(filepath.Join(j.cwd, p))
	if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", module.Fail("'%s' is outside the files root", p)
	}
	if len(filepath.Join(j.base, rel)) > maxPathBytes {
		return "", module.Fail("the full path of '%s' is longer than %d bytes", p, maxPathBytes)
	}
	return rel, nil
}

// abs returns the host path of a name relative to the root.
func (j *jail) abs(rel string) string { return filepath.Join(j.base, rel) }

// escapes reports whether err is os.Root refusing a path that leads out of
// the root (through ".." after a symbolic link, or a link pointing out).
func escapes(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// fsFail maps a file-system error about the path as typed to a client error.
func fsFail(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case escapes(err):
		return module.Fail("'%s' leads outside the files root (through a symbolic link); refused", p)
	case errors.Is(err, fs.ErrNotExist):
		return module.Fail("'%s' does not exist", p)
	case errors.Is(err, fs.ErrPermission):
		return module.Fail("'%s': permission denied", p)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return module.Fail("'%s': a name in the path is too long", p)
	case errors.Is(err, syscall.ENOTDIR):
		return module.Fail("'%s': a part of the path is not a directory", p)
	case errors.Is(err, syscall.ELOOP):
		return module.Fail("'%s': too many levels of symbolic links", p)
	case errors.Is(err, syscall.ENOSPC):
		return module.Fail("'%s': no space left on the host's device", p)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return module.Fail("'%s': %v", p, pe.Err)
	}
	return module.Fail("'%s': %v", p, err)
}

// usage returns the bytes of the regular files beneath the jail (links
// are not followed; a hard-linked file counts once per name).
func (j *jail) usage() (int64, error) {
	var n int64
	err := fs.WalkDir(j.root.FS(), ".", func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts do not count
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// filesReserver is implemented by hosts that track the bytes running
// transfers reserved per home (host.ReserveFiles).
type filesReserver interface {
	ReserveFiles(dir string, used, grow, quota int64) (release func(), reserved int64, ok bool)
}

// reserve checks that growing the jail's content by grow bytes stays
// within its quota, counting what other running transfers into the same
// home have reserved, and reserves the bytes until release is called.
func (j *jail) reserve(c *module.Call, grow int64) (release func(), err error) {
	if j.quota <= 0 || grow <= 0 {
		return func() {}, nil
	}
	used, err := j.usage()
	if err != nil {
		return nil, err
	}
	fr, ok := c.Host().(filesReserver)
	if !ok {
		if used+grow > j.quota {
			return nil, module.Fail("quota exceeded: %d bytes used of %d, this needs %d more", used, j.quota, grow)
		}
		return func() {}, nil
	}
	release, reserved, ok := fr.ReserveFiles(j.base, used, grow, j.quota)
	switch {
	case ok:
		return release, nil
	case reserved > 0:
		return nil, module.Fail("quota exceeded: %d bytes used and %d reserved by running transfers, of %d; this needs %d more",
			used, reserved, j.quota, grow)
	}
	return nil, module.Fail("quota exceeded: %d bytes used of %d, this needs %d more", used, j.quota, grow)
}

// shared reports whether a file has other hard links. Writing into such a
// file would change every name of it, possibly one outside the files root,
// so uploads and copies refuse to write into it.
func shared(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}
