package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/store"
)

// smtpFlags are the mail-delivery flags of `mrci serve`. A flag that is
// given is stored in the e-mail settings (store.EmailSettings) before the
// host starts; flags not given leave the stored value alone, so settings
// changed at run time survive a restart without the flag.
type smtpFlags struct {
	addr, tls, user, passwordFile, from string
}

// addSMTPFlags registers the flags on the serve command; the returned apply
// stores the given ones and is called once the config file and environment
// have been applied.
func addSMTPFlags(c *cobra.Command, opts *options) (apply func(cmd *cobra.Command) error) {
	f := &smtpFlags{}
	fl := c.Flags()
	fl.StringVar(&f.addr, "smtp-addr", "", "SMTP server host:port for verification and password-reset mail")
	fl.StringVar(&f.tls, "smtp-tls", "", "SMTP TLS mode: tls (implicit), starttls (required), opportunistic, or none (loopback servers only)")
	fl.StringVar(&f.user, "smtp-user", "", "SMTP user name (empty: no authentication)")
	fl.StringVar(&f.passwordFile, "smtp-password-file", "", "file holding the SMTP password (one line; keep it private)")
	fl.StringVar(&f.from, "smtp-from", "", "sender address of the host's mail, e.g. 'MRCI <mrci@example.com>'")
	return func(cmd *cobra.Command) error {
		changed := map[string]bool{}
		for _, n := range []string{"smtp-addr", "smtp-tls", "smtp-user", "smtp-password-file", "smtp-from"} {
			changed[n] = cmd.Flags().Changed(n)
		}
		return f.apply(cmd.Context(), opts, changed)
	}
}

// apply stores the given flags' values, validated as a whole.
func (f *smtpFlags) apply(ctx context.Context, opts *options, changed map[string]bool) error {
	given := false
	for _, c := range changed {
		given = given || c
	}
	if !given {
		return nil
	}
	st, err := opts.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	es, err := st.EmailSettings(ctx)
	if err != nil {
		return err
	}
	if err := f.update(&es, changed); err != nil {
		return err
	}
	return st.SaveEmailSettings(ctx, es)
}

// update changes es from the given flags and validates the result.
func (f *smtpFlags) update(es *store.EmailSettings, changed map[string]bool) error {
	if changed["smtp-addr"] {
		host, port, err := store.SplitSMTPAddr(f.addr)
		if err != nil {
			return fmt.Errorf("--smtp-addr: %w", err)
		}
		es.SMTPHost, es.SMTPPort = host, port
		es.Transport = store.TransportSMTP
	}
	set := func(flag, key, value string) error {
		if !changed[flag] {
			return nil
		}
		if err := es.Set(key, value); err != nil {
			return fmt.Errorf("--%s: %w", flag, err)
		}
		return nil
	}
	if err := set("smtp-tls", store.KeySMTPTLS, f.tls); err != nil {
		return err
	}
	if err := set("smtp-user", store.KeySMTPUser, f.user); err != nil {
		return err
	}
	if err := set("smtp-from", store.KeySMTPFrom, f.from); err != nil {
		return err
	}
	if changed["smtp-password-file"] {
		pw := ""
		if f.passwordFile != "" {
			b, err := os.ReadFile(f.passwordFile)
			if err != nil {
				return fmt.Errorf("--smtp-password-file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		if err := es.Set(store.KeySMTPPassword, pw); err != nil {
			return fmt.Errorf("--smtp-password-file: %w", err)
		}
	}
	if err := es.Validate(); err != nil {
		return fmt.Errorf("SMTP settings: %w", err)
	}
	return nil
}
