package cluster_test

import (
	"context"
	"net"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/wire"
)

// heal lets the cutter's node dial again (it reconnects on its own).
func (c *cutter) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = false
}

// TestResyncAfterReconnect makes host-wide changes on node 2 while the
// two nodes cannot hear each other (the NATS server stopped, node 1 cut
// off, node 2 cut off): their events are lost, so node 1 learns them only
// by reading the database again when the link comes back. A command
// ranked for alice's rank on node 2 appears in the command table of
// alice's session on node 1 (ASYNC_ADD_CMD), and node 1 refuses the
// address banned on node 2 (docs/cluster.md "Partitions").
func TestResyncAfterReconnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  int // the node cut off (-1: the NATS server stops)
	}{
		{"nats restarted", -1},
		{"this node cut off", 0},
		{"other node cut off", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startNATS(t)
			cut := &cutter{}
			w := newWorld(t, hosttest.ClusterOptions{Nodes: 2, URLs: []string{ns.url()},
				Dial: func(i int) func(string, string) (net.Conn, error) {
					if i == tc.cut {
						return cut.dial
					}
					return nil
				}})
			a := w.login("alice", 0)
			if _, ok := a.c.CommandID("ls_users"); ok {
				t.Fatal("alice (rank 2) has the unranked ls_users")
			}
			apart := w.hosts
			if tc.cut >= 0 {
				apart = w.hosts[tc.cut : tc.cut+1]
				cut.cutOff()
			} else {
				ns.stop()
			}
			waitFor(t, "NATS lost", func() bool {
				for _, h := range apart {
					if st, _ := h.ClusterStatus(); st.Connected {
						return false
					}
				}
				return true
			})

			// What add_ranked_cmd and add_ban do on node 2; their events
			// go nowhere.
			w.hosts[1].RankAll(t, 2, "ls_users")
			if err := w.hosts[1].Store.AddBan(context.Background(), "192.0.2.9"); err != nil {
				t.Fatal(err)
			}
			w.hosts[1].ReloadBans()
			banned := netipMust(t, "192.0.2.9")
			if !w.hosts[1].Banned(banned) {
				t.Fatal("node 2 did not apply its own ban")
			}

			if tc.cut >= 0 {
				cut.heal()
			} else {
				ns.start()
			}
			waitFor(t, "the nodes to reconnect", w.connected)
			for {
				f := a.nextCmdTableFrame()
				if f.Cmd != uint16(wire.AsyncAddCmd) {
					continue
				}
				if nc, err := wire.ParseNewCmd(f.Payload); err == nil && nc.Name == "ls_users" {
					break
				}
			}
			// The resync reloads the bans before the command tables.
			if !w.hosts[0].Banned(banned) {
				t.Fatal("node 1 resynchronised the command ranks but not the bans")
			}
		})
	}
}

// nextCmdTableFrame returns the next ASYNC_ADD_CMD or ASYNC_RM_CMD frame.
func (p *peer) nextCmdTableFrame() wire.Frame {
	p.t.Helper()
	return p.nextWhere("change to the command table", func(f wire.Frame) bool {
		return f.Cmd == uint16(wire.AsyncAddCmd) || f.Cmd == uint16(wire.AsyncRmCmd)
	})
}
