package cmds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mrci/mrci/internal/ipban"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Host administration (commands.md §13-14): bans, the log viewers and the
// close/restart confirmations. host_config is in hostconfig.go and the
// certificate commands in certs.go.

// adminHost is what the administration commands need of the host beyond
// module.HostView; hosts that lack it (unit-test fakes) show less.
type adminHost interface {
	// ListenAddr is the address actually listened on ("" when not listening).
	ListenAddr() string
	// MaxSessions is the session limit in force.
	MaxSessions() uint32
	// DatabasePath is the database location shown by host_config.
	DatabasePath() string
}

// administrationCommands returns every command of this file, certs.go and
// hostconfig.go.
func administrationCommands() []*module.Command {
	all := adminCommands()
	all = append(all, certCommands()...)
	return append(all, hostConfigCommands()...)
}

func adminCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_ban", "ban an ip address or range.", "[-ip (text)]/[text]",
				"Bans the address -ip (IPv4 or IPv6; a CIDR range such as 192.0.2.0/24 bans the whole range). "+
					"New connections from it are refused and, unless the host_config option says otherwise, the "+
					"sessions already connected from it are ended with a notice. Loopback addresses and the address "+
					"you are connected from cannot be banned."),
			In: userOnly, MaxArgs: 2, Run: runAddBan,
		},
		{
			Def: def("rm_ban", "lift the ban of an ip address or range.", "[-ip (text)]/[text]",
				"Lifts the ban of the address or CIDR range -ip (given in any form: ::ffff:192.0.2.1 is 192.0.2.1)."),
			In: userOnly, MaxArgs: 2, Run: runRmBan,
		},
		{
			Def: def("ls_bans", "list the banned addresses.", "[{search_terms} {-delete}]/[text]",
				"Lists the banned addresses and ranges 50 per page. Filter with -time_stamp or -ip_address "+
					"followed by text the column must contain. With -delete the matching bans are lifted after a "+
					"confirmation."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewBans, true),
		},
		{
			Def: def("ls_act_log", "list the activity log.", "[{search_terms} {-delete}]/[text]",
				"Lists the activity log 50 per page: sessions starting and ending and the administration actions "+
					"taken on this host (bans, settings, certificates, modules, close and restart) with who took "+
					"them. Filter with -time_stamp, -ip_address, -client_app, -session_id or -log_entry followed by "+
					"text the column must contain. With -delete the matching rows are deleted after a confirmation."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewActLog, true),
		},
		{
			Def: def("ls_auth_log", "list the authentication log.", "[{search_terms}]/[text]",
				"Lists the log of log-in attempts and failed recovery attempts 50 per page (rows of deleted "+
					"accounts are not shown). Filter with -time_stamp, -ip_address, -user_name, -auth_attempt, "+
					"-recover_attempt, -count_to_threshold or -accepted followed by text the column must contain."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewAuthLog, false),
		},
		{
			Def: def("close_host", "close the host.", "[none]/[text]",
				"Asks you to type CLOSE to shut the host down. Every session, yours included, gets a notice "+
					"and is ended; the host process then exits."),
			In: userOnly, MaxArgs: 0, Run: confirmWord("CLOSE", "shut the host down", wire.AsyncExit),
		},
		{
			Def: def("restart_host", "restart the host.", "[none]/[text]",
				"Asks you to type RESTART to restart the host. Every session, yours included, gets a notice and is "+
					"ended; the host then re-reads its settings and listens again."),
			In: userOnly, MaxArgs: 0, Run: confirmWord("RESTART", "restart the host", wire.AsyncRestart),
		},
	}
}

// audit writes an administration action to the activity log, with the
// caller's address, session, client and user name, and to the process log.
func audit(ctx context.Context, c *module.Call, format string, args ...any) error {
	s := c.Session()
	msg := fmt.Sprintf(format, args...)
	entry := fmt.Sprintf("%s (by %s)", msg, s.UserName)
	if l := c.Env().Log; l != nil {
		l.Info("admin action", "action", msg, "user", s.UserName, "ip", s.IP)
	}
	if err := c.Store().LogActivity(ctx, store.Activity{IP: s.IP, SessionID: s.SessionID, ClientApp: s.AppName, Entry: entry}); err != nil {
		return fmt.Errorf("write activity log: %w", err)
	}
	return nil
}

// banArg parses the -ip argument of add_ban and rm_ban.
func banArg(c *module.Call) (string, bool, error) {
	ip := c.Param("-ip")
	if ip == "" {
		return "", false, module.Fail("-ip missing")
	}
	p, err := ipban.Parse(ip)
	if err != nil {
		return "", false, module.Fail("'%s' is not a valid ip address", ip)
	}
	return ipban.Canonical(p), ipban.CoversLoopback(p), nil
}

func runAddBan(ctx context.Context, c *module.Call) error {
	canon, loopback, err := banArg(c)
	if err != nil {
		return err
	}
	if loopback {
		return module.Fail("'%s' covers a loopback address; loopback clients cannot be banned (the operator must "+
			"always be able to connect locally)", c.Param("-ip"))
	}
	if l, _ := ipban.NewList([]string{canon}); l.Banned(sessionAddr(c)) {
		return module.Fail("'%s' covers the address you are connected from; ban refused", c.Param("-ip"))
	}
	if err := c.Store().AddBan(ctx, canon); err != nil {
		return err
	}
	if err := audit(ctx, c, "ban added: %s", canon); err != nil {
		return err
	}
	c.Emit(wire.TypePrivIPC, wire.AsyncUpdateBans, nil)
	return nil
}

func runRmBan(ctx context.Context, c *module.Call) error {
	canon, _, err := banArg(c)
	if err != nil {
		return err
	}
	if err := c.Store().RemoveBan(ctx, canon); err != nil {
		return err
	}
	if err := audit(ctx, c, "ban removed: %s", canon); err != nil {
		return err
	}
	c.Emit(wire.TypePrivIPC, wire.AsyncUpdateBans, nil)
	return nil
}

// sessionAddr is the caller's address (invalid when it does not parse).
func sessionAddr(c *module.Call) netip.Addr {
	a, _ := netip.ParseAddr(c.Session().IP)
	return a
}

// confirmWord returns the Run function of close_host / restart_host: the
// exact word emits the async, an empty answer cancels, anything else asks
// again.
func confirmWord(word, what string, id wire.AsyncID) func(context.Context, *module.Call) error {
	return func(ctx context.Context, c *module.Call) error {
		q := fmt.Sprintf("Type %s to %s, or leave blank to cancel: ", word, what)
		for {
			a, err := c.Prompt(ctx, q)
			if err != nil {
				return err
			}
			switch a {
			case "":
				c.Text("cancelled.\n")
				return nil
			case word:
				if err := audit(ctx, c, "host %s requested", strings.ToLower(word)); err != nil {
					return err
				}
				c.Emit(wire.TypePrivIPC, id, nil)
				return nil
			}
			c.Err("type " + word + " exactly")
		}
	}
}

// maxFileSize bounds the certificate and key files add_cert reads.
const maxFileSize = 1 << 20

// resolvePath expands environment variables and a leading ~ and makes a
// relative path relative to the session's directory.
func resolvePath(c *module.Call, p string) string {
	p = os.ExpandEnv(p)
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Session().Dir, p)
	}
	return filepath.Clean(p)
}

// readSmallFile reads a whole file of at most maxFileSize bytes.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, errors.New("file larger than 1 MiB")
	}
	return b, nil
}

// errnoText is the reason part of an open error, without the path.
func errnoText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// u32Text formats a uint32 setting.
func u32Text(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// hostPort splits a listen address for host_info.
func hostPort(addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	return h, p
}
