// Command mrci is the MRCI host: `mrci serve` runs it in the foreground,
// `mrci start`, `stop` and `status` control it as a daemon. The original
// host's single-dash options (-host, -start, -stop, -status, -addr
// ip:port, -about, -help, -reset_root) keep working and map onto the
// sub-commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
	"-start": "start", "-stop": "stop", "-status": "status",
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
	// database is a PostgreSQL URL, or "" for the SQLite file in the data
	// directory (database.go).
	database        string
	databaseTimeout time.Duration
}

// fallbackDataDir is the data directory when no home directory is known
// (HOME unset, as for some service managers): never a relative path.
const fallbackDataDir = "/var/lib/mrci"

func defaultDataDir() string {
	if d := os.Getenv("MRCI_DATA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return fallbackDataDir
	}
	return filepath.Join(home, ".mrci")
}

func (o *options) dbPath() string { return filepath.Join(o.dataDir, "mrci.db") }

// absDataDir makes the data directory absolute, so a daemon started from
// another directory uses the same one.
func (o *options) absDataDir() error {
	abs, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	o.dataDir = abs
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts := &options{}
	root := &cobra.Command{
		Use:           "mrci",
		Short:         "MRCI host: a modular remote command interpreter server",
		Version:       fmt.Sprintf("%s (wire version %s)", version, wire.Version),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("mrci {{.Version}}\n")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if _, err := newLogger(io.Discard, opts.logLevel); err != nil {
			return exitError{2, err}
		}
		// serve applies its whole config (serve.go); commands that do not
		// open the store do not read it.
		if !slices.Contains([]string{"serve", "start", "stop", "status", "version", "help", "completion"}, cmd.Name()) {
			if err := applyDatabaseConfig(cmd, opts); err != nil {
				return exitError{2, err}
			}
		}
		return nil
	}
	root.PersistentFlags().StringVar(&opts.dataDir, "data-dir", defaultDataDir(), "data directory (database, certificate, control socket); env MRCI_DATA_DIR")
	root.PersistentFlags().StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addDatabaseFlags(root, opts)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(opts), aboutCmd(opts), setAddrCmd(opts), resetRootCmd(opts), versionCmd())
	root.AddCommand(importOriginalCmd(opts))
	root.AddCommand(accountLimitsCmd(opts))
	root.AddCommand(admissionCmd(opts))
	root.AddCommand(startCmd(opts), stopCmd(opts), statusCmd(opts))
	root.AddCommand(filesCmd(opts))
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

// newLogger returns the process logger; an unknown level is an error.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("unknown --log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
