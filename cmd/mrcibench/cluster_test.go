package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestClusterMode runs the cluster mode small against a freshly built
// mrci: one node, then three nodes on the test PostgreSQL server and an
// embedded NATS server. Every receiver must get every cast once, NATS
// must carry each cast once (/varz), and the output must hold the
// figures an operator reads.
func TestClusterMode(t *testing.T) {
	base := pgtest.Base(t)
	bin := filepath.Join(t.TempDir(), "mrci")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/mrci/mrci/cmd/mrci").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // safety net
	defer cancel()
	var out bytes.Buffer
	root, tgt := newRoot(&out)
	root.SetArgs([]string{"--spawn", bin, "--workers", "4", "cluster", "--nodes", "3", "-n", "12", "-m", "300", "-s", "64",
		"--database", base})
	err := root.ExecuteContext(ctx)
	tgt.stop()
	t.Log(out.String())
	if err != nil {
		t.Fatalf("cluster mode: %v", err)
	}
	text := out.String()
	for _, re := range []string{
		`(?m)^round 1 nodes=1 n=12 m=300 size=64: delivered 3600/3600, lost 0, duplicated 0, disconnected 0, dropped by the load tool 0: PASS; \d+ msgs/s, host CPU [0-9.]+ µs per delivery, latency p50 \S+ p99 \S+( \(\d+ log-ins tried again: the database was busy\))?$`,
		`(?m)^round 1 nodes=3 n=12 m=300 size=64: delivered 3600/3600, lost 0, duplicated 0, disconnected 0, dropped by the load tool 0: PASS; \d+ msgs/s, host CPU [0-9.]+ µs per delivery, latency p50 \S+ p99 \S+( \(\d+ log-ins tried again: the database was busy\))?; ` +
			`NATS /varz in_msgs \+(\d+) \(want 301 casts \+ (\d+) heartbeats = (\d+)\), out_msgs \+(\d+) \(want 301 casts × 2 other nodes \+ (\d+) heartbeat deliveries = (\d+)\): PASS$`,
		`(?m)^summary: host CPU per delivery 1 node [0-9.]+ µs, 3 nodes [0-9.]+ µs: ratio 3 nodes / 1 node .+; p99 latency 1 node \S+, 3 nodes \S+$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s", re)
		}
	}
	if strings.Contains(text, "FAIL") {
		t.Error("output reports a failure")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}

// TestNATSCheck: the /varz check passes only for one publish per cast,
// delivered once to every other receiving node, heartbeats accounted.
func TestNATSCheck(t *testing.T) {
	snap := func(in, out, node int64) natsSnapshot {
		return natsSnapshot{varzCounts: varzCounts{In: in, Out: out}, nodeMsgs: node}
	}
	before := snap(1000, 5000, 40)
	for _, c := range []struct {
		name  string
		after natsSnapshot
		ok    bool
	}{
		{"exact, no heartbeat", snap(1301, 5602, 40), true},
		{"exact, 3 heartbeats", snap(1304, 5608, 46), true},
		{"a publish per receiver", snap(1000+301*8, 5000+301*8, 40), false},
		{"one cast delivered twice", snap(1301, 5603, 40), false},
		{"one cast not forwarded", snap(1301, 5601, 40), false},
		{"an extra publish", snap(1302, 5604, 40), false},
		{"a heartbeat delivered to one node only", snap(1302, 5603, 41), false},
	} {
		if got := newNATSCheck(before, c.after, 301, 2); got.ok() != c.ok {
			t.Errorf("%s: ok = %v, want %v (%s)", c.name, got.ok(), c.ok, got)
		}
	}
}
