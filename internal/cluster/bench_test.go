package cluster_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/postgres"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// fanoutReceivers is the audience of BenchmarkCastFanout.
const fanoutReceivers = 1000

// BenchmarkCastFanout casts from one session to 1,000 receivers: all on
// one node (no NATS), or spread over three nodes of a cluster (the sender
// on the first). The hosts run in child processes, so "host-µs/delivery"
// is the hosts' own CPU time (user + system, all nodes) per delivered
// frame, apart from the clients' and the NATS server's; p50/p99 are the
// latencies from the sender's cast to each receiver's client. Each b.N is
// one cast (b.N × 1,000 deliveries); run with -benchtime=2000x.
func BenchmarkCastFanout(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) { benchFanout(b, nodes) })
	}
}

func benchFanout(b *testing.B, nodes int) {
	dsn := hosttest.PostgresDSN(b)
	natsURL, name := "", ""
	if nodes > 1 {
		natsURL, name = hosttest.NATSURL(b), fmt.Sprintf("mrcibench%d", time.Now().UnixNano())
	}
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const pw = "Bench-Pass-1234"
	if _, err := host.EnsureRoot(ctx, st, hosttest.Params, pw); err != nil {
		b.Fatal(err)
	}
	if err := st.SaveAccountLimits(ctx, hosttest.NoDelays()); err != nil {
		b.Fatal(err)
	}
	set, err := st.Settings(ctx)
	if err != nil {
		b.Fatal(err)
	}
	set.ActiveUpdates = false // no PEER_STAT storm while 1,000 sessions open
	if err := st.SaveSettings(ctx, set); err != nil {
		b.Fatal(err)
	}
	root, err := st.UserByName(ctx, "root")
	if err != nil {
		b.Fatal(err)
	}
	ch, err := st.CreateChannel(ctx, "fanout", root.ID)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateSubChannel(ctx, ch.ID, "main", 50); err != nil {
		b.Fatal(err)
	}
	for _, c := range []string{"open_sub_ch", "cast"} {
		if err := st.AddCommandRank(ctx, store.CommandRank{Module: store.InternalModule, Command: c, Rank: 2}); err != nil {
			b.Fatal(err)
		}
	}
	// One account per session: concurrent logins of one account are
	// slowed down by the login hardening (docs/accounts.md).
	hash, err := password.Hash(pw, hosttest.Params)
	if err != nil {
		b.Fatal(err)
	}
	for i := range fanoutReceivers + 1 {
		u := store.User{Name: fmt.Sprintf("fan%04d", i), Email: fmt.Sprintf("fan%04d@example.com", i), PasswordHash: hash, Rank: 2}
		binary.LittleEndian.PutUint64(u.ID[:], uint64(i+1))
		u.ID[31] = 0xFA
		if err := st.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
		if err := st.AddMember(ctx, store.Member{ChannelID: ch.ID, UserID: u.ID, Level: 4}); err != nil {
			b.Fatal(err)
		}
	}
	children := make([]*child, nodes)
	for i := range children {
		children[i] = spawn(b, dsn, natsURL, name, fmt.Sprintf("n%d", i+1))
	}
	login := func(addr string, i int) (*client.Client, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		c, err := client.Dial(cctx, addr, client.Options{AppName: "fanout", AsyncBuffer: b.N + 64})
		if err != nil {
			return nil, err
		}
		if err := c.Login(cctx, fmt.Sprintf("fan%04d", i), pw); err != nil {
			_ = c.Close()
			return nil, err
		}
		if err := runCmd(cctx, c, "open_sub_ch", "-ch_name fanout -sub_name main"); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	}
	sender, err := login(children[0].addr, fanoutReceivers)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	// Logins one at a time: concurrent password answers from one address
	// can be delayed by the login hardening even with delays off (a claim
	// that started earlier sees a later claim's time as the last failure).
	recv := make([]*client.Client, fanoutReceivers)
	defer func() {
		for _, c := range recv {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	for i := range recv {
		if recv[i], err = login(children[i%nodes].addr, i); err != nil {
			b.Fatal(err)
		}
	}
	call, err := sender.Start(ctx, "cast")
	if err != nil {
		b.Fatal(err)
	}
	cast := func(mark uint64) {
		p := make([]byte, 64)
		binary.LittleEndian.PutUint64(p, mark)
		binary.LittleEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
		if _, err := call.Run(ctx, wire.TypeBytes, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	// Warm up: every receiver gets a first cast before the clock starts.
	cast(0)
	for _, r := range recv {
		if f := <-r.Async(); f.Cmd != uint16(wire.AsyncCast) {
			for f.Cmd != uint16(wire.AsyncCast) {
				f = <-r.Async()
			}
		}
	}
	lat := make([][]time.Duration, len(recv))
	var done sync.WaitGroup
	for i, r := range recv {
		done.Go(func() {
			l := make([]time.Duration, 0, b.N)
			timeout := time.NewTimer(5 * time.Minute)
			defer timeout.Stop()
			for len(l) < b.N {
				select {
				case f := <-r.Async():
					if f.Cmd == uint16(wire.AsyncCast) && len(f.Payload) >= 16 {
						sent := int64(binary.LittleEndian.Uint64(f.Payload[8:]))
						l = append(l, time.Duration(time.Now().UnixNano()-sent))
					}
				case <-timeout.C:
					lat[i] = l
					return
				}
			}
			lat[i] = l
		})
	}
	cpu0 := hostsCPU(b, children)
	b.ResetTimer()
	for i := range b.N {
		cast(uint64(i + 1))
	}
	done.Wait()
	b.StopTimer()
	cpu := hostsCPU(b, children) - cpu0
	all := slices.Concat(lat...)
	if len(all) != b.N*len(recv) {
		b.Fatalf("%d deliveries, want %d", len(all), b.N*len(recv))
	}
	slices.Sort(all)
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "host-µs/delivery")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

func hostsCPU(b *testing.B, cs []*child) time.Duration {
	var d time.Duration
	for _, c := range cs {
		d += c.cpu(b)
	}
	return d
}

// runCmd runs a command with text arguments that must succeed.
func runCmd(ctx context.Context, c *client.Client, name, args string) error {
	call, err := c.Start(ctx, name)
	if err != nil {
		return err
	}
	res, err := call.Run(ctx, wire.TypeText, wire.EncodeText(args), nil)
	if err != nil {
		return err
	}
	return res.Err()
}
