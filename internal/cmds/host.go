package cmds

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/mrci/mrci/internal/module"
)

func hostCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("host_info", "show information about the host.", "[none]/[text]",
				"Prints the host's application and version, runtime, host name and OS, its load and the "+
					"address and port it listens on (and the stored ones, used at the next start, when they differ), "+
					"and last this node's id."),
			In: userOnly, MaxArgs: 0, Run: runHostInfo,
		},
	}
}

// clusterHost is a host that may be a node of a cluster (docs/cluster.md).
type clusterHost interface {
	// ClusterLoad returns the sessions of the whole cluster and the number
	// of live nodes; ok is false in single-node mode.
	ClusterLoad() (sessions, nodes int, ok bool)
}

func runHostInfo(ctx context.Context, c *module.Call) error {
	s, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	var b strings.Builder
	line := func(label string, value any) { fmt.Fprintf(&b, "%-16s%v\n", label, value) }
	line("Application:", Library)
	line("Product:", "mrci "+c.Host().ProductVersion())
	line("Go Runtime:", runtime.Version())
	line("Host Name:", hostname)
	line("Host OS:", runtime.GOOS+"/"+runtime.GOARCH)
	maxSes := s.MaxSessions
	stored := net.JoinHostPort(s.ListenAddress, u32Text(uint32(s.ListenPort)))
	live := stored
	if h, ok := c.Host().(adminHost); ok {
		maxSes = h.MaxSessions()
		if a := h.ListenAddr(); a != "" {
			live = a
		}
	}
	line("Load:", fmt.Sprintf("%d/%d", c.Host().SessionCount(), maxSes))
	if h, ok := c.Host().(clusterHost); ok {
		if sessions, nodes, ok := h.ClusterLoad(); ok {
			line("Cluster Load:", fmt.Sprintf("%d sessions on %d nodes", sessions, nodes))
		}
	}
	addr, port := hostPort(live)
	line("Listening Addr:", addr)
	line("Listening Port:", port)
	if live != stored {
		line("Stored Addr:", s.ListenAddress)
		line("Stored Port:", s.ListenPort)
	}
	// Last, so clients that read the lines above by position are unaffected.
	if h, ok := c.Host().(nodeHost); ok && h.NodeID() != "" {
		line("Node ID:", h.NodeID())
	}
	c.Text(b.String())
	return nil
}

// nodeHost is the host of a node with an id (every `mrci serve`).
type nodeHost interface {
	// NodeID is this node's id in its cluster (docs/cluster.md).
	NodeID() string
}
