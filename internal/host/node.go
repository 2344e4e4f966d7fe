package host

import (
	"fmt"

	"github.com/mrci/mrci/internal/cluster"
)

// NodeID returns this node's id (Config.Cluster.NodeID): shown by
// host_info, `mrci status` and the mrci_node_info metric. It is "" only
// for hosts built without one (tests); `mrci serve` always sets it.
func (h *Host) NodeID() string { return h.cfg.Cluster.NodeID }

// ClusterSummary describes this node's place in its cluster in one line
// for `mrci status`; ok is false while the node is not connected to the
// rest of the cluster (NATS unreachable). A single node is "single node",
// ok.
func (h *Host) ClusterSummary() (summary string, ok bool) {
	st, clustered := h.ClusterStatus()
	if !clustered {
		return "single node", true
	}
	conn := "connected to " + st.Server
	if !st.Connected {
		conn = "NOT CONNECTED to NATS"
		if st.LastError != "" {
			conn += " (" + st.LastError + ")"
		}
	}
	return fmt.Sprintf("cluster %s: %s, %d other nodes, %d sessions in the cluster",
		st.Cluster, conn, len(st.Nodes), st.Sessions), st.Connected
}

// clusterLabel is the cluster label of mrci_node_info: the cluster name,
// or "" for a single host.
func clusterLabel(c cluster.Options) string {
	if !c.Enabled() {
		return ""
	}
	if c.Name == "" {
		return "mrci"
	}
	return c.Name
}
