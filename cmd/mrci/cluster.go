package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/cluster"
)

// clusterFlags are the cluster flags of `mrci serve` (docs/cluster.md).
// Like every serve flag they are also config file keys and MRCI_*
// variables (MRCI_CLUSTER_PASSWORD keeps a password off the command line).
type clusterFlags struct {
	urls                   []string
	name                   string
	creds                  string
	user, password, token  string
	tlsCA, tlsCert, tlsKey string
	nodeID                 string
}

func addClusterFlags(c *cobra.Command) *clusterFlags {
	f := &clusterFlags{}
	fl := c.Flags()
	fl.StringSliceVar(&f.urls, "cluster", nil, "join a cluster through these NATS servers: nats://host:4222[,nats://...] (needs --database postgres://...; empty: a single host)")
	fl.StringVar(&f.name, "cluster-name", "mrci", "cluster name: prefixes every NATS subject, so clusters can share NATS servers (letters, digits, - and _)")
	fl.StringVar(&f.creds, "cluster-creds", "", "NATS credentials file (JWT and NKey seed)")
	fl.StringVar(&f.user, "cluster-user", "", "NATS user name (with --cluster-password)")
	fl.StringVar(&f.password, "cluster-password", "", "NATS password (prefer MRCI_CLUSTER_PASSWORD or the config file: the command line is visible to other users)")
	fl.StringVar(&f.token, "cluster-token", "", "NATS authentication token (prefer MRCI_CLUSTER_TOKEN or the config file)")
	fl.StringVar(&f.tlsCA, "cluster-tls-ca", "", "CA bundle (PEM) that verifies the NATS servers' certificates")
	fl.StringVar(&f.tlsCert, "cluster-tls-cert", "", "client certificate (PEM) presented to the NATS servers")
	fl.StringVar(&f.tlsKey, "cluster-tls-key", "", "private key (PEM) of --cluster-tls-cert")
	fl.StringVar(&f.nodeID, "node-id", "", "this node's id, unique in the cluster (letters, digits, - and _; default: generated at first start and kept in the data directory's node-id file)")
	return f
}

// tokenRE is what a node id and a cluster name may be: one NATS subject
// token that is never a wildcard.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkToken validates a node id or cluster name.
func checkToken(flag, v string) error {
	if !tokenRE.MatchString(v) {
		return fmt.Errorf("--%s %q: want 1 to 64 letters, digits, - or _ (it is a NATS subject token)", flag, v)
	}
	return nil
}

// nodeIDFile keeps the generated node id of a data directory.
const nodeIDFile = "node-id"

// options returns the cluster options of this node. The node id is
// resolved in every mode (the single-node default shows it too); joining
// a cluster needs a PostgreSQL database.
func (f *clusterFlags) options(o *options) (cluster.Options, error) {
	var co cluster.Options
	if err := checkToken("cluster-name", f.name); err != nil {
		return co, err
	}
	for _, raw := range f.urls {
		for u := range strings.SplitSeq(raw, ",") {
			if u = strings.TrimSpace(u); u == "" {
				continue
			}
			if err := checkNATSURL(u); err != nil {
				return co, err
			}
			co.URLs = append(co.URLs, u)
		}
	}
	if !co.Enabled() {
		for _, n := range []struct{ flag, v string }{{"cluster-creds", f.creds}, {"cluster-user", f.user},
			{"cluster-password", f.password}, {"cluster-token", f.token}, {"cluster-tls-ca", f.tlsCA},
			{"cluster-tls-cert", f.tlsCert}, {"cluster-tls-key", f.tlsKey}} {
			if n.v != "" {
				return co, fmt.Errorf("--%s is set but --cluster is not: give the NATS servers with --cluster nats://host:4222", n.flag)
			}
		}
	}
	if co.Enabled() && !o.usesPostgres() {
		return co, errors.New("--cluster needs a database every node shares: give --database postgres://... " +
			"(the same on every node); the SQLite file in the data directory belongs to one host")
	}
	switch {
	case f.token != "" && (f.user != "" || f.password != ""):
		return co, errors.New("--cluster-token and --cluster-user/--cluster-password exclude each other")
	case f.password != "" && f.user == "":
		return co, errors.New("--cluster-password needs --cluster-user")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return co, errors.New("--cluster-tls-cert and --cluster-tls-key go together")
	}
	for _, n := range []struct{ flag, path string }{{"cluster-creds", f.creds}, {"cluster-tls-ca", f.tlsCA},
		{"cluster-tls-cert", f.tlsCert}, {"cluster-tls-key", f.tlsKey}} {
		if n.path == "" {
			continue
		}
		if _, err := os.Stat(n.path); err != nil {
			return co, fmt.Errorf("--%s: %w", n.flag, err)
		}
	}
	id, err := nodeID(o.dataDir, f.nodeID)
	if err != nil {
		return co, err
	}
	co.Name, co.NodeID = f.name, id
	co.CredsFile, co.User, co.Password, co.Token = f.creds, f.user, f.password, f.token
	co.TLSCA, co.TLSCert, co.TLSKey = f.tlsCA, f.tlsCert, f.tlsKey
	return co, nil
}

// checkNATSURL validates one NATS server URL.
func checkNATSURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("--cluster %q: %w", redactDSN(u), err)
	}
	switch p.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("--cluster %q: want nats://host:port (or tls://, ws://, wss://)", redactDSN(u))
	}
	if p.Hostname() == "" {
		return fmt.Errorf("--cluster %q: no host", redactDSN(u))
	}
	return nil
}

// nodeID returns the node id: the given one, else the one kept in the
// data directory, else a new one (host name and random digits) that is
// kept there for the next start.
func nodeID(dataDir, given string) (string, error) {
	if given != "" {
		return given, checkToken("node-id", given)
	}
	path := filepath.Join(dataDir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if err := checkToken("node-id", id); err != nil {
			return "", fmt.Errorf("%s: %w (fix or delete the file)", path, err)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node id: %w", err)
	}
	id, err := newNodeID()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	// O_EXCL: two starts racing on a fresh directory agree on the winner's id.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nodeID(dataDir, "")
	}
	if err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	_, err = fh.WriteString(id + "\n")
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("node id: %w", err)
	}
	return id, nil
}

// newNodeID makes an id from the host name (its first label, reduced to
// token characters) and 6 random hex digits.
func newNodeID() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	name, _ := os.Hostname()
	name, _, _ = strings.Cut(name, ".")
	name = strings.Map(func(r rune) rune {
		if r < 128 && tokenRE.MatchString(string(r)) {
			return r
		}
		return -1
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = "node"
	}
	return name + "-" + hex.EncodeToString(b[:]), nil
}
