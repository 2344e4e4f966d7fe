// Command mrci is the MRCI host: `mrci serve` runs it in the foreground.
// The original host's single-dash options (-host, -addr ip:port, -about,
// -help, -reset_root) keep working and map onto the sub-commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/wire"
)

// version is this implementation's own release, set with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// legacy maps the original's single-dash options onto sub-commands.
var legacy = map[string]string{
	"-host": "serve", "-about": "about", "-help": "help", "-addr": "set-addr",
	"-reset_root": "reset-root", "-version": "version",
}

func translateLegacy(args []string) []string {
	if len(args) > 0 {
		if sub, ok := legacy[strings.ToLower(args[0])]; ok {
			return append([]string{sub}, args[1:]...)
		}
	}
	return args
}

// options are the flags every sub-command shares.
type options struct {
	dataDir  string
	logLevel string
}

func defaultDataDir() string {
	if d := os.Getenv("MRCI_DATA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".mrci"
	}
	return filepath.Join(home, ".mrci")
}

func (o *options) dbPath() string { return filepath.Join(o.dataDir, "mrci.db") }

func (o *options) openStore(ctx context.Context) (store.Store, error) {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, o.dbPath())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", o.dbPath(), err)
	}
	return st, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts := &options{}
	root := &cobra.Command{
		Use:           "mrci",
		Short:         "MRCI host: a modular remote command interpreter server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&opts.dataDir, "data-dir", defaultDataDir(), "data directory (database, certificate); env MRCI_DATA_DIR")
	root.PersistentFlags().StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(opts), aboutCmd(opts), setAddrCmd(opts), resetRootCmd(opts), versionCmd())
	root.SetArgs(translateLegacy(args))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "err:", err)
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func serveCmd(opts *options) *cobra.Command {
	var addr string
	var forceTLS bool
	var maxSessions uint32
	var metricsAddr string
	var webOpts *webOptions // web.go
	c := &cobra.Command{
		Use:   "serve",
		Short: "run the host in the foreground (legacy: -host)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			log := newLogger(cmd.ErrOrStderr(), opts.logLevel)
			st, err := opts.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			generated, err := host.EnsureRoot(ctx, st, password.DefaultParams, os.Getenv("MRCI_ROOT_PASSWORD"))
			if err != nil {
				return err
			}
			if generated != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "first start: created account root with password %s (you must change it at first login; `mrci about` shows it until then)\n", generated)
			}
			cert, err := tlscert.LoadOrCreateDefault(filepath.Join(opts.dataDir, "tls"))
			if err != nil {
				return err
			}
			s, err := st.Settings(ctx)
			if err != nil {
				return err
			}
			if maxSessions > 0 && maxSessions != s.MaxSessions {
				s.MaxSessions = maxSessions
				if err := st.SaveSettings(ctx, s); err != nil {
					return err
				}
			}
			if addr == "" {
				addr = net.JoinHostPort(s.ListenAddress, strconv.Itoa(int(s.ListenPort)))
			}
			h, err := host.New(ctx, host.Config{
				Store: st, DefaultCert: cert, ForceTLS: forceTLS, Log: log, Version: version, Dir: homeDir(),
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			if metricsAddr != "" {
				srv := &http.Server{Addr: metricsAddr, Handler: h.Metrics().Handler(), ReadHeaderTimeout: 10 * time.Second}
				go func() {
					if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
						log.Error("metrics server", "err", err)
					}
				}()
				defer srv.Close()
			}
			log.Info("mrci host listening", "addr", ln.Addr().String(), "wire_version", wire.Version.String(),
				"version", version, "force_tls", forceTLS, "data_dir", opts.dataDir)
			stopWeb, err := webOpts.start(ctx, h, cert, forceTLS, log)
			if err != nil {
				_ = ln.Close()
				return err
			}
			defer stopWeb()
			return h.Serve(ctx, ln)
		},
	}
	c.Flags().StringVar(&addr, "addr", "", "listen address ip:port (default: the stored setting, 127.0.0.1:35516 at first)")
	c.Flags().BoolVar(&forceTLS, "force-tls", false, "make every client, loopback included, use TLS (reply 2)")
	c.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /debug/pprof/ on this address (e.g. 127.0.0.1:9516)")
	webOpts = addWebFlags(c)
	c.Flags().Uint32Var(&maxSessions, "max-sessions", 0, "store a new maximum number of concurrent sessions (default: keep the stored setting, 100 at first)")
	return c
}

func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return "/"
	}
	return h
}

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
			if _, err := os.Stat(opts.dbPath()); err != nil {
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
