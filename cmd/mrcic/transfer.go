package main

// File transfers: `mrcic upload LOCAL REMOTE`, `mrcic download REMOTE LOCAL`
// and the interactive #upload / #download, built on client.Upload and
// client.Download. Directories are transferred recursively; --resume
// continues from the size already present at the destination (with
// -offset); every finished file is verified with the host's fs_hash
// extension unless --no-verify is given.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// xferOpts are the options of one transfer command.
type xferOpts struct {
	resume   bool
	noVerify bool
	quiet    bool
}

// transfer moves files between this machine and a host session.
type transfer struct {
	c     *client.Client
	o     xferOpts
	out   io.Writer // messages
	bar   io.Writer // progress bars; nil: none
	files int
	bytes int64
}

// transferCommands returns the upload and download sub-commands. They use
// the root command's connection flags.
func transferCommands(f *flags, stdin io.Reader, stdout, stderr io.Writer, code *int) []*cobra.Command {
	mk := func(use, short string, up bool) *cobra.Command {
		var o xferOpts
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				e := &env{stdin: stdin, stdout: stdout, stderr: stderr, lines: bufio.NewReader(stdin)}
				*code = e.transferMain(cmd.Context(), f, o, up, args[0], args[1])
				return nil
			},
		}
		c.Flags().BoolVar(&o.resume, "resume", false, "continue from the size already present at the destination")
		c.Flags().BoolVar(&o.noVerify, "no-verify", false, "do not compare SHA-256 digests (fs_hash) after each file")
		c.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
		return c
	}
	return []*cobra.Command{
		mk("upload LOCAL REMOTE", "upload a file or directory (recursively) to the host", true),
		mk("download REMOTE LOCAL", "download a file or directory (recursively) from the host", false),
	}
}

// transferMain connects, logs in and runs one transfer; it returns the
// exit status (1 when a transfer failed, 2 for connection problems).
func (e *env) transferMain(ctx context.Context, f *flags, o xferOpts, up bool, src, dst string) int {
	opts, err := f.clientOptions()
	if err != nil {
		e.errorf("%v", err)
		return exitConnErr
	}
	dctx, cancel := context.WithTimeout(ctx, f.connectTimeout)
	c, err := client.Dial(dctx, f.addr, opts)
	cancel()
	if err != nil {
		e.errorf("connecting to %s: %v", f.addr, err)
		return exitConnErr
	}
	defer c.Close()
	if f.user != "" {
		if code := e.login(ctx, c, f, false); code != exitOK {
			return code
		}
	}
	t := &transfer{c: c, o: o, out: e.stderr}
	if !o.quiet && isTerminal(e.stderr) {
		t.bar = e.stderr
	}
	if err := t.run(ctx, up, src, dst); err != nil {
		e.errorf("%v", err)
		if c.Err() != nil {
			return exitConnErr
		}
		return exitCmdErr
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// run performs an upload or download of a file or directory tree.
func (t *transfer) run(ctx context.Context, up bool, src, dst string) error {
	start := time.Now()
	var err error
	if up {
		err = t.upload(ctx, src, dst)
	} else {
		err = t.download(ctx, src, dst)
	}
	if err == nil {
		el := time.Since(start)
		fmt.Fprintf(t.out, "%d file(s), %d bytes in %v (%.1f MB/s)\n", t.files, t.bytes,
			el.Round(time.Millisecond), float64(t.bytes)/max(el.Seconds(), 1e-9)/1e6)
	}
	return err
}

// progress returns a progress callback drawing a bar (or nothing).
func (t *transfer) progress(name string, start, total int64) (func(done, all int64), func()) {
	if t.bar == nil {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(t.bar),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(t.bar) }),
	)
	_ = bar.Set64(start)
	return func(done, _ int64) { _ = bar.Set64(start + done) }, func() { _ = bar.Finish() }
}

// hostText runs a host command and returns its text, failing on ERR.
func (t *transfer) hostText(ctx context.Context, name, args string) (string, error) {
	res, err := t.c.Run(ctx, name, args)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if err := res.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return res.Text(), nil
}

// remoteInfo returns whether a remote path exists, is a directory, and its
// size (from fs_info's text).
func (t *transfer) remoteInfo(ctx context.Context, p string) (exists, dir bool, size int64, err error) {
	res, err := t.c.Run(ctx, "fs_info", "-path "+client.QuoteArg(p))
	if err != nil {
		return false, false, 0, err
	}
	if errs := res.Errors(); len(errs) > 0 {
		if strings.Contains(strings.Join(errs, ""), "object not found") {
			return false, false, 0, nil
		}
		return false, false, 0, res.Err()
	}
	for _, l := range strings.Split(res.Text(), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "is_dir":
			dir = v == "true"
		case "bytes":
			size, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return true, dir, size, nil
}

// remoteHash returns the host's SHA-256 of a file.
func (t *transfer) remoteHash(ctx context.Context, p string) (string, error) {
	s, err := t.hostText(ctx, "fs_hash", "-path "+client.QuoteArg(p)+" -algo sha256")
	if err != nil {
		return "", err
	}
	algo, sum, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || algo != "sha256" {
		return "", fmt.Errorf("fs_hash: unexpected answer %q", s)
	}
	return sum, nil
}

func localHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verify compares the local and remote digests of a finished file.
func (t *transfer) verify(ctx context.Context, local, remote string) error {
	if t.o.noVerify {
		return nil
	}
	want, err := localHash(local)
	if err != nil {
		return err
	}
	got, err := t.remoteHash(ctx, remote)
	if err != nil {
		return fmt.Errorf("verify %s: %w", remote, err)
	}
	if got != want {
		return fmt.Errorf("verify %s: SHA-256 differs (local %s, host %s)", remote, want, got)
	}
	return nil
}

// upload sends a local file, or a directory tree, to remote.
func (t *transfer) upload(ctx context.Context, local, remote string) error {
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return t.uploadFile(ctx, local, remote, fi.Size())
	}
	return filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		r := path.Join(remote, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			_, err := t.hostText(ctx, "fs_mkpath", "-path "+client.QuoteArg(r))
			return err
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return t.uploadFile(ctx, p, r, info.Size())
		}
		fmt.Fprintf(t.out, "skipping %s (not a regular file)\n", p)
		return nil
	})
}

func (t *transfer) uploadFile(ctx context.Context, local, remote string, size int64) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := client.TransferOptions{Overwrite: true, Truncate: true}
	if t.o.resume {
		exists, dir, rsize, err := t.remoteInfo(ctx, remote)
		switch {
		case err != nil:
			return err
		case dir:
			return fmt.Errorf("%s is a directory on the host", remote)
		case exists && rsize > size:
			return fmt.Errorf("cannot resume %s: the host's file (%d bytes) is larger than %s (%d bytes)", remote, rsize, local, size)
		case exists:
			opts = client.TransferOptions{Overwrite: true, Offset: rsize}
			if _, err := f.Seek(rsize, io.SeekStart); err != nil {
				return err
			}
		}
	}
	prog, finish := t.progress(filepath.Base(local), opts.Offset, size)
	opts.Progress = prog
	n, err := t.c.Upload(ctx, remote, f, size-opts.Offset, opts)
	finish()
	t.bytes += n
	if err != nil {
		return fmt.Errorf("upload %s: %w (%d of %d bytes now on the host; --resume continues)", local, err, opts.Offset+n, size)
	}
	t.files++
	return t.verify(ctx, local, remote)
}

// download fetches a remote file, or a directory tree, to local.
func (t *transfer) download(ctx context.Context, remote, local string) error {
	exists, dir, _, err := t.remoteInfo(ctx, remote)
	switch {
	case err != nil:
		return err
	case !exists:
		return fmt.Errorf("%s: not found on the host", remote)
	case !dir:
		return t.downloadFile(ctx, remote, local)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return err
	}
	// fs_tree prints "<remote>/<relative path>", directories with a '/'.
	text, err := t.hostText(ctx, "fs_tree", "-path "+client.QuoteArg(remote))
	if err != nil {
		return err
	}
	base := path.Clean(remote)
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		isDir := strings.HasSuffix(l, "/")
		rel, ok := strings.CutPrefix(strings.TrimSuffix(l, "/"), base+"/")
		if !ok || rel == "" || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
			return fmt.Errorf("fs_tree: unexpected entry %q", l)
		}
		lp := filepath.Join(local, filepath.FromSlash(rel))
		if isDir {
			if err := os.MkdirAll(lp, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := t.downloadFile(ctx, path.Join(base, rel), lp); err != nil {
			return err
		}
	}
	return nil
}

func (t *transfer) downloadFile(ctx context.Context, remote, local string) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	var offset int64
	if t.o.resume {
		if fi, err := os.Stat(local); err == nil {
			offset = fi.Size()
			flags = os.O_WRONLY
		}
	}
	_, _, size, err := t.remoteInfo(ctx, remote)
	if err != nil {
		return err
	}
	if offset > size {
		return fmt.Errorf("cannot resume %s: the local file (%d bytes) is larger than the host's (%d bytes)", local, offset, size)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(local, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	var n int64
	if offset < size || size == 0 {
		prog, finish := t.progress(path.Base(remote), offset, size)
		// A window of 16 chunks keeps the link busy and bounds what waits
		// in memory when the local disk is slower than the link.
		n, err = t.c.Download(ctx, remote, f, client.TransferOptions{Offset: offset, Progress: prog, Window: 16})
		finish()
		t.bytes += n
		if err != nil {
			return fmt.Errorf("download %s: %w (%d of %d bytes now in %s; --resume continues)", remote, err, offset+n, size, local)
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	t.files++
	return t.verify(ctx, local, remote)
}

// localTransfer runs #upload / #download in the interactive shell:
// "#upload [--resume] [--no-verify] LOCAL REMOTE".
func (r *repl) localTransfer(word, line string) {
	args := wire.ParseArgs(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), strings.Fields(line)[0])), -1)
	var o xferOpts
	var paths []string
	for _, a := range args {
		switch a {
		case "--resume":
			o.resume = true
		case "--no-verify":
			o.noVerify = true
		case "--quiet", "-q":
			o.quiet = true
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) != 2 {
		fmt.Fprintf(consoleWriter{r}, "usage: %s [--resume] [--no-verify] [--quiet] %s\n", word,
			map[bool]string{true: "LOCAL REMOTE", false: "REMOTE LOCAL"}[word == "#upload"])
		return
	}
	t := &transfer{c: r.c, o: o, out: consoleWriter{r}}
	if !o.quiet && isTerminal(os.Stderr) {
		t.bar = os.Stderr
	}
	if err := t.run(context.Background(), word == "#upload", paths[0], paths[1]); err != nil {
		fmt.Fprintf(consoleWriter{r}, "%s: %v\n", word, err)
	}
}

// consoleWriter prints through the interactive console (above the prompt).
type consoleWriter struct{ r *repl }

func (w consoleWriter) Write(p []byte) (int, error) {
	w.r.con.print(string(p))
	return len(p), nil
}
