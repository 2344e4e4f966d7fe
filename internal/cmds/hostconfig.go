package cmds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// configOption is one entry of host_config: a line of the settings screen
// and, when Num is not 0, an option of the menu. Each option reads and
// stores its own setting, so features with settings of their own (their
// own table) add an entry with one append to configOptions.
type configOption struct {
	Num     int    // menu number; 0: shown on the settings screen only
	Label   string // settings-screen label
	Menu    string // menu text
	Explain string // printed before the value prompt
	// Show returns the current value as displayed.
	Show func(ctx context.Context, c *module.Call) (string, error)
	// Set validates a typed value and stores it; invalid values return a
	// module.Fail error whose text is shown before the value is asked again.
	Set func(ctx context.Context, c *module.Call, value string) error
}

// configOptions is the host_config table: settings-screen order (that of
// commands.md §13), menu numbers as the spec's, extensions after them.
func configOptions() []configOption {
	opts := []configOption{
		boolSetting(10, "Global Active Update", "set the global active update flag.",
			"1 lets sub-channels with active updates send peer presence updates, 0 turns them off host-wide.",
			func(s *store.Settings) *bool { return &s.ActiveUpdates }),
		boolSetting(4, "Public Registration", "set public registrations.",
			"1 lets anyone create an account (add_acct is loaded for sessions not logged in), 0 does not.",
			func(s *store.Settings) *bool { return &s.AllowPublicRegistrations }),
		boolSetting(8, "Password Resets", "set password resets by e-mail.",
			"1 lets users reset a forgotten password through a code sent to their e-mail address, 0 does not.",
			func(s *store.Settings) *bool { return &s.EnablePwReset }),
		boolSetting(9, "Email Verification", "set e-mail verification.",
			"1 lets users verify their e-mail address with a code sent to it, 0 does not.",
			func(s *store.Settings) *bool { return &s.EnableEmailVerify }),
		u32Setting(3, "Max Sessions", "set the maximum number of sessions.",
			"The number of sessions the host serves at once; connections beyond it are refused. Applies at once.",
			func(s *store.Settings) *uint32 { return &s.MaxSessions },
			func(c *module.Call, n uint32) {
				var d [4]byte
				binary.LittleEndian.PutUint32(d[:], n)
				c.Emit(wire.TypePrivIPC, wire.AsyncMaxSes, d[:])
			}),
		u32Setting(1, "Auto Ban Threshold", "set the auto-ban threshold.",
			"The number of failed log-ins to root after which the address they came from is banned.",
			func(s *store.Settings) *uint32 { return &s.AutoBanThreshold }, nil),
		u32Setting(2, "Auto Lock Threshold", "set the auto-lock threshold.",
			"The number of failed log-ins after which an account is locked.",
			func(s *store.Settings) *uint32 { return &s.AutoLockThreshold }, nil),
		{
			Num: 11, Label: "Max Sub-Channels", Menu: "set the maximum number of sub-channels per channel.",
			Explain: "The number of sub-channels a channel may have (1-256).",
			Show:    showSetting(func(s store.Settings) string { return u32Text(s.MaxSubChannels) }),
			Set: setSetting("max_sub_channels", func(_ *module.Call, s *store.Settings, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil {
					return module.Fail("not a valid integer")
				}
				if n < 1 || n > store.MaxSubChannelIDs {
					return module.Fail("must be 1–256")
				}
				s.MaxSubChannels = uint32(n)
				return nil
			}),
		},
		u32Setting(5, "Initial Host Rank", "set the initial host rank.",
			"The host rank new accounts get.",
			func(s *store.Settings) *uint32 { return &s.InitialHostRank }, nil),
		{
			Label: "Database Path",
			Show: func(_ context.Context, c *module.Call) (string, error) {
				if h, ok := c.Host().(adminHost); ok && h.DatabasePath() != "" {
					return h.DatabasePath(), nil
				}
				return "(not a file)", nil
			},
		},
		{
			Num: 6, Label: "Mailer Executable", Menu: "set the mailer executable.",
			Explain: "The program the legacy mail command runs (environment variables are expanded; it must exist). " +
				"Mail is sent through the SMTP settings when they are configured.",
			Show: showSetting(func(s store.Settings) string { return s.MailerExecutable }),
			Set: setSetting("mailer_executable", func(_ *module.Call, s *store.Settings, v string) error {
				if _, err := os.Stat(os.ExpandEnv(v)); err != nil {
					return module.Fail("file '%s' does not exist", v)
				}
				s.MailerExecutable = v
				return nil
			}),
		},
		{
			Num: 7, Label: "Mailer Command", Menu: "set the mailer command line.",
			Explain: "The arguments given to the mailer executable; they must contain %subject%, %target_email% " +
				"and %message_body%.",
			Show: showSetting(func(s store.Settings) string { return s.MailerSendCommand }),
			Set: setSetting("mailer_send_command", func(_ *module.Call, s *store.Settings, v string) error {
				low := strings.ToLower(v)
				for _, k := range []string{"%subject%", "%target_email%", "%message_body%"} {
					if !strings.Contains(low, k) {
						return module.Fail("keyword %s missing", k)
					}
				}
				s.MailerSendCommand = v
				return nil
			}),
		},
		adminBool(12, "Certs For Own Addresses", "set certificate generation for the host's own addresses.",
			"1 makes the host generate and store a self-signed certificate when a client asks for one of the host's "+
				"own (non-loopback) addresses as common name and none is installed, 0 serves the default certificate.",
			func(a *store.AdminSettings) *bool { return &a.CertAutoGenerate }),
		{
			Num: 13, Label: "Log Retention Days", Menu: "set how many days log rows are kept.",
			Explain: "Rows of the activity, authentication and debug logs older than this many days are deleted " +
				"(checked hourly); 0 keeps them forever.",
			Show: showAdmin(func(a store.AdminSettings) string { return u32Text(a.LogRetentionDays) }),
			Set: setAdmin("log_retention_days", func(a *store.AdminSettings, v string) error {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return module.Fail("invalid 32-bit unsigned integer")
				}
				a.LogRetentionDays = uint32(n)
				return nil
			}),
		},
		adminBool(14, "Bans End Sessions", "set whether a ban ends the sessions already connected.",
			"1 makes add_ban end the sessions already connected from the banned addresses (with a notice), 0 "+
				"leaves them connected.",
			func(a *store.AdminSettings) *bool { return &a.BanEndsSessions }),
	}
	return append(opts, emailConfigOptions()...)
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func parseBool01(v string) (bool, error) {
	switch v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, module.Fail("must be 0 or 1")
}

func parseU32NonZero(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, module.Fail("invalid 32-bit unsigned integer")
	}
	if n == 0 {
		return 0, module.Fail("value cannot be 0")
	}
	return uint32(n), nil
}

func showSetting(f func(store.Settings) string) func(context.Context, *module.Call) (string, error) {
	return func(ctx context.Context, c *module.Call) (string, error) {
		s, err := c.Store().Settings(ctx)
		return f(s), err
	}
}

// setSetting stores one host_settings column after parse has validated and
// applied the typed value.
func setSetting(name string, parse func(c *module.Call, s *store.Settings, v string) error) func(context.Context, *module.Call, string) error {
	return func(ctx context.Context, c *module.Call, v string) error {
		s, err := c.Store().Settings(ctx)
		if err != nil {
			return err
		}
		if err := parse(c, &s, v); err != nil {
			return err
		}
		if err := c.Store().SaveSettings(ctx, s); err != nil {
			return err
		}
		return audit(ctx, c, "setting %s changed to %s", name, v)
	}
}

func boolSetting(num int, label, menu, explain string, field func(*store.Settings) *bool) configOption {
	return configOption{Num: num, Label: label, Menu: menu, Explain: explain,
		Show: showSetting(func(s store.Settings) string { return boolText(*field(&s)) }),
		Set: setSetting(settingName(num), func(_ *module.Call, s *store.Settings, v string) error {
			b, err := parseBool01(v)
			*field(s) = b
			return err
		}),
	}
}

func u32Setting(num int, label, menu, explain string, field func(*store.Settings) *uint32, after func(*module.Call, uint32)) configOption {
	name := settingName(num)
	set := setSetting(name, func(_ *module.Call, s *store.Settings, v string) error {
		n, err := parseU32NonZero(v)
		*field(s) = n
		return err
	})
	return configOption{Num: num, Label: label, Menu: menu, Explain: explain,
		Show: showSetting(func(s store.Settings) string { return u32Text(*field(&s)) }),
		Set: func(ctx context.Context, c *module.Call, v string) error {
			if err := set(ctx, c, v); err != nil {
				return err
			}
			if after != nil {
				n, _ := strconv.ParseUint(v, 10, 32)
				after(c, uint32(n))
			}
			return nil
		},
	}
}

// settingName is the column an option number of the spec's menu sets.
func settingName(num int) string {
	return map[int]string{1: "auto_ban_threshold", 2: "auto_lock_threshold", 3: "max_sessions",
		4: "allow_public_registrations", 5: "initial_host_rank", 8: "enable_pw_reset",
		9: "eable_email_verify", 10: "active_updates"}[num]
}

func showAdmin(f func(store.AdminSettings) string) func(context.Context, *module.Call) (string, error) {
	return func(ctx context.Context, c *module.Call) (string, error) {
		a, err := c.Store().AdminSettings(ctx)
		return f(a), err
	}
}

func setAdmin(name string, parse func(a *store.AdminSettings, v string) error) func(context.Context, *module.Call, string) error {
	return func(ctx context.Context, c *module.Call, v string) error {
		a, err := c.Store().AdminSettings(ctx)
		if err != nil {
			return err
		}
		if err := parse(&a, v); err != nil {
			return err
		}
		if err := c.Store().SaveAdminSettings(ctx, a); err != nil {
			return err
		}
		return audit(ctx, c, "setting %s changed to %s", name, v)
	}
}

func adminBool(num int, label, menu, explain string, field func(*store.AdminSettings) *bool) configOption {
	name := map[int]string{12: "cert_auto_generate", 14: "ban_ends_sessions"}[num]
	return configOption{Num: num, Label: label, Menu: menu, Explain: explain,
		Show: showAdmin(func(a store.AdminSettings) string { return boolText(*field(&a)) }),
		Set: setAdmin(name, func(a *store.AdminSettings, v string) error {
			b, err := parseBool01(v)
			*field(a) = b
			return err
		}),
	}
}

func hostConfigCommands() []*module.Command {
	return []*module.Command{{
		Def: def("host_config", "view or change the host settings.", "[none]/[text]",
			"Shows the host settings and a menu: type an option number, then the new value (an empty value goes "+
				"back to the menu, 0 ends the command). Changes apply to the running host at once; the listen "+
				"address is changed with `mrci set-addr` and applies at the next start or restart_host."),
		In: userOnly, MaxArgs: 0, Run: runHostConfig,
	}}
}

// configScreen renders the settings and the menu.
func configScreen(ctx context.Context, c *module.Call, opts []configOption) (string, error) {
	var b strings.Builder
	b.WriteString("\nHost settings:\n\n")
	for _, o := range opts {
		v, err := o.Show(ctx, c)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  %-26s%s\n", o.Label+":", v)
	}
	b.WriteString("\nOptions:\n\n")
	menu := slices.DeleteFunc(slices.Clone(opts), func(o configOption) bool { return o.Num == 0 })
	slices.SortStableFunc(menu, func(x, y configOption) int { return x.Num - y.Num })
	for _, o := range menu {
		fmt.Fprintf(&b, "  %2d: %s\n", o.Num, o.Menu)
	}
	b.WriteString("   0: exit\n\n")
	return b.String(), nil
}

func runHostConfig(ctx context.Context, c *module.Call) error {
	opts := configOptions()
	for {
		screen, err := configScreen(ctx, c, opts)
		if err != nil {
			return err
		}
		c.Text(screen)
		var chosen *configOption
		for chosen == nil {
			a, err := c.Prompt(ctx, "select an option: ")
			if err != nil {
				return err
			}
			a = strings.TrimSpace(a)
			if a == "0" {
				return nil
			}
			if n, err := strconv.Atoi(a); err == nil && n > 0 {
				for i := range opts {
					if opts[i].Num == n {
						chosen = &opts[i]
					}
				}
			}
		}
		c.Text("\n" + chosen.Explain + "\n")
		for {
			v, err := c.Prompt(ctx, "value (leave blank to go back): ")
			if err != nil {
				return err
			}
			if v = strings.TrimSpace(v); v == "" {
				break
			}
			err = chosen.Set(ctx, c, v)
			var ue *module.UserError
			if errors.As(err, &ue) {
				c.Err(ue.Msg)
				continue
			}
			if err != nil {
				return err
			}
			break
		}
	}
}
