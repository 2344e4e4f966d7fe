package main

import (
	"fmt"
	"net/netip"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

func aboutCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "about",
		Short: "print versions and, while unchanged, root's generated password (legacy: -about)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "mrci %s, an MRCI host speaking wire version %s\n", version, wire.Version)
			fmt.Fprintf(w, "built with %s for %s/%s (%d bit)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, 32<<(^uint(0)>>63))
			fmt.Fprintln(w, "This program comes with ABSOLUTELY NO WARRANTY.")
			fmt.Fprintf(w, "data directory: %s\n", opts.dataDir)
			if !opts.databaseExists() {
				fmt.Fprintln(w, "database: not created yet (it is created at first `mrci serve`)")
				return nil
			}
			st, err := opts.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := st.Settings(cmd.Context())
			if err != nil {
				return err
			}
			if s.DefaultPassword != "" {
				fmt.Fprintf(w, "default password: %s\n", s.DefaultPassword)
			}
			return nil
		},
	}
}

func setAddrCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "set-addr IP:PORT",
		Short: "store the listen address used at the next start (legacy: -addr)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ap, err := netip.ParseAddrPort(args[0])
			if err != nil || ap.Port() == 0 {
				return exitError{128, fmt.Errorf("invalid address %q: want ip:port with a non-zero port", args[0])}
			}
			st, err := opts.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := st.Settings(cmd.Context())
			if err != nil {
				return err
			}
			s.ListenAddress, s.ListenPort = ap.Addr().String(), ap.Port()
			if err := st.SaveSettings(cmd.Context(), s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "listen address set to %s (takes effect at the next start)\n", ap)
			return nil
		},
	}
}

func resetRootCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "reset-root",
		Short: "give root a new random password that must be changed at next login (legacy: -reset_root)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := opts.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.UserByName(ctx, "root")
			if err != nil {
				return fmt.Errorf("find root: %w", err)
			}
			pw, err := password.Generate()
			if err != nil {
				return err
			}
			hash, err := password.Hash(pw, password.DefaultParams)
			if err != nil {
				return err
			}
			yes, no := true, false
			if err := st.UpdateUser(ctx, u.ID, store.UserUpdate{PasswordHash: &hash, NewPasswordReq: &yes, Locked: &no}); err != nil {
				return err
			}
			s, err := st.Settings(ctx)
			if err != nil {
				return err
			}
			s.DefaultPassword = pw
			if err := st.SaveSettings(ctx, s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "root's new password: %s (must be changed at next login)\n", pw)
			return nil
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "mrci %s (wire version %s)\n", version, wire.Version)
		},
	}
}
