// Package importer brings the database of the original MRCI host (release
// 1.1.x, host.md §12) into an mrci store: accounts with their ids and
// password hashes, channels, sub-channels, memberships and invitations,
// command ranks, bans, certificates, modules, settings and, on request, the
// logs.
//
// The source file is opened read-only. Run first plans the whole import
// against the target store (what is new, what is already there, what
// breaks mrci's rules), then writes everything with one call of
// store.Store.ImportOriginal, which is one transaction: if any row fails,
// nothing is written. Rows already present are left alone, so importing the
// same database again changes nothing.
package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// ErrRefused is wrapped by Run's error when the target already holds
// accounts that do not come from the source and Options.Merge is not set.
var ErrRefused = errors.New("refusing to import")

// Options select what Run does.
type Options struct {
	// Source is the path of the original's database (its data.db).
	Source string
	// DryRun plans and reports but writes nothing.
	DryRun bool
	// Merge allows importing into a store that already has accounts of
	// its own; conflicting names and e-mail addresses are reported and
	// those accounts skipped, never overwritten.
	Merge bool
	// WithLogs also imports the auth, activity and debug logs.
	WithLogs bool
	// FileExists reports whether a module file exists on this machine
	// (default: os.Stat succeeds).
	FileExists func(path string) bool
}

// Run imports the database at o.Source into st and returns the report.
// Without DryRun the import is written in one transaction.
func Run(ctx context.Context, st store.Store, o Options) (*Report, error) {
	src, err := openSource(ctx, o.Source, o.WithLogs)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	p := &planner{src: src, st: st, o: o, rep: &Report{Source: o.Source, DryRun: o.DryRun, Merge: o.Merge, WithLogs: o.WithLogs}}
	if p.o.FileExists == nil {
		p.o.FileExists = fileExists
	}
	if err := p.plan(ctx); err != nil {
		return nil, err
	}
	p.rep.Changed = !p.b.Empty()
	if o.DryRun || !p.rep.Changed {
		return p.rep, nil
	}
	if err := st.ImportOriginal(ctx, p.b); err != nil {
		return nil, fmt.Errorf("import (nothing was written): %w", err)
	}
	p.rep.Written = true
	return p.rep, nil
}

// foldKey maps s to a canonical case-folded form: two names differing only
// in case (Unicode simple folding, as strings.EqualFold) get the same key.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		return m
	}, s)
}

// userLabel names a source user in the report.
func userLabel(name string, id []byte) string {
	if name == "" {
		return fmt.Sprintf("(user id %x)", id)
	}
	return fmt.Sprintf("%q", name)
}

// toUserID converts a source id, reporting whether it has the right size.
func toUserID(b []byte) (wire.UserID, bool) {
	var id wire.UserID
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}
