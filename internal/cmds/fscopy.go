package cmds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

// copyStep is the most bytes fs_copy and fs_move copy per loop step (the
// original's step); HALT_CMD and TERM_CMD act between steps.
const copyStep = wire.MaxPayload

func runFsCopy(ctx context.Context, c *module.Call) error { return copyOrMove(ctx, c, false) }

func runFsMove(ctx context.Context, c *module.Call) error { return copyOrMove(ctx, c, true) }

// kindOf names an object's kind for the type-match check.
func kindOf(fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	case fi.IsDir():
		return "directory"
	}
	return "file"
}

// sameObject reports whether two infos describe one file-system object.
func sameObject(a, b fs.FileInfo) bool {
	ka, ok1 := keyOf(a)
	kb, ok2 := keyOf(b)
	return ok1 && ok2 && ka == kb
}

// within reports whether rel (existing or not) lies inside, or is, the
// directory dir: every existing ancestor of rel is compared with dir by
// device and inode, so links cannot hide the nesting.
func within(j *jail, dir fs.FileInfo, rel string) bool {
	for d := rel; ; d = filepath.Dir(d) {
		if fi, err := j.root.Stat(d); err == nil && sameObject(fi, dir) {
			return true
		}
		if d == "." || d == string(filepath.Separator) {
			return false
		}
	}
}

// treeBytes sums the sizes of the regular files beneath rel (not following
// links), for the quota check.
func treeBytes(j *jail, rel string) int64 {
	var n int64
	_ = fs.WalkDir(j.root.FS(), filepath.ToSlash(rel), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// copier runs one fs_copy or fs_move call.
type copier struct {
	c     *module.Call
	j     *jail
	move  bool
	force bool
	all   string // "", "y" (overwrite all) or "n" (skip all existing)
	dirs  []string
	files int // files copied so far (for the blank separator line)
}

type copyPair struct {
	src, dst     string // relative to the root
	srcTxt, dTxt string // as shown
}

func copyOrMove(ctx context.Context, c *module.Call, move bool) error {
	src, dst := c.Param("-src"), c.Param("-dst")
	switch {
	case src == "":
		return module.Fail("-src missing")
	case dst == "":
		return module.Fail("-dst missing")
	}
	return withJail(ctx, c, func(j *jail) error {
		srel, err := j.resolve(src)
		if err != nil {
			return err
		}
		drel, err := j.resolve(dst)
		if err != nil {
			return err
		}
		sfi, err := j.root.Lstat(srel)
		if errors.Is(err, fs.ErrNotExist) {
			return module.Fail("'%s' does not exist", src)
		} else if err != nil {
			return fsFail(src, err)
		}
		if srel == "." {
			return module.Fail("the files root itself cannot be copied or moved")
		}
		dfi, derr := j.root.Lstat(drel)
		exists := derr == nil
		if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			return fsFail(dst, derr)
		}
		if exists && kindOf(dfi) != kindOf(sfi) {
			return module.Fail("existing destination type does not match the source")
		}
		if sfi.IsDir() && within(j, sfi, drel) {
			if move {
				return module.Fail("cannot move a directory into itself")
			}
			return module.Fail("cannot copy a directory into itself")
		}
		if exists && sameObject(sfi, dfi) {
			return module.Fail("the source and the destination are the same object")
		}
		if r, w, _ := access(sfi); !r || (move && !w) {
			if move {
				return module.Fail("read/write permission denied")
			}
			return module.Fail("read permission denied")
		}
		if exists {
			if _, w, _ := access(dfi); !w {
				return module.Fail("write permission denied")
			}
		}
		cp := &copier{c: c, j: j, move: move, force: c.Flag("-force")}
		if exists && !cp.force {
			ok, err := c.Confirm(ctx, fmt.Sprintf("'%s' already exists, overwrite? (y/n): ", dst))
			if err != nil || !ok {
				return err
			}
		}
		if move && sameDevice(j, srel, drel) {
			done, err := cp.rename(srel, drel, src, dst, exists)
			if done || err != nil {
				return err
			}
			exists = false // rename removed it before finding another device
		}
		if j.quota > 0 {
			grow := treeBytes(j, srel)
			if exists {
				grow -= treeBytes(j, drel)
			}
			release, err := j.reserve(c, grow)
			if err != nil {
				return err
			}
			defer release()
		}
		if err := cp.run(ctx, copyPair{srel, drel, src, dst}, exists); err != nil {
			return err
		}
		if move {
			cp.removeEmptyDirs()
		}
		return nil
	})
}

// sameDevice reports whether the source's directory and the nearest
// existing ancestor of the destination are on one device (a rename can
// move the object); unknown counts as the same.
func sameDevice(j *jail, srel, drel string) bool {
	dev := func(rel string) (uint64, bool) {
		for d := filepath.Dir(rel); ; d = filepath.Dir(d) {
			if fi, err := j.root.Stat(d); err == nil {
				k, ok := keyOf(fi)
				return k.dev, ok
			}
			if d == "." || d == string(filepath.Separator) {
				return 0, false
			}
		}
	}
	a, ok1 := dev(srel)
	b, ok2 := dev(drel + string(filepath.Separator) + "x")
	return !ok1 || !ok2 || a == b
}

// rename moves within one device. It reports false (and no error) when the
// objects are on different devices and must be copied.
func (cp *copier) rename(srel, drel, src, dst string, exists bool) (bool, error) {
	j := cp.j
	if err := j.root.MkdirAll(filepath.Dir(drel), 0o755); err != nil {
		return true, fsFail(dst, err)
	}
	if exists {
		if err := j.root.RemoveAll(drel); err != nil {
			return true, module.Fail("move failed (could not remove the destination or write there)")
		}
	}
	err := j.root.Rename(srel, drel)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EXDEV):
		return false, nil
	case escapes(err):
		return true, fsFail(src, err)
	}
	return true, module.Fail("move failed (could not remove the destination or write there)")
}

// run copies (or moves across devices) the pair and everything beneath it,
// one step at a time.
func (cp *copier) run(ctx context.Context, top copyPair, topExists bool) error {
	queue := []copyPair{top}
	first := true
	for len(queue) > 0 {
		if err := cp.c.WaitResumed(ctx); err != nil {
			return err
		}
		p := queue[0]
		queue = queue[1:]
		more, err := cp.one(ctx, p, first, topExists)
		first = false
		if err != nil {
			return err
		}
		queue = append(queue, more...)
	}
	return nil
}

// one handles one queued pair: a link is recreated, a directory created and
// its entries queued, a file copied in steps.
func (cp *copier) one(ctx context.Context, p copyPair, top, topExists bool) ([]copyPair, error) {
	j, c := cp.j, cp.c
	sfi, err := j.root.Lstat(p.src)
	if err != nil {
		return nil, fsFail(p.srcTxt, err)
	}
	if !top {
		dfi, derr := j.root.Lstat(p.dst)
		if derr == nil {
			if kindOf(dfi) != kindOf(sfi) {
				c.Err(fmt.Sprintf("'%s': existing destination type does not match the source; skipped", p.dTxt))
				return nil, nil
			}
			if !sfi.IsDir() {
				ok, err := cp.overwrite(ctx, p.dTxt)
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, nil
				}
			}
		}
	} else if topExists && sfi.Mode()&fs.ModeSymlink != 0 {
		if err := j.root.Remove(p.dst); err != nil {
			return nil, fsFail(p.dTxt, err)
		}
	}
	if err := j.root.MkdirAll(filepath.Dir(p.dst), 0o755); err != nil {
		return nil, fsFail(p.dTxt, err)
	}
	switch {
	case sfi.Mode()&fs.ModeSymlink != 0:
		target, err := j.root.Readlink(p.src)
		if err != nil {
			return nil, fsFail(p.srcTxt, err)
		}
		if !top {
			_ = j.root.Remove(p.dst)
		}
		if err := j.root.Symlink(target, p.dst); err != nil {
			return nil, fsFail(p.dTxt, err)
		}
		c.Text(fmt.Sprintf("mklink: '%s' --> '%s'\n", p.srcTxt, p.dTxt))
		if cp.move {
			_ = j.root.Remove(p.src)
		}
		return nil, nil
	case sfi.IsDir():
		if err := j.root.Mkdir(p.dst, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fsFail(p.dTxt, err)
		}
		entries, err := readDir(j, p.src, false)
		if err != nil {
			return nil, fsFail(p.srcTxt, err)
		}
		if cp.move {
			cp.dirs = append(cp.dirs, p.src)
		}
		out := make([]copyPair, 0, len(entries))
		for _, e := range entries {
			out = append(out, copyPair{e.rel, filepath.Join(p.dst, e.name),
				filepath.Join(p.srcTxt, e.name), filepath.Join(p.dTxt, e.name)})
		}
		return out, nil
	case sfi.Mode().IsRegular():
		return nil, cp.copyFile(ctx, p, sfi.Size())
	}
	c.Err(fmt.Sprintf("'%s' is not a file, directory or link; skipped", p.srcTxt))
	return nil, nil
}

// overwrite asks about an existing queued destination (y/n/y-all/n-all).
func (cp *copier) overwrite(ctx context.Context, dst string) (bool, error) {
	switch {
	case cp.force || cp.all == "y":
		return true, nil
	case cp.all == "n":
		return false, nil
	}
	for {
		a, err := cp.c.Prompt(ctx, fmt.Sprintf("'%s' already exists, overwrite? (y/n/y-all/n-all): ", dst))
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "y":
			return true, nil
		case "n":
			return false, nil
		case "y-all":
			cp.all = "y"
			return true, nil
		case "n-all":
			cp.all = "n"
			return false, nil
		case "":
			return false, module.ErrTerminated
		}
	}
}

// copyFile copies one regular file in steps of copyStep bytes, printing
// the position after each; a moved file's source is removed afterwards.
func (cp *copier) copyFile(ctx context.Context, p copyPair, size int64) error {
	j, c := cp.j, cp.c
	in, err := j.root.Open(p.src)
	if err != nil {
		return fsFail(p.srcTxt, err)
	}
	defer in.Close()
	out, err := j.root.OpenFile(p.dst, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fsFail(p.dTxt, err)
	}
	defer out.Close()
	if shared(out) {
		return module.Fail("'%s' has other hard links; refusing to write into it", p.dTxt)
	}
	if err := out.Truncate(0); err != nil {
		return fsFail(p.dTxt, err)
	}
	if cp.files > 0 {
		c.Text("\n")
	}
	cp.files++
	c.Text(fmt.Sprintf("'%s' --> '%s'\n\n", p.srcTxt, p.dTxt))
	var pos int64
	for {
		if err := c.WaitResumed(ctx); err != nil {
			return err
		}
		// *os.File.ReadFrom uses copy_file_range where it can.
		n, err := out.ReadFrom(io.LimitReader(in, copyStep))
		pos += n
		if err != nil {
			return fsFail(p.dTxt, err)
		}
		c.Text(fmt.Sprintf("%d/%d\n", pos, size))
		if n < copyStep {
			break
		}
	}
	if err := out.Close(); err != nil {
		return fsFail(p.dTxt, err)
	}
	if cp.move {
		if err := j.root.Remove(p.src); err != nil {
			c.Err(fmt.Sprintf("'%s' was copied but could not be removed: %v", p.srcTxt, errors.Unwrap(err)))
		}
	}
	return nil
}

// removeEmptyDirs removes the source directories of a cross-device move
// deepest first; a directory that still holds skipped entries stays.
func (cp *copier) removeEmptyDirs() {
	for i := len(cp.dirs) - 1; i >= 0; i-- {
		_ = cp.j.root.Remove(cp.dirs[i])
	}
}
