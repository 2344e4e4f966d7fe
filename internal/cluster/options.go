// Package cluster joins several mrci hosts into one MRCI host: they share
// one PostgreSQL database and exchange async traffic over NATS.
//
// This file is the contract between the command line (cmd/mrci, which fills
// Options from flags, the config file and the environment) and the
// transport (which consumes them). The single-node default has Options
// zero: no NATS, nothing to set up.
package cluster

import (
	"net"
	"strings"
	"time"
)

// Options say how a node joins a cluster.
type Options struct {
	// URLs are the NATS servers to connect to (nats://host:4222, ...);
	// empty means single-node mode.
	URLs []string
	// Name prefixes every subject, so several clusters can share one
	// NATS deployment (default "mrci").
	Name string
	// NodeID names this node in host_info, `mrci status`, the metrics and
	// the heartbeats; unique within the cluster.
	NodeID string

	// CredsFile is a NATS credentials file (JWT + NKey seed); optional.
	CredsFile string
	// User and Password authenticate with NATS user/password; optional.
	User, Password string
	// Token authenticates with a NATS token; optional.
	Token string
	// TLSCA, TLSCert and TLSKey configure TLS to NATS: a CA bundle to
	// verify the servers, and a client certificate + key; all optional.
	TLSCA, TLSCert, TLSKey string

	// Heartbeat is how often the node announces itself (default 1 s);
	// DeadAfter is how long another node may stay silent before it is
	// declared lost and its sessions are ended for the peers (default 3 s,
	// at least twice Heartbeat).
	Heartbeat, DeadAfter time.Duration
	// ReconnectWait is the pause between attempts to reach NATS again
	// after the connection was lost (default 1 s).
	ReconnectWait time.Duration
	// Dial, if set, opens the connections to the NATS servers instead of
	// net.Dial (tests cut a node off with it).
	Dial func(network, address string) (net.Conn, error)
}

// Enabled reports whether the node joins a cluster.
func (o Options) Enabled() bool { return len(o.URLs) > 0 }

// Subject returns the cluster's subject for the dot-separated tokens,
// prefixed with the cluster name.
func (o Options) Subject(tokens ...string) string {
	name := o.Name
	if name == "" {
		name = "mrci"
	}
	return name + "." + strings.Join(tokens, ".")
}
