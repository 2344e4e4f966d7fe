// Package hosttest starts real hosts for tests: a TLS-capable listener on
// 127.0.0.1, a fresh SQLite database in a temporary directory, a generated
// default certificate and a root account with a known password. It also
// dials real clients (pkg/client) at it.
package hosttest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/session"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/sqlite"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// RootPassword is the password of the root account of every test host.
const RootPassword = "Root-Pass-1234"

// Params are cheap argon2id costs for tests (the defaults cost ~20 ms and
// 19 MiB per hash).
var Params = password.Params{MemoryKiB: 64, Passes: 1, Lanes: 1}

// Host is a running test host.
type Host struct {
	*host.Host
	Addr    string
	Store   store.Store
	Cert    *tlscert.Pair
	DataDir string
	cancel  context.CancelFunc
	done    chan struct{} // closed when Serve has returned
	err     error         // what Serve returned, set before done closes
	opts    Options
}

// Options change how Start configures the host.
type Options struct {
	// DataDir, if set, is used instead of a fresh temporary directory (see
	// Restart).
	DataDir string

	ForceTLS bool
	Limits   session.Limits
	// Setup runs against the store before the host starts.
	Setup func(st store.Store)
	// Modules are extra in-process modules (see host.Config.ExtraModules).
	Modules    []module.Module
	TrustExtra bool
	// HeaderTimeout overrides the 5 s client-header deadline.
	HeaderTimeout time.Duration
	// Email configures mail delivery (see host.EmailConfig).
	Email host.EmailConfig
	// WrapStore, if set, wraps the store the host uses (to inject faults);
	// Host.Store stays the unwrapped store.
	WrapStore func(store.Store) store.Store
	// WrapListener, if set, wraps the host's listener (tests inject accept
	// errors with it).
	WrapListener func(net.Listener) net.Listener
	// Log, if set, receives the host's log (default: discarded unless
	// MRCI_TEST_LOG is set).
	Log *slog.Logger
	// ListenAddr is the address to listen on (default 127.0.0.1:0).
	ListenAddr string
	// MaxSessions overrides the stored session limit for this run.
	MaxSessions uint32
	// OpenStore, if set, opens the host's store instead of a fresh SQLite
	// file in the data directory (StartCluster: a shared PostgreSQL
	// schema).
	OpenStore func(ctx context.Context, dir string) (store.Store, error)
	// Cluster joins the host to a cluster (see StartCluster).
	Cluster cluster.Options
	// ModuleCheck is host.Config.ModuleCheck (how often the module files
	// are looked at; negative: only on reloads and Host.CheckModules).
	ModuleCheck time.Duration
}

// NoDelays returns the default account limits without login delays, the
// limits every test host starts with.
func NoDelays() store.AccountLimits {
	l := store.DefaultAccountLimits()
	l.FirstDelay = 0
	return l
}

// Start starts a host with default options; it stops when the test ends.
func Start(t testing.TB) *Host { return StartWith(t, Options{}) }

// StartWith starts a host with the given options.
func StartWith(t testing.TB, o Options) *Host {
	t.Helper()
	ctx := context.Background()
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	var st store.Store
	var err error
	if o.OpenStore != nil {
		st, err = o.OpenStore(ctx, dir)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(dir, "mrci.db"))
	}
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if _, err := host.EnsureRoot(ctx, st, Params, RootPassword); err != nil {
		t.Fatalf("create root: %v", err)
	}
	// Failed logins are not delayed in tests unless a test's Setup sets
	// its own store.AccountLimits (tests must not depend on time).
	if err := st.SaveAccountLimits(ctx, NoDelays()); err != nil {
		t.Fatalf("account limits: %v", err)
	}
	if o.Setup != nil {
		o.Setup(st)
	}
	cert, err := tlscert.LoadOrCreateDefault(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	if o.Log != nil {
		log = o.Log
	} else if os.Getenv("MRCI_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	hostStore := store.Store(st)
	if o.WrapStore != nil {
		hostStore = o.WrapStore(st)
	}
	h, err := host.New(ctx, host.Config{
		Store: hostStore, DefaultCert: cert, ForceTLS: o.ForceTLS, Log: log, PasswordParams: Params,
		Version: "test", Limits: o.Limits, Dir: dir, FilesRoot: filepath.Join(dir, "files"), ExtraModules: o.Modules, TrustExtra: o.TrustExtra,
		HeaderTimeout: o.HeaderTimeout, Email: o.Email, MaxSessions: o.MaxSessions, DrainTimeout: 5 * time.Second,
		DatabasePath: filepath.Join(dir, "mrci.db"), Cluster: o.Cluster, ModuleCheck: o.ModuleCheck,
	})
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	if o.ListenAddr == "" {
		o.ListenAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", o.ListenAddr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if o.WrapListener != nil {
		ln = o.WrapListener(ln)
	}
	sctx, cancel := context.WithCancel(ctx)
	th := &Host{Host: h, Addr: ln.Addr().String(), Store: st, Cert: cert, DataDir: dir, cancel: cancel, done: make(chan struct{}), opts: o}
	go func() {
		th.err = h.Serve(sctx, ln)
		close(th.done)
	}()
	t.Cleanup(func() {
		th.Stop()
		_ = st.Close()
	})
	return th
}

// Stop stops the host and waits until every session has ended.
func (h *Host) Stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
	}
}

// Done is closed when the host's Serve has returned (after Stop, or after
// close_host).
func (h *Host) Done() <-chan struct{} { return h.done }

// ServeErr returns what Serve returned; call it after Done is closed.
func (h *Host) ServeErr() error { return h.err }

// Restart stops the host, closes its store and starts a new host with the
// same options on the same data directory and address, as an
// administrator restarting the host does. Setup does not run again.
func (h *Host) Restart(t testing.TB) *Host {
	t.Helper()
	h.Stop()
	_ = h.Store.Close()
	o := h.opts
	o.DataDir, o.ListenAddr, o.Setup = h.DataDir, h.Addr, nil
	return StartWith(t, o)
}

// Dial connects an anonymous client (loopback: plaintext unless ForceTLS).
func (h *Host) Dial(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, h.Addr, client.Options{PinnedCert: string(h.Cert.CertPEM), AppName: "hosttest"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Login dials and logs in as user.
func (h *Host) Login(t testing.TB, user, pw string) *client.Client {
	t.Helper()
	c := h.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Login(ctx, user, pw); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// Root dials and logs in as root.
func (h *Host) Root(t testing.TB) *client.Client { return h.Login(t, "root", RootPassword) }

// CreateUser inserts an account directly into the store and returns it.
func (h *Host) CreateUser(t testing.TB, name, pw string, rank uint32) store.User {
	t.Helper()
	hash, err := password.Hash(pw, Params)
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{Name: name, Email: name + "@example.com", PasswordHash: hash, Rank: rank}
	if _, err := rand.Read(u.ID[:]); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	got, err := h.Store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// RankAll gives every internal command the rank, so accounts of that rank
// (or better) can run them.
func (h *Host) RankAll(t testing.TB, rank uint32, commands ...string) {
	t.Helper()
	for _, c := range commands {
		if err := h.Store.AddCommandRank(context.Background(), store.CommandRank{Module: store.InternalModule, Command: c, Rank: rank}); err != nil {
			t.Fatalf("rank %s: %v", c, err)
		}
	}
	h.Bus().Publish(&bus.Message{ID: wire.AsyncCmdRanksChanged}, true)
}

// Ctx returns a context that ends after d or with the test.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
