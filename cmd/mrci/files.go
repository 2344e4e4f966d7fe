package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/store"
)

// filesCmd shows and changes the settings of the file-system commands
// (docs/files.md). Changes apply to the next fs_* call; the warning about
// an unconfined host is logged at the next start.
func filesCmd(opts *options) *cobra.Command {
	var root string
	var homes, unconfined bool
	var quota int64
	c := &cobra.Command{
		Use:   "files",
		Short: "show or change where the fs_* commands may work (files root, homes, quota, confinement)",
		Long: "Without flags prints the settings. --root sets the files root (\"\" for the default\n" +
			"<data dir>/files); --homes confines every user to <root>/<user name>; --quota limits\n" +
			"each home to that many bytes (0: no limit); --unconfined=true gives fs_* users the\n" +
			"host's whole file system, as the original host does (not recommended).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := opts.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			f, err := st.FilesSettings(cmd.Context())
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			if fl.Changed("root") {
				if root != "" {
					if root, err = filepath.Abs(root); err != nil {
						return err
					}
				}
				f.Root = root
			}
			if fl.Changed("homes") {
				f.Homes = homes
			}
			if fl.Changed("quota") {
				if quota < 0 {
					return fmt.Errorf("--quota %d: must be 0 or more bytes", quota)
				}
				f.Quota = quota
			}
			if fl.Changed("unconfined") {
				f.Unconfined = unconfined
			}
			if fl.NFlag() > 0 {
				if err := st.SaveFilesSettings(cmd.Context(), f); err != nil {
					return err
				}
			}
			printFiles(cmd, opts, f)
			return nil
		},
	}
	c.Flags().StringVar(&root, "root", "", "files root directory (empty: <data dir>/files)")
	c.Flags().BoolVar(&homes, "homes", false, "confine each user to <root>/<user name>, created on first use")
	c.Flags().Int64Var(&quota, "quota", 0, "bytes each home may hold (with --homes; 0: no limit)")
	c.Flags().BoolVar(&unconfined, "unconfined", false, "no confinement: fs_* commands reach the whole file system")
	return c
}

func printFiles(cmd *cobra.Command, opts *options, f store.FilesSettings) {
	w := cmd.OutOrStdout()
	root := f.Root
	if root == "" {
		root = filepath.Join(opts.dataDir, "files") + " (default)"
	}
	if f.Unconfined {
		fmt.Fprintln(w, "confinement: OFF (fs_* commands reach every file the host's account can)")
		return
	}
	fmt.Fprintf(w, "files root:  %s\nhomes:       %t\n", root, f.Homes)
	switch {
	case !f.Homes:
		fmt.Fprintln(w, "quota:       none (applies to homes only)")
	case f.Quota == 0:
		fmt.Fprintln(w, "quota:       none")
	default:
		fmt.Fprintf(w, "quota:       %d bytes per user\n", f.Quota)
	}
}
