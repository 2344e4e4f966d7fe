package cmds

import (
	"context"
	"fmt"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
)

// emailConfigOptions are host_config's entries for the mail settings
// (store.EmailSettings, their own table): one option per key, numbered
// after the administration options. The SMTP password is stored but never
// shown: its line says only whether one is set.
func emailConfigOptions() []configOption {
	labels := map[string]struct{ label, explain string }{
		store.KeyMailTransport: {"Mail Transport",
			"smtp delivers over SMTP with the settings below; program runs the mailer executable with the address " +
				"and subject as arguments and the body on stdin (never through a shell)."},
		store.KeySMTPHost:        {"SMTP Host", "The SMTP server's host name or address (empty: mail is not sent)."},
		store.KeySMTPPort:        {"SMTP Port", "The SMTP server's port; 0 means 465 for TLS mode tls, else 587."},
		store.KeySMTPTLS:         {"SMTP TLS", "tls (implicit), starttls (required), opportunistic, or none (loopback servers only)."},
		store.KeySMTPUser:        {"SMTP User", "The user name to authenticate with (empty: no authentication)."},
		store.KeySMTPPassword:    {"SMTP Password", "The password to authenticate with; it is stored and never shown."},
		store.KeySMTPFrom:        {"SMTP From", "The sender address of the host's mail, e.g. MRCI <mrci@example.com>."},
		store.KeySMTPConnTimeout: {"SMTP Connect Timeout", "Time limit for connecting, greeting, TLS and authentication (e.g. 10s)."},
		store.KeySMTPSendTimeout: {"SMTP Send Timeout", "Time limit for one whole delivery attempt (e.g. 30s)."},
		store.KeyCodeExpiry:      {"Email Code Expiry", "How long an e-mail verification code is valid (e.g. 15m)."},
		store.KeyResetPerAccount: {"Password Resets Per Account", "request_pw_reset calls allowed per account in the reset window."},
		store.KeyResetPerIP:      {"Password Resets Per Address", "request_pw_reset calls allowed per client address in the reset window."},
		store.KeyResetWindow:     {"Password Reset Window", "The window of the two limits above (e.g. 1h)."},
		store.KeyLogoutOnRecovery: {"Logout On Recovery",
			"true logs out the sessions of an account whose password recover_acct replaced, false only tells them."},
	}
	opts := make([]configOption, 0, len(store.EmailSettingKeys))
	for i, key := range store.EmailSettingKeys {
		l := labels[key]
		if l.label == "" {
			l.label = key
		}
		opts = append(opts, emailSetting(15+i, key, l.label, l.explain))
	}
	return opts
}

func emailSetting(num int, key, label, explain string) configOption {
	return configOption{
		Num: num, Label: label, Menu: fmt.Sprintf("set %s (%s).", label, key), Explain: explain,
		Show: func(ctx context.Context, c *module.Call) (string, error) {
			es, err := c.Store().EmailSettings(ctx)
			if err != nil {
				return "", err
			}
			if key == store.KeySMTPPassword {
				if es.SMTPPassword == "" {
					return "(not set)", nil
				}
				return "(set)", nil
			}
			return es.Values()[key], nil
		},
		Set: func(ctx context.Context, c *module.Call, v string) error {
			es, err := c.Store().EmailSettings(ctx)
			if err != nil {
				return err
			}
			if err := es.Set(key, v); err != nil {
				return module.Fail("%v", err)
			}
			if err := es.Validate(); err != nil {
				return module.Fail("%v", err)
			}
			if err := c.Store().SaveEmailSettings(ctx, es); err != nil {
				return err
			}
			shown := v
			if key == store.KeySMTPPassword {
				shown = "(hidden)"
			}
			return audit(ctx, c, "setting %s changed to %s", key, shown)
		},
	}
}
