package cmds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

// transferChunk is the payload size of the data frames fs_download sends
// (docs/benchmarks.md has the measurements behind it). Clients may send
// upload frames of any size up to the 16,777,215-byte frame limit.
const transferChunk = module.PayloadBufSize - wire.FrameHeaderLen

// downloadWindow is the most bytes of a streaming download the host lets
// wait in the session's outbound queue: it keeps the socket busy while
// bounding memory (and stays under the 4 MiB soft limit at which casts to
// the session would be dropped).
const downloadWindow = 2 * transferChunk

// intArg reads an optional non-negative 64-bit integer argument. A
// present flag without a value (a negative number reads as one) or a
// value beyond 2^63-1 is refused with the given name in the message.
func intArg(c *module.Call, flag, name string) (int64, bool, error) {
	if !c.Has(flag) {
		return 0, false, nil
	}
	v := c.Param(flag)
	if v == "" {
		return 0, true, module.Fail("%s needs a non-negative integer value (%s)", name, flag)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, true, module.Fail("%s '%s' is not a valid integer", name, v)
	}
	if n > math.MaxInt64 {
		return 0, true, module.Fail("%s '%s' is beyond 2^63-1", name, v)
	}
	return int64(n), true, nil
}

// waitGenFile waits for the client's next GEN_FILE frame, ignoring others.
func waitGenFile(ctx context.Context, c *module.Call) ([]byte, error) {
	for {
		t, p, err := c.Receive(ctx)
		if err != nil {
			return nil, err
		}
		if t == wire.TypeGenFile {
			return p, nil
		}
	}
}

func runFsDownload(ctx context.Context, c *module.Call) error {
	p := c.Param("-remote_file")
	if p == "" {
		return module.Fail("-remote_file missing")
	}
	return withJail(ctx, c, func(j *jail) error {
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		if _, err := j.root.Stat(rel); errors.Is(err, fs.ErrNotExist) {
			return module.Fail("file not found")
		} else if err != nil {
			return fsFail(p, err)
		}
		offset, _, err := intArg(c, "-offset", "offset")
		if err != nil {
			return err
		}
		length, _, err := intArg(c, "-len", "len")
		if err != nil {
			return err
		}
		f, err := j.root.Open(rel)
		if err != nil {
			if escapes(err) {
				return fsFail(p, err)
			}
			return module.Fail("cannot open for reading: %v", errors.Unwrap(err))
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fsFail(p, err)
		}
		if !fi.Mode().IsRegular() {
			return module.Fail("not a file")
		}
		size := fi.Size()
		switch {
		case offset > size:
			return module.Fail("offset %d is beyond the end of the file (%d bytes)", offset, size)
		case length > size-offset:
			return module.Fail("len %d goes beyond the end of the file (%d bytes from offset %d)", length, size-offset, offset)
		case length == 0:
			length = size - offset
		}
		single := c.Flag("-single_step")
		c.Send(wire.TypeGenFile, wire.EncodeText(fmt.Sprintf("-from_host -len %d", length)))
		if _, err := waitGenFile(ctx, c); err != nil { // the client's ready signal
			return err
		}
		var sent int64
		for sent < length {
			if err := c.WaitResumed(ctx); err != nil {
				return err
			}
			if single && sent > 0 {
				if _, err := waitGenFile(ctx, c); err != nil {
					return err
				}
			}
			if err := c.WaitRoom(ctx, downloadWindow); err != nil {
				return err
			}
			// The chunk is read behind room for its frame header and handed
			// to the session without another copy.
			buf := module.PayloadBuf(wire.FrameHeaderLen + int(min(transferChunk, length-sent)))
			n, err := f.ReadAt(buf[wire.FrameHeaderLen:], offset+sent)
			if n > 0 {
				sent += int64(n)
				c.SendFramed(wire.TypeGenFile, buf[:wire.FrameHeaderLen+n])
				c.Text(fmt.Sprintf("%d/%d\n", sent, length))
			}
			if errors.Is(err, io.EOF) && sent < length {
				return module.Fail("'%s' ended after %d of %d bytes (it was changed during the transfer)", p, sent, length)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fsFail(p, err)
			}
		}
		return nil
	})
}

func runFsUpload(ctx context.Context, c *module.Call) error {
	p := c.Param("-remote_file")
	switch {
	case p == "":
		return module.Fail("-remote_file missing")
	case !c.Has("-len"):
		return module.Fail("-len missing")
	}
	offset, _, err := intArg(c, "-offset", "offset")
	if err != nil {
		return err
	}
	length, _, err := intArg(c, "-len", "len")
	if err != nil {
		return err
	}
	if length > math.MaxInt64-offset {
		return module.Fail("offset %d plus len %d is beyond 2^63-1", offset, length)
	}
	return withJail(ctx, c, func(j *jail) error {
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		truncate, force := c.Flag("-truncate"), c.Flag("-force")
		c.Send(wire.TypeGenFile, wire.EncodeText("-to_host"))
		old, err := j.root.Lstat(rel)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fsFail(p, err)
		}
		if exists && !old.Mode().IsRegular() {
			if old.Mode()&fs.ModeSymlink == 0 {
				return module.Fail("'%s' exists and is not a file", p)
			}
			if old, err = j.root.Stat(rel); err != nil {
				return fsFail(p, err)
			}
			if !old.Mode().IsRegular() {
				return module.Fail("'%s' exists and is not a file", p)
			}
		}
		if exists && !force {
			for {
				a, err := c.PromptAny(ctx, fmt.Sprintf("'%s' already exists, do you want to overwrite? (y/n): ", p))
				if err != nil {
					return err
				}
				a = strings.ToLower(strings.TrimSpace(a))
				if a == "n" {
					return nil
				}
				if a == "y" {
					break
				}
			}
		}
		var cur int64
		if exists && !truncate {
			cur = old.Size()
		}
		if offset > cur {
			return module.Fail("offset %d is beyond the end of '%s' (%d bytes)", offset, p, cur)
		}
		if j.quota > 0 {
			grow := max(cur, offset+length)
			if exists {
				grow -= old.Size()
			}
			release, err := j.reserve(c, grow)
			if err != nil {
				return err
			}
			defer release()
		}
		flags := os.O_RDWR | os.O_CREATE
		f, err := j.root.OpenFile(rel, flags, 0o644)
		if err != nil {
			if escapes(err) {
				return fsFail(p, err)
			}
			return module.Fail("cannot open for writing: %v", errors.Unwrap(err))
		}
		defer f.Close()
		if shared(f) {
			return module.Fail("'%s' has other hard links; refusing to write into it", p)
		}
		// Two transfers into one file: the second is refused while the
		// first runs (docs/files.md).
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			return module.Fail("'%s' is being written by another transfer; try again later", p)
		}
		if truncate {
			if err := f.Truncate(0); err != nil {
				return module.Fail("cannot open for writing: %v", err)
			}
		}
		c.Send(wire.TypeGenFile, nil) // ready
		single := c.Flag("-single_step")
		var got int64
		for got < length {
			t, data, err := c.Receive(ctx)
			if err != nil {
				return err
			}
			if t != wire.TypeGenFile {
				continue
			}
			cut := 0
			if int64(len(data)) > length-got {
				cut = len(data) - int(length-got)
				data = data[:length-got]
			}
			if _, err := f.WriteAt(data, offset+got); err != nil {
				return fsFail(p, err)
			}
			got += int64(len(data))
			module.RecyclePayload(data) // written; nothing else refers to it
			c.Text(fmt.Sprintf("%d/%d\n", got, length))
			if cut > 0 {
				c.Err(fmt.Sprintf("the client sent %d bytes beyond -len %d; they were discarded", cut, length))
			}
			if single && got < length {
				c.Send(wire.TypeGenFile, nil)
			}
		}
		if err := f.Close(); err != nil {
			return fsFail(p, err)
		}
		return nil
	})
}
