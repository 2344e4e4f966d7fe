package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/store"
)

// accountLimitsCmd shows and changes the account hardening settings
// (docs/accounts.md). A running host reads them at every use, so changes
// apply at once.
func accountLimitsCmd(opts *options) *cobra.Command {
	var l store.AccountLimits
	c := &cobra.Command{
		Use:   "account-limits",
		Short: "show or change the login delays and the per-account creation limits",
		Long: "Without flags, prints the settings. Each flag given changes one setting; 0 disables a limit " +
			"(and --first-delay 0 disables the login delays). See docs/accounts.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := opts.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			cur, err := st.AccountLimits(cmd.Context())
			if err != nil {
				return err
			}
			f := cmd.Flags()
			changed := false
			u32 := func(name string, dst *uint32, v uint32) {
				if f.Changed(name) {
					*dst, changed = v, true
				}
			}
			dur := func(name string, dst *time.Duration, v time.Duration) {
				if f.Changed(name) {
					*dst, changed = v, true
				}
			}
			u32("free-failures", &cur.FreeFailures, l.FreeFailures)
			dur("first-delay", &cur.FirstDelay, l.FirstDelay)
			dur("max-delay", &cur.MaxDelay, l.MaxDelay)
			dur("forget-after", &cur.ForgetAfter, l.ForgetAfter)
			u32("max-channels", &cur.MaxChannelsPerUser, l.MaxChannelsPerUser)
			u32("max-invites", &cur.MaxPendingInvites, l.MaxPendingInvites)
			u32("max-renames", &cur.MaxRenames, l.MaxRenames)
			dur("rename-window", &cur.RenameWindow, l.RenameWindow)
			if changed {
				if err := st.SaveAccountLimits(cmd.Context(), cur); err != nil {
					return err
				}
			}
			printLimits(cmd.OutOrStdout(), cur)
			return nil
		},
	}
	f := c.Flags()
	f.Uint32Var(&l.FreeFailures, "free-failures", 0, "failed logins of an account or address before delays start")
	f.DurationVar(&l.FirstDelay, "first-delay", 0, "delay after the first failure beyond the free ones (doubles per failure)")
	f.DurationVar(&l.MaxDelay, "max-delay", 0, "longest delay")
	f.DurationVar(&l.ForgetAfter, "forget-after", 0, "quiet time after which an address's failures are forgotten")
	f.Uint32Var(&l.MaxChannelsPerUser, "max-channels", 0, "channels one account may own")
	f.Uint32Var(&l.MaxPendingInvites, "max-invites", 0, "pending invitations per channel")
	f.Uint32Var(&l.MaxRenames, "max-renames", 0, "renames (channels, sub-channels, own user name) per account and window")
	f.DurationVar(&l.RenameWindow, "rename-window", 0, "the renames' window")
	return c
}

func printLimits(w io.Writer, l store.AccountLimits) {
	fmt.Fprintf(w, "free-failures  %d\nfirst-delay    %v\nmax-delay      %v\nforget-after   %v\n",
		l.FreeFailures, l.FirstDelay, l.MaxDelay, l.ForgetAfter)
	fmt.Fprintf(w, "max-channels   %d\nmax-invites    %d\nmax-renames    %d\nrename-window  %v\n",
		l.MaxChannelsPerUser, l.MaxPendingInvites, l.MaxRenames, l.RenameWindow)
}
