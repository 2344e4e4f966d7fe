package host

import "github.com/mrci/mrci/internal/cluster"

// NodeID returns this node's id (Config.Cluster.NodeID): shown by
// host_info, `mrci status` and the mrci_node_info metric. It is "" only
// for hosts built without one (tests); `mrci serve` always sets it.
func (h *Host) NodeID() string { return h.cfg.Cluster.NodeID }

// ClusterSummary describes this node's place in its cluster in one line
// for `mrci status`; ok is false while the node is not connected to the
// rest of the cluster. A single node is "single node", ok.
//
// TODO(cluster-core): summarise the transport's state (NATS connected or
// not, nodes seen) once it exists; until then an enabled cluster is only
// configured.
func (h *Host) ClusterSummary() (summary string, ok bool) {
	c := h.cfg.Cluster
	if !c.Enabled() {
		return "single node", true
	}
	name := c.Name
	if name == "" {
		name = "mrci"
	}
	return "cluster " + name + ": configured, not connected (the NATS transport is not built yet)", false
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
