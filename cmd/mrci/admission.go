package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// admissionCmd shows and changes the connection admission settings
// (store.AdmissionSettings, docs/admission.md). Changes take effect at the
// next start or host restart.
func admissionCmd(opts *options) *cobra.Command {
	var (
		maxPending, perAddr, burst uint32
		rate                       float64
		loopback                   bool
	)
	c := &cobra.Command{
		Use:   "admission",
		Short: "show or change the limits on connections in set-up and the per-address connection rate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := opts.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := st.AdmissionSettings(cmd.Context())
			if err != nil {
				return err
			}
			f := cmd.Flags()
			changed := false
			set := func(name string, apply func()) {
				if f.Changed(name) {
					apply()
					changed = true
				}
			}
			set("max-pending", func() { a.MaxPending = maxPending })
			set("max-pending-per-addr", func() { a.MaxPendingPerAddr = perAddr })
			set("conn-rate", func() { a.ConnRatePerAddr = rate })
			set("conn-burst", func() { a.ConnBurstPerAddr = burst })
			set("limit-loopback", func() { a.LimitLoopback = loopback })
			if changed {
				if err := a.Validate(); err != nil {
					return exitError{128, err}
				}
				if err := st.SaveAdmissionSettings(cmd.Context(), a); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "max-pending:          %d\n", a.MaxPending)
			fmt.Fprintf(w, "max-pending-per-addr: %d\n", a.MaxPendingPerAddr)
			fmt.Fprintf(w, "conn-rate:            %g per second per address (0: off)\n", a.ConnRatePerAddr)
			fmt.Fprintf(w, "conn-burst:           %d\n", a.ConnBurstPerAddr)
			fmt.Fprintf(w, "limit-loopback:       %v\n", a.LimitLoopback)
			if changed {
				fmt.Fprintln(w, "saved; takes effect at the next start or host restart")
			}
			return nil
		},
	}
	f := c.Flags()
	f.Uint32Var(&maxPending, "max-pending", 0, "connections in set-up (before the client header and TLS are done), all addresses")
	f.Uint32Var(&perAddr, "max-pending-per-addr", 0, "connections in set-up from one address (IPv6: one /64)")
	f.Float64Var(&rate, "conn-rate", 0, "new connections per second one address may open (0: no rate limit)")
	f.Uint32Var(&burst, "conn-burst", 0, "new connections one address may open at once")
	f.BoolVar(&loopback, "limit-loopback", false, "apply the per-address limits to loopback addresses too")
	return c
}
