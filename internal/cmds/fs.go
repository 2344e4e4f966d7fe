package cmds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

// fsCommands are the file-system commands of commands.md §12 plus the
// fs_hash extension. Every path is confined to the caller's jail
// (fsroot.go, docs/files.md).
func fsCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("fs_cd", "change or show the current directory.", "[{-path (text)}]/[text]",
				"Without -path prints the current directory. With -path changes it (relative paths resolve "+
					"against the current one) and prints the new absolute directory. Paths are confined to "+
					"the host's files root."),
			In: userOnly, MaxArgs: 3, Run: runFsCd,
		},
		{
			Def: def("fs_list", "list a directory.", "[{-path (text)} {-info_frame} {-no_hidden}]/[text] or [FILE_INFO]",
				"Lists the entries of -path (default: the current directory), directories first, then by name; "+
					"directories end with '/'. -info_frame sends a FILE_INFO frame per entry instead of text, "+
					"-no_hidden omits hidden entries."),
			In: userOnly, MaxArgs: 4, Run: runFsList,
		},
		{
			Def: def("fs_tree", "list a directory tree.", "[{-path (text)} {-info_frame} {-no_hidden}]/[text] or [FILE_INFO]",
				"Lists -path (default: the current directory) and all its sub-directories breadth first, one "+
					"directory per step (HALT_CMD pauses between directories, RESUME_CMD continues, TERM_CMD "+
					"stops). Symbolic links to directories are followed once; a link cycle is listed but not "+
					"entered again."),
			In: userOnly, MaxArgs: 4, Run: runFsTree,
		},
		{
			Def: def("fs_info", "show information about a file or directory.", "[-path (text) {-info_frame}]/[text] or [FILE_INFO]",
				"Shows the kind, permissions (of the host's account), size, device and times of -path, or "+
					"sends them as a FILE_INFO frame with -info_frame."),
			In: userOnly, MaxArgs: 3, Run: runFsInfo,
		},
		{
			Def: def("fs_mkpath", "create a directory path.", "[-path (text)]/[text]",
				"Creates -path and every missing directory above it. Failures are reported."),
			In: userOnly, MaxArgs: 2, Run: runFsMkpath,
		},
		{
			Def: def("fs_delete", "delete a file, link or directory.", "[-path (text) {-force}]/[text]",
				"Deletes -path after asking for confirmation (-force skips the question). Directories are "+
					"deleted with their content; a symbolic link is removed, never its target."),
			In: userOnly, MaxArgs: 3, Run: runFsDelete,
		},
		{
			Def: def("fs_copy", "copy a file, link or directory.", "[-src (text) -dst (text) {-force}]/[text]",
				"Copies -src to -dst (directories with their content), asking before overwriting "+
					"(y/n/y-all/n-all; -force overwrites). Large files are copied in steps with progress lines; "+
					"HALT_CMD pauses, RESUME_CMD continues, TERM_CMD stops. A directory cannot be copied into itself."),
			In: userOnly, MaxArgs: 5, Run: runFsCopy,
		},
		{
			Def: def("fs_move", "move a file, link or directory.", "[-src (text) -dst (text) {-force}]/[text]",
				"Moves -src to -dst, asking before overwriting (y/n/y-all/n-all; -force overwrites). Within one "+
					"device it renames; across devices it copies and removes the copied sources. Skipped sources "+
					"are never deleted; a directory cannot be moved into itself."),
			In: userOnly, MaxArgs: 5, Run: runFsMove,
		},
		{
			Def: module.Def{Name: "fs_download", GenFile: 1, Summary: "download a file from the host.",
				IO: "[-remote_file (text) {-client_file (text)} {-len (int)} {-offset (int)} {-single_step} {-force} {-truncate}]/[GEN_FILE]",
				Long: "GEN_FILE transfer of -remote_file to the client, from -offset (default 0), -len bytes (0 or " +
					"absent: to the end of the file). The reply carries the real length. Streams unless -single_step."},
			In: userOnly, Accepts: []wire.TypeID{wire.TypeGenFile}, MaxArgs: 11, Run: runFsDownload,
		},
		{
			Def: module.Def{Name: "fs_upload", GenFile: 1, Summary: "upload a file to the host.",
				IO: "[-remote_file (text) -len (int) {-client_file (text)} {-offset (int)} {-single_step} {-force} {-truncate}]/[GEN_FILE]",
				Long: "GEN_FILE transfer of -len bytes from the client into -remote_file, written from -offset " +
					"(default 0); -truncate empties the file first, -force overwrites without asking."},
			In: userOnly, Accepts: []wire.TypeID{wire.TypeGenFile}, MaxArgs: 11, Run: runFsUpload,
		},
		{
			Def: def("fs_hash", "checksum of a file (extension).", "[-path (text) {-algo (text)}]/[text]",
				"Prints '<algo> <hex digest>' of -path; -algo is sha256 (default), sha512 or sha1. An extension "+
					"of this host that clients use to verify transfers."),
			In: userOnly, MaxArgs: 4, Run: runFsHash,
		},
	}
}

// withJail runs fn with the caller's jail.
func withJail(ctx context.Context, c *module.Call, fn func(j *jail) error) error {
	j, err := openJail(ctx, c)
	if err != nil {
		return err
	}
	defer j.close()
	return fn(j)
}

func runFsCd(ctx context.Context, c *module.Call) error {
	return withJail(ctx, c, func(j *jail) error {
		p := c.Param("-path")
		if p == "" {
			c.Text(j.abs(j.cwd) + "\n")
			return nil
		}
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		fi, err := j.root.Stat(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return module.Fail("'%s' does not exist", p)
			}
			return fsFail(p, err)
		}
		if !fi.IsDir() {
			return module.Fail("'%s' is not a directory", p)
		}
		dir := j.abs(rel)
		c.Emit(wire.TypePrivIPC, wire.AsyncSetDir, wire.EncodeText(dir))
		c.Text(dir + "\n")
		return nil
	})
}

// dirEntry is one listed object.
type dirEntry struct {
	name string
	rel  string      // relative to the jail root
	lfi  fs.FileInfo // Lstat
	fi   fs.FileInfo // Stat through links inside the root; nil if the target is missing or outside
}

func (e *dirEntry) isDir() bool { return e.fi != nil && e.fi.IsDir() }

// readDir lists a directory of the jail, directories first, then by name.
func readDir(j *jail, rel string, noHidden bool) ([]dirEntry, error) {
	f, err := j.root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, 0, len(names))
	for _, n := range names {
		if noHidden && strings.HasPrefix(n, ".") {
			continue
		}
		e := dirEntry{name: n, rel: filepath.Join(rel, n)}
		if e.lfi, err = j.root.Lstat(e.rel); err != nil {
			continue // vanished meanwhile
		}
		e.fi = e.lfi
		if e.lfi.Mode()&fs.ModeSymlink != 0 {
			e.fi, _ = j.root.Stat(e.rel)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b dirEntry) int {
		if a.isDir() != b.isDir() {
			if a.isDir() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

// checkDir applies the checks of fs_list and fs_tree to the path argument.
func checkDir(j *jail, p string) (rel string, err error) {
	if rel, err = j.resolve(p); err != nil {
		return "", err
	}
	fi, err := j.root.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", module.Fail("'%s' does not exist", p)
	case err != nil:
		return "", fsFail(p, err)
	case !fi.IsDir():
		return "", module.Fail("'%s' is not a directory", p)
	}
	return rel, nil
}

func listErr(p string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return module.Fail("cannot read '%s', permission denied", p)
	}
	return fsFail(p, err)
}

func runFsList(ctx context.Context, c *module.Call) error {
	return withJail(ctx, c, func(j *jail) error {
		p := c.Param("-path")
		if p == "" {
			p = j.abs(j.cwd)
		}
		rel, err := checkDir(j, p)
		if err != nil {
			return err
		}
		entries, err := readDir(j, rel, c.Flag("-no_hidden"))
		if err != nil {
			return listErr(p, err)
		}
		info := c.Flag("-info_frame")
		for i := range entries {
			e := &entries[i]
			if info {
				c.Send(wire.TypeFileInfo, fileInfo(j, e.rel, e.lfi, e.fi))
				continue
			}
			name := e.name
			if e.isDir() {
				name += "/"
			}
			c.Text(name + "\n")
		}
		return nil
	})
}

// dirKey identifies a directory across links.
type dirKey struct{ dev, ino uint64 }

func keyOf(fi fs.FileInfo) (dirKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return dirKey{}, false
	}
	return dirKey{uint64(st.Dev), st.Ino}, true
}

func runFsTree(ctx context.Context, c *module.Call) error {
	return withJail(ctx, c, func(j *jail) error {
		p := c.Param("-path")
		if p == "" {
			p = j.abs(j.cwd)
		}
		rel, err := checkDir(j, p)
		if err != nil {
			return err
		}
		info, noHidden := c.Flag("-info_frame"), c.Flag("-no_hidden")
		type dir struct{ rel, shown string }
		queue := []dir{{rel, ""}}
		seen := make(map[dirKey]bool)
		if fi, err := j.root.Stat(rel); err == nil {
			if k, ok := keyOf(fi); ok {
				seen[k] = true
			}
		}
		for len(queue) > 0 {
			// One directory per step: HALT_CMD pauses here, TERM_CMD ends.
			if err := c.WaitResumed(ctx); err != nil {
				return err
			}
			d := queue[0]
			queue = queue[1:]
			entries, err := readDir(j, d.rel, noHidden)
			if err != nil {
				if d.shown == "" {
					return listErr(p, err)
				}
				c.Err(fmt.Sprintf("cannot read '%s': %v", path.Join(p, d.shown), errors.Unwrap(err)))
				continue
			}
			for i := range entries {
				e := &entries[i]
				shown := path.Join(d.shown, e.name)
				if e.isDir() {
					if k, ok := keyOf(e.fi); ok && !seen[k] {
						seen[k] = true
						queue = append(queue, dir{e.rel, shown})
					}
				}
				if info {
					c.Send(wire.TypeFileInfo, fileInfo(j, e.rel, e.lfi, e.fi))
					continue
				}
				out := filepath.Join(p, shown)
				if e.isDir() {
					out += "/"
				}
				c.Text(out + "\n")
			}
		}
		return nil
	})
}

// FILE_INFO flags (types.md §10).
const (
	fiFile   = 0x01
	fiDir    = 0x02
	fiLink   = 0x04
	fiRead   = 0x08
	fiWrite  = 0x10
	fiExec   = 0x20
	fiExists = 0x40
)

// access returns the read/write/execute bits the host's OS account has on
// an object described by fi (from its mode, owner and group).
func access(fi fs.FileInfo) (r, w, x bool) {
	m := fi.Mode().Perm()
	shift := 0
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		switch {
		case int(st.Uid) == os.Geteuid():
			shift = 6
		case int(st.Gid) == os.Getegid():
			shift = 3
		}
		if os.Geteuid() == 0 {
			return true, true, m&0o111 != 0 || fi.IsDir()
		}
	}
	bits := (m >> shift) & 7
	return bits&4 != 0, bits&2 != 0, bits&1 != 0
}

// linkTarget returns the absolute host path a link inside the jail points
// at, or "" when it is unreadable.
func linkTarget(j *jail, rel string) string {
	t, err := j.root.Readlink(rel)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(j.abs(filepath.Dir(rel)), t)
	}
	return t
}

// fileInfo encodes a FILE_INFO payload. lfi describes the object itself,
// fi its link target (nil: missing or outside the root).
func fileInfo(j *jail, rel string, lfi, fi fs.FileInfo) []byte {
	var flags byte
	target := ""
	d := fi
	if lfi.Mode()&fs.ModeSymlink != 0 {
		flags |= fiLink
		target = linkTarget(j, rel)
	} else {
		d = lfi
	}
	var size, mtime uint64
	if d != nil {
		flags |= fiExists
		switch {
		case d.Mode().IsRegular():
			flags |= fiFile
		case d.IsDir():
			flags |= fiDir
		}
		r, w, x := access(d)
		if r {
			flags |= fiRead
		}
		if w {
			flags |= fiWrite
		}
		if x {
			flags |= fiExec
		}
		size = uint64(d.Size())
		mtime = uint64(max(d.ModTime().UnixMilli(), 0))
	}
	name := lfi.Name()
	if rel == "." {
		name = filepath.Base(j.base)
	}
	b := make([]byte, 0, 25+2*len(name)+2*len(target)+4)
	b = append(b, flags)
	b = binary.LittleEndian.AppendUint64(b, 0) // creation time: not available
	b = binary.LittleEndian.AppendUint64(b, mtime)
	b = binary.LittleEndian.AppendUint64(b, size)
	b = wire.AppendText(b, name)
	b = append(b, 0, 0)
	b = wire.AppendText(b, target)
	b = append(b, 0, 0)
	return b
}

// timeLayout is commands.md's MM/dd/yyyy hh:mm:ss AP plus the zone.
const timeLayout = "01/02/2006 03:04:05 PM MST"

func runFsInfo(ctx context.Context, c *module.Call) error {
	p := c.Param("-path")
	if p == "" {
		return module.Fail("-path missing")
	}
	return withJail(ctx, c, func(j *jail) error {
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		lfi, err := j.root.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			return module.Fail("object not found")
		}
		if err != nil {
			return fsFail(p, err)
		}
		fi := lfi
		if lfi.Mode()&fs.ModeSymlink != 0 {
			fi, _ = j.root.Stat(rel)
		}
		if c.Flag("-info_frame") {
			c.Send(wire.TypeFileInfo, fileInfo(j, rel, lfi, fi))
			return nil
		}
		d := fi
		if d == nil {
			d = lfi
		}
		r, w, x := access(d)
		dev, atime := "unknown", "unknown"
		if st, ok := d.Sys().(*syscall.Stat_t); ok {
			dev = fmt.Sprintf("%d:%d", (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff)
			atime = time.Unix(st.Atim.Unix()).Local().Format(timeLayout)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "is_file:       %t\nis_dir:        %t\nis_symlnk:     %t\n\n",
			d.Mode().IsRegular(), d.IsDir(), lfi.Mode()&fs.ModeSymlink != 0)
		fmt.Fprintf(&b, "can_read:      %t\ncan_write:     %t\ncan_execute:   %t\n\n", r, w, x)
		fmt.Fprintf(&b, "bytes:         %d\n\n", d.Size())
		fmt.Fprintf(&b, "device:        %s\n\n", dev)
		fmt.Fprintf(&b, "time_created:  unavailable\nlast_modified: %s\nlast_accessed: %s\n",
			d.ModTime().Local().Format(timeLayout), atime)
		c.Text(b.String())
		return nil
	})
}

func runFsMkpath(ctx context.Context, c *module.Call) error {
	p := c.Param("-path")
	if p == "" {
		return module.Fail("-path missing")
	}
	return withJail(ctx, c, func(j *jail) error {
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		if err := j.root.MkdirAll(rel, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTDIR) {
				return module.Fail("'%s' cannot be created: a part of it exists and is not a directory", p)
			}
			return fsFail(p, err)
		}
		return nil
	})
}

func runFsDelete(ctx context.Context, c *module.Call) error {
	p := c.Param("-path")
	if p == "" {
		return module.Fail("-path missing")
	}
	return withJail(ctx, c, func(j *jail) error {
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		if rel == "." {
			return module.Fail("the files root itself cannot be deleted")
		}
		if _, err := j.root.Lstat(rel); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return module.Fail("object not found")
			}
			return fsFail(p, err)
		}
		if !c.Flag("-force") {
			ok, err := c.Confirm(ctx, "delete the object? (y/n): ")
			if err != nil || !ok {
				return err
			}
		}
		if err := j.root.RemoveAll(rel); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return module.Fail("permission denied")
			}
			return fsFail(p, err)
		}
		return nil
	})
}
