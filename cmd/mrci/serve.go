package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/wire"
)

// serveFlags are the flags of `mrci serve`. Every flag registered on the
// serve command (these and those other files add) is also a config file
// key and an MRCI_* environment variable (config.go).
type serveFlags struct {
	addr         string
	forceTLS     bool
	maxSessions  uint32
	metricsAddr  string
	pprof        bool
	tlsCert      string
	tlsKey       string
	cnCerts      []string // CN=CERTFILE,KEYFILE
	drainTimeout time.Duration
	config       string
	printConfig  bool
	ranks        defaultRanks  // ranks.go: --no-default-ranks
	web          *webOptions   // web.go: --web-addr, --web-cert, --web-key
	cluster      *clusterFlags // cluster.go: --cluster, --node-id, ...
}

func serveCmd(opts *options) *cobra.Command {
	f := &serveFlags{}
	var applySMTP func(*cobra.Command) error
	c := &cobra.Command{
		Use:   "serve",
		Short: "run the host in the foreground (legacy: -host)",
		Long: "Runs the host in the foreground until SIGTERM or SIGINT (a graceful drain: every session gets a " +
			"notice and is ended; a second signal exits at once), close_host or `mrci stop`. SIGHUP re-reads the " +
			"--tls-cert/--tls-key and --cn-cert files. Every flag can also be given as a key of the same name in the config " +
			"file (TOML) and as the environment variable MRCI_<FLAG> (upper case, - as _); flags win over the " +
			"environment, which wins over the file.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := applyConfig(cmd, configFile(opts, f.config))
			if err != nil {
				return exitError{2, err}
			}
			if f.printConfig {
				return printConfig(cmd.OutOrStdout(), cmd, src)
			}
			if err := applySMTP(cmd); err != nil {
				return err
			}
			return serve(cmd.Context(), cmd.ErrOrStderr(), opts, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.addr, "addr", "", "listen address ip:port (default: the stored setting, 127.0.0.1:35516 at first)")
	fl.BoolVar(&f.forceTLS, "force-tls", false, "make every client, loopback included, use TLS (reply 2)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9516)")
	fl.BoolVar(&f.pprof, "pprof", false, "also serve the Go profiler under /debug/pprof/ on --metrics-addr")
	fl.Uint32Var(&f.maxSessions, "max-sessions", 0, "session limit for this run (default: the stored setting; the stored setting is not changed)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "default certificate file (PEM or DER; re-read on SIGHUP); default: the generated one in the data directory")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key file of --tls-cert")
	fl.StringArrayVar(&f.cnCerts, "cn-cert", nil, "CN=CERTFILE,KEYFILE: install this certificate for the common name CN at start and on SIGHUP (repeatable)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "how long a graceful stop waits for sessions to take their notice")
	fl.StringVar(&f.config, "config", "", "config file (TOML; default: mrci.toml in the data directory, if it exists)")
	fl.BoolVar(&f.printConfig, "print-config", false, "print the effective configuration (flags > environment > file > defaults) and exit")
	f.ranks.register(fl)              // ranks.go
	f.web = addWebFlags(c)            // web.go
	f.cluster = addClusterFlags(c)    // cluster.go
	applySMTP = addSMTPFlags(c, opts) // smtp.go: stored once the config is applied
	return c
}

// loadDefaultCert reads the --tls-cert/--tls-key pair, or the generated
// default in the data directory.
func loadDefaultCert(opts *options, f *serveFlags) (*tlscert.Pair, error) {
	if f.tlsCert == "" && f.tlsKey == "" {
		return tlscert.LoadOrCreateDefault(filepath.Join(opts.dataDir, "tls"))
	}
	if f.tlsCert == "" || f.tlsKey == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	certBytes, err := os.ReadFile(f.tlsCert)
	if err != nil {
		return nil, fmt.Errorf("read --tls-cert: %w", err)
	}
	keyBytes, err := os.ReadFile(f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("read --tls-key: %w", err)
	}
	p, err := tlscert.Import(certBytes, keyBytes)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return p, nil
}

// installCNCerts reads every --cn-cert pair and stores it for its common
// name (what add_cert does), so files rotated on disk take effect on SIGHUP.
func installCNCerts(ctx context.Context, st store.Store, specs []string, log *slog.Logger) error {
	for _, spec := range specs {
		cn, files, ok := strings.Cut(spec, "=")
		certFile, keyFile, ok2 := strings.Cut(files, ",")
		if !ok || !ok2 || cn == "" || certFile == "" || keyFile == "" {
			return fmt.Errorf("--cn-cert %q: want CN=CERTFILE,KEYFILE", spec)
		}
		certBytes, err := os.ReadFile(certFile)
		if err != nil {
			return fmt.Errorf("--cn-cert %s: %w", cn, err)
		}
		keyBytes, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("--cn-cert %s: %w", cn, err)
		}
		p, err := tlscert.Import(certBytes, keyBytes)
		if err != nil {
			return fmt.Errorf("--cn-cert %s: %w", cn, err)
		}
		if err := st.PutCert(ctx, store.Cert{CommonName: cn, CertPEM: p.CertPEM, KeyPEM: p.KeyPEM}); err != nil {
			return fmt.Errorf("--cn-cert %s: %w", cn, err)
		}
		log.Info("certificate installed from files", "cn", cn, "cert", certFile)
	}
	return nil
}

// storedAddr is the listen address of the settings row.
func storedAddr(s store.Settings) string {
	return net.JoinHostPort(s.ListenAddress, strconv.Itoa(int(s.ListenPort)))
}

func serve(ctx context.Context, logw io.Writer, opts *options, f *serveFlags) error {
	log, err := newLogger(logw, opts.logLevel)
	if err != nil {
		return exitError{2, err}
	}
	if err := opts.absDataDir(); err != nil {
		return err
	}
	if err := opts.checkDatabase(); err != nil {
		return exitError{2, err}
	}
	co, err := f.cluster.options(opts)
	if err != nil {
		return exitError{2, err}
	}
	st, err := opts.openStore(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close database", "err", err)
		} else {
			log.Info("database closed")
		}
	}()
	s, err := st.Settings(ctx)
	if err != nil {
		return err
	}
	addr := f.addr
	if addr == "" {
		addr = storedAddr(s)
	}
	// Listen before anything is created, so a port in use is reported
	// before a first start creates root.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	var mln net.Listener
	if f.metricsAddr != "" {
		if mln, err = net.Listen("tcp", f.metricsAddr); err != nil {
			return fmt.Errorf("metrics address %s: %w", f.metricsAddr, err)
		}
		defer mln.Close()
	}
	ctl, err := listenControl(opts.dataDir)
	if err != nil {
		return err
	}
	defer ctl.Close()

	if err := f.ranks.check(ctx, st); err != nil {
		return err
	}
	generated, err := host.EnsureRoot(ctx, st, password.DefaultParams, os.Getenv("MRCI_ROOT_PASSWORD"))
	if err != nil {
		return err
	}
	if generated != "" {
		fmt.Fprintf(logw, "first start: created account root with password %s (you must change it at first login; `mrci about` shows it until then)\n", generated)
	}
	if err := f.ranks.install(ctx, st); err != nil {
		return err
	}
	cert, err := loadDefaultCert(opts, f)
	if err != nil {
		return err
	}
	if err := installCNCerts(ctx, st, f.cnCerts, log); err != nil {
		return err
	}
	h, err := host.New(ctx, host.Config{
		Store: st, DefaultCert: cert, ForceTLS: f.forceTLS, Log: log, Version: version, Dir: homeDir(),
		MaxSessions: f.maxSessions, DrainTimeout: f.drainTimeout, DatabasePath: opts.databaseName(),
		Cluster:   co,
		FilesRoot: filepath.Join(opts.dataDir, "files"),
		Listen: func(ctx context.Context) (net.Listener, error) {
			// A restart listens on --addr, or on the stored address as it
			// is now (mrci set-addr changes it for the next (re)start).
			a := f.addr
			if a == "" {
				s, err := st.Settings(ctx)
				if err != nil {
					return nil, err
				}
				a = storedAddr(s)
			}
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", a)
		},
	})
	if err != nil {
		return err
	}
	served := false
	defer func() {
		if !served {
			// A step after New failed: Serve on a cancelled context drains
			// at once and stops what New started (the log writer, module
			// processes, the mail queue).
			cctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = h.Serve(cctx, ln)
		}
	}()
	if f.maxSessions > 0 {
		log.Info("session limit for this run", "max_sessions", f.maxSessions, "stored_max_sessions", s.MaxSessions,
			"note", "the stored setting is unchanged")
	}
	if mln != nil {
		srv := &http.Server{Handler: h.Metrics().Handler(metrics.HandlerOptions{Pprof: f.pprof, Ready: readiness(h, st)}),
			ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String(), "pprof", f.pprof)
	}
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		ctl.serve(h, statusSource{st: st, dataDir: opts.dataDir, dbPath: opts.databaseName()}, log)
	}()
	defer func() {
		ctl.Close()
		<-ctlDone
	}()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	sigDone := make(chan struct{})
	defer close(sigDone)
	go handleSignals(sigs, sigDone, h, log, func() {
		p, err := loadDefaultCert(opts, f)
		if err != nil {
			log.Error("SIGHUP: certificate not reloaded", "err", err)
		} else if f.tlsCert != "" {
			h.SetDefaultCert(p)
		}
		if err := installCNCerts(context.Background(), st, f.cnCerts, log); err != nil {
			log.Error("SIGHUP: certificate not reloaded", "err", err)
		}
	})

	stopWeb, err := f.web.start(ctx, h, cert, f.forceTLS, log)
	if err != nil {
		return err
	}
	defer stopWeb()
	served = true
	serving, stopWaiting := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- h.Serve(ctx, ln)
		stopWaiting()
	}()
	// Said once the host serves (and /readyz answers ready), so that what
	// waits for this line can use the host at once.
	if _, werr := h.WaitListening(serving); werr == nil {
		log.Info("mrci host listening", "addr", ln.Addr().String(), "stored_addr", storedAddr(s), "wire_version",
			wire.Version.String(), "version", version, "force_tls", f.forceTLS, "data_dir", opts.dataDir, "database", opts.databaseName(), "node_id", co.NodeID, "cluster", co.Enabled(), "pid", os.Getpid())
	}
	err = <-errc
	stopWaiting()
	if err != nil {
		log.Error("host stopped with an error", "err", err)
		return err
	}
	log.Info("host exited cleanly")
	return nil
}

// handleSignals drains on the first SIGTERM/SIGINT and exits at once on
// the second; SIGHUP calls reload.
func handleSignals(sigs <-chan os.Signal, done <-chan struct{}, h *host.Host, log *slog.Logger, reload func()) {
	draining := false
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP:
				log.Info("SIGHUP: re-reading certificate files")
				reload()
			case draining:
				log.Warn("second signal: exiting without waiting", "signal", sig.String())
				os.Exit(1)
			default:
				draining = true
				log.Info("signal received: draining (send it again to exit at once)", "signal", sig.String())
				h.Exit()
			}
		}
	}
}

// readiness reports whether the host listens and its database answers.
func readiness(h *host.Host, st store.Store) func() error {
	return func() error {
		if h.ListenAddr() == "" {
			return errors.New("not listening")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := st.Settings(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		return nil
	}
}

func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return "/"
	}
	return h
}
