package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/store"
)

// defaultRanks is the serve flag --no-default-ranks and the first-start
// installation of the default command-rank policy (docs/ranks.md).
//
// serve uses it in three places: register adds the flag, firstStart must
// run before host.EnsureRoot (afterwards root exists and it is no longer a
// first start), and install runs after it.
type defaultRanks struct {
	skip  bool
	first bool
}

// register adds --no-default-ranks to the serve flags.
func (d *defaultRanks) register(fs *pflag.FlagSet) {
	fs.BoolVar(&d.skip, "no-default-ranks", false,
		"at first start, do not open the everyday commands (channels, casts, p2p) to accounts of the initial rank: every command but the exempt ones stays rank 1, as in the original")
}

// check records whether this is the store's first start.
func (d *defaultRanks) check(ctx context.Context, st store.Store) error {
	first, err := host.IsFirstStart(ctx, st)
	d.first = first
	return err
}

// install installs the policy if this is the first start and the flag is
// not set.
func (d *defaultRanks) install(ctx context.Context, st store.Store) error {
	if !d.first || d.skip {
		return nil
	}
	return host.InstallDefaultRanks(ctx, st)
}
