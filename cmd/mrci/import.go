package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/importer"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
)

// importOriginalCmd is `mrci import-original`: it brings the original
// host's database into this host's data directory (docs/import.md).
func importOriginalCmd(opts *options) *cobra.Command {
	var o importer.Options
	var asJSON bool
	c := &cobra.Command{
		Use:   "import-original --from PATH",
		Short: "import the original host's database (accounts, channels, ranks, bans, certificates, settings)",
		Long: "import-original reads the original MRCI host's database (its data.db, opened read-only) and\n" +
			"imports it into this host's data directory in one transaction, then prints a report.\n" +
			"Stop both hosts first. See docs/import.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openImportTarget(ctx, opts, o.DryRun)
			if err != nil {
				return err
			}
			defer st.Close()
			if same, err := sameFile(o.Source, opts.dbPath()); err == nil && same && !opts.usesPostgres() {
				return errors.New("--from names this host's own database")
			}
			rep, err := importer.Run(ctx, st, o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteText(w)
		},
	}
	c.Flags().StringVar(&o.Source, "from", "", "path of the original host's database (data.db); opened read-only")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the report of what would be imported and write nothing")
	c.Flags().BoolVar(&o.Merge, "merge", false, "import into a data directory that already has accounts (conflicts are reported and skipped)")
	c.Flags().BoolVar(&o.WithLogs, "with-logs", false, "also import the auth, activity and debug logs")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = c.MarkFlagRequired("from")
	return c
}

// openImportTarget opens the data directory's store. A dry run against a
// data directory without a database plans against an empty in-memory
// store, so it creates nothing.
func openImportTarget(ctx context.Context, opts *options, dryRun bool) (store.Store, error) {
	if dryRun && !opts.usesPostgres() {
		if _, err := os.Stat(opts.dbPath()); errors.Is(err, os.ErrNotExist) {
			st, err := sqlite.Open(ctx, ":memory:")
			if err != nil {
				return nil, fmt.Errorf("open in-memory store: %w", err)
			}
			return st, nil
		}
	}
	return opts.openStore(ctx)
}

// sameFile reports whether two paths name the same existing file.
func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}
