package hosttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/cluster"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/postgres"
	"github.com/mrci/mrci/internal/store/postgres/pgtest"
)

// DefaultNATSURL is the test NATS server; MRCI_TEST_NATS_URL overrides it.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// Test timing of the cluster heartbeat: fast enough for the node-loss
// tests, slow enough for a loaded machine not to lose a node by mistake.
const (
	ClusterHeartbeat = 250 * time.Millisecond
	ClusterDeadAfter = 2 * time.Second
)

// unavailable fails the test when CI is set and skips it (with the reason)
// otherwise.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// PostgresDSN returns a DSN whose connections use a fresh schema of the
// test database, dropped when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn, _ := pgtest.Schema(t, pgtest.Base(t), "mrci_cluster_")
	return dsn
}

// NATSURL returns the test NATS server's URL after checking that it
// answers.
func NATSURL(t testing.TB) string {
	t.Helper()
	s := os.Getenv("MRCI_TEST_NATS_URL")
	if s == "" {
		s = DefaultNATSURL
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("MRCI_TEST_NATS_URL: %v", err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		unavailable(t, "NATS test server unreachable (set MRCI_TEST_NATS_URL): "+err.Error())
	}
	_ = c.Close()
	return s
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// ClusterOptions change how StartCluster configures the nodes.
type ClusterOptions struct {
	// Nodes is the number of hosts (default 3).
	Nodes int
	// URLs are the NATS servers (default: NATSURL).
	URLs []string
	// DSN and Name, if set, are the PostgreSQL DSN and the cluster name
	// (default: a fresh schema and a fresh name), so a test can add nodes
	// of its own (child processes) to the cluster.
	DSN, Name string
	// Heartbeat overrides ClusterHeartbeat (DeadAfter grows with it).
	Heartbeat time.Duration
	// Dial, if set, returns the NATS dialer of node i (0-based), so a test
	// can cut a node off.
	Dial func(i int) func(network, address string) (net.Conn, error)
}

// StartCluster starts hosts that form one cluster: each with its own
// listener and data directory, all on one fresh PostgreSQL schema, joined
// over NATS under a cluster name of their own (so tests sharing a NATS
// server do not see each other). o applies to every node, except Setup,
// which runs once, before the first node starts. The nodes are n1, n2, ...
func StartCluster(t testing.TB, o Options, co ClusterOptions) []*Host {
	t.Helper()
	if co.Nodes == 0 {
		co.Nodes = 3
	}
	urls := co.URLs
	if len(urls) == 0 {
		urls = []string{NATSURL(t)}
	}
	dsn, name := co.DSN, co.Name
	if dsn == "" {
		dsn = PostgresDSN(t)
	}
	if name == "" {
		name = "mrcitest" + randomHex(t, 6)
	}
	hb, dead := ClusterHeartbeat, ClusterDeadAfter
	if co.Heartbeat > 0 {
		hb, dead = co.Heartbeat, max(dead, 8*co.Heartbeat)
	}
	hosts := make([]*Host, co.Nodes)
	for i := range hosts {
		no := o
		no.OpenStore = func(ctx context.Context, _ string) (store.Store, error) {
			return postgres.Open(ctx, dsn)
		}
		no.Cluster = cluster.Options{
			URLs: urls, Name: name, NodeID: fmt.Sprintf("n%d", i+1),
			Heartbeat: hb, DeadAfter: dead, ReconnectWait: 100 * time.Millisecond,
		}
		if co.Dial != nil {
			no.Cluster.Dial = co.Dial(i)
		}
		if i > 0 {
			no.Setup = nil
		}
		hosts[i] = StartWith(t, no)
	}
	return hosts
}
