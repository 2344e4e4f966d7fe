package cmds

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"

	"github.com/mrci/mrci/internal/module"
)

// hashStep is how much fs_hash reads between checks for TERM_CMD.
const hashStep = 4 << 20

// hashes are the algorithms fs_hash offers.
var hashes = map[string]func() hash.Hash{"sha256": sha256.New, "sha512": sha512.New, "sha1": sha1.New}

// runFsHash prints "<algo> <hex digest>" of a file: an extension of this
// host (docs/files.md) that lets clients verify a transfer end to end.
func runFsHash(ctx context.Context, c *module.Call) error {
	p := c.Param("-path")
	if p == "" {
		return module.Fail("-path missing")
	}
	algo := strings.ToLower(c.Param("-algo"))
	if algo == "" {
		algo = "sha256"
	}
	newHash, ok := hashes[algo]
	if !ok {
		return module.Fail("unknown -algo '%s' (sha256, sha512 or sha1)", algo)
	}
	return withJail(ctx, c, func(j *jail) error {
		rel, err := j.resolve(p)
		if err != nil {
			return err
		}
		f, err := j.root.Open(rel)
		if errors.Is(err, fs.ErrNotExist) {
			return module.Fail("file not found")
		} else if err != nil {
			return fsFail(p, err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil {
			return fsFail(p, err)
		} else if !fi.Mode().IsRegular() {
			return module.Fail("not a file")
		}
		h := newHash()
		for {
			if ctx.Err() != nil {
				return module.ErrTerminated
			}
			n, err := io.CopyN(h, f, hashStep)
			if err == io.EOF || (err == nil && n < hashStep) {
				break
			}
			if err != nil {
				return fsFail(p, err)
			}
		}
		c.Text(fmt.Sprintf("%s %s\n", algo, hex.EncodeToString(h.Sum(nil))))
		return nil
	})
}
