package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

func castCmd(t *target) *cobra.Command {
	var n, m, size, rate int
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "cast",
		Short: "1 sender casts m messages of s bytes to n receivers on one sub-channel",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			sender, err := t.login(ctx)
			if err != nil {
				return fmt.Errorf("sender: %w", err)
			}
			defer sender.Close()
			ch, err := addCastChannel(ctx, sender)
			if err != nil {
				return err
			}
			defer func() { _ = run(context.Background(), sender, "rm_ch", "-ch_name "+ch) }()
			t.asyncBuffer = castBuffer(n, m)
			receivers, err := t.loginMany(ctx, n)
			if err != nil {
				return fmt.Errorf("receivers: %w", err)
			}
			defer closeAll(receivers)
			r, err := runCasts(ctx, castRun{
				sender: sender, receivers: receivers, ch: ch,
				m: m, size: size, rate: rate, timeout: timeout, cpu: t.hostCPU,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(),
				"cast n=%d m=%d size=%d rate=%d %s: delivered %d/%d (%.1f%%) in %v: %.0f msgs/s (%.1f MB/s), sent %.0f msgs/s, latency p50 %v p99 %v, "+
					"lost by receivers still connected %d (%d of them skipped before a later cast arrived), duplicated %d, receivers disconnected %d, dropped by the load tool's own buffers %d, host CPU %.0f ns per delivery, GOMAXPROCS %d\n",
				n, m, r.size, rate, t.transport(), r.delivered, r.total, 100*float64(r.delivered)/float64(r.total), r.elapsed.Round(time.Millisecond),
				r.rate(), r.rate()*float64(r.size)/1e6,
				float64(m)/r.sendDur.Seconds(), r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
				r.lost, r.skipped, r.duplicated, r.disconnected, r.dropped, r.cpuPerDelivery(), runtime.GOMAXPROCS(0))
			return nil
		},
	}
	c.Flags().IntVarP(&n, "receivers", "n", 10, "receiving sessions")
	c.Flags().IntVarP(&m, "messages", "m", 100000, "messages to cast")
	c.Flags().IntVarP(&size, "size", "s", 64, "payload bytes per message (≥16)")
	c.Flags().IntVar(&rate, "rate", 0, "messages per second to send (0: as fast as possible); latency is meaningful below saturation")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up waiting for deliveries after this long without any (a receiver the host disconnected as a slow consumer gets no more)")
	return c
}

// addCastChannel creates a channel with a random name and its sub-channel
// "main" with the real commands, and opens it for the sender.
func addCastChannel(ctx context.Context, sender *client.Client) (string, error) {
	ch := fmt.Sprintf("bench%06d", rand.IntN(1e6))
	for _, step := range [][2]string{
		{"add_ch", "-ch_name " + ch},
		{"add_sub_ch", "-ch_name " + ch + " -sub_name main"},
		{"open_sub_ch", "-ch_name " + ch + " -sub_name main"},
	} {
		if err := run(ctx, sender, step[0], step[1]); err != nil {
			return "", err
		}
	}
	return ch, nil
}

// castBuffer is the async buffer of a receiver of m casts among n: room
// for the set-up traffic (a PEER_STAT from every other receiver's
// open_sub_ch) and every cast of the run, so the load tool itself drops
// nothing and every miss is the host's; no more, since a channel's buffer
// is allocated whole. All receivers together get at most 1 GiB of frame
// headers (beyond that a receiver that falls behind drops the oldest
// frames, and the output counts them).
func castBuffer(n, m int) int {
	per := n + m + 1024
	if most := (1 << 30) / 64 / max(n, 1); per > most {
		per = max(most, 1024)
	}
	return per
}

// castRun is one measured run of casts: sender (with the sub-channel ch
// of its channel open) casts m messages of size bytes, at rate per second
// (0: back to back), to receivers, which open it first.
type castRun struct {
	sender    *client.Client
	receivers []*client.Client
	ch        string
	m, size   int
	rate      int
	timeout   time.Duration // give up after this long without a delivery
	// cpu returns the host CPU time used so far (all host processes).
	cpu func() time.Duration
	// before and after, when set, are called right before the first
	// measured cast and after the last delivery (or the timeout): the
	// window in which the run's casts, and nothing else of the load
	// tool's, reach the host.
	before, after func() error
}

// castResult is what runCasts measured.
type castResult struct {
	size             int
	delivered, total int64 // casts received (each counted once) and n × m
	elapsed          time.Duration
	sendDur          time.Duration
	p50, p99         time.Duration
	// lost: missing at receivers still connected (skipped: of those, the
	// ones a later cast overtook); duplicated: received again or out of
	// order; disconnected: receivers the host closed (slow consumers).
	lost, skipped, duplicated, disconnected int
	dropped                                 uint64 // by the clients' own buffers
	cpu                                     time.Duration
}

// rate is deliveries per second.
func (r castResult) rate() float64 { return float64(r.delivered) / r.elapsed.Seconds() }

// cpuPerDelivery is the host's CPU time per delivery in nanoseconds.
func (r castResult) cpuPerDelivery() float64 {
	return float64(r.cpu.Nanoseconds()) / float64(max(r.delivered, 1))
}

// exact says whether every receiver got every cast exactly once.
func (r castResult) exact() bool {
	return r.delivered == r.total && r.duplicated == 0 && r.disconnected == 0 && r.dropped == 0
}

// runCasts opens the sub-channel for the receivers, settles the set-up
// traffic and measures the casts.
func runCasts(ctx context.Context, cr castRun) (castResult, error) {
	n, m, size, receivers := len(cr.receivers), cr.m, max(cr.size, 16), cr.receivers
	res := castResult{size: size, total: int64(n) * int64(m)}
	for _, r := range receivers {
		if err := run(ctx, r, "open_sub_ch", "-ch_name "+cr.ch+" -sub_name main"); err != nil {
			return res, err
		}
	}
	call, err := cr.sender.Start(ctx, "cast")
	if err != nil {
		return res, err
	}
	go func() { // drain the IDLE of every cast call
		for {
			if _, err := call.Next(ctx); err != nil {
				return
			}
		}
	}()
	// Settle the set-up traffic (every receiver opening the sub-channel
	// sends PEER_STAT to the others: n²/2 deliveries) before measuring: a
	// first cast reaches each receiver after everything sent to it before
	// (one ordered path per receiver).
	barrier := make([]byte, size)
	binary.LittleEndian.PutUint64(barrier[8:], barrierSeq)
	if err := call.Send(wire.TypeBytes, barrier); err != nil {
		return res, err
	}
	settleBy := time.Now().Add(2 * time.Minute)
	for i, r := range receivers {
		if err := awaitBarrier(ctx, r, time.Until(settleBy)); err != nil {
			return res, fmt.Errorf("receiver %d: %w", i, err)
		}
	}

	var received atomic.Int64
	got := make([]int, n)          // casts each receiver received
	gaps := make([]int, n)         // casts missing before a later one arrived
	dups := make([]int, n)         // casts received again or out of order
	told := make([]atomic.Bool, n) // the host's slow consumer notice arrived
	// progress[i] is receiver i's running count, read while waiting
	// (one cache line each, so receivers do not contend).
	progress := make([]struct {
		atomic.Int64
		_ [56]byte
	}, n)
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	stop := make(chan struct{}) // give up waiting (some were dropped)
	// Receivers range over the client's async channel (it closes when the
	// client does), read the clock only for sampled messages and the last
	// cast, and count deliveries locally. The end marker, cast after the
	// last message, ends a receiver's loop: one sender's casts arrive in
	// order, so a duplicate sent before it is counted too.
	var lastMu sync.Mutex
	var lastAt int64
	noteLast := func(ns int64) {
		lastMu.Lock()
		lastAt = max(lastAt, ns)
		lastMu.Unlock()
	}
	for i, r := range receivers {
		wg.Go(func() {
			mine, lastSample := 0, int64(0)
			next := uint64(0) // the sequence number expected next
			defer func() {
				got[i] = mine
				received.Add(int64(mine))
				noteLast(lastSample)
			}()
			for f := range r.Async() {
				if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeErr && strings.Contains(wire.DecodeText(f.Payload), "slow consumer") {
					told[i].Store(true) // disconnected as a slow consumer
				}
				if f.Cmd != uint16(wire.AsyncCast) || len(f.Payload) < 16 {
					continue
				}
				seq := binary.LittleEndian.Uint64(f.Payload[8:])
				if seq == endSeq {
					return
				}
				if seq < next {
					dups[i]++
					continue
				}
				gaps[i] += int(seq - next)
				next = seq + 1
				mine++
				progress[i].Store(int64(mine))
				if seq%97 == 0 || seq == uint64(m-1) {
					now := time.Now().UnixNano()
					lastSample = now
					lat[i] = append(lat[i], time.Duration(now-int64(binary.LittleEndian.Uint64(f.Payload))))
				}
			}
		})
	}
	go func() { // on timeout, close the receivers so their loops end
		<-stop
		closeAll(receivers)
	}()
	payload := make([]byte, size)
	if cr.before != nil {
		if err := cr.before(); err != nil {
			close(stop)
			wg.Wait()
			return res, err
		}
	}
	cpu0 := cr.cpu()
	start := time.Now()
	for i := range m {
		if cr.rate > 0 { // pace the sender: message i is due at i/rate seconds
			if due := start.Add(time.Duration(float64(i) / float64(cr.rate) * float64(time.Second))); time.Until(due) > time.Millisecond {
				time.Sleep(time.Until(due))
			}
		}
		binary.LittleEndian.PutUint64(payload[0:], uint64(time.Now().UnixNano()))
		binary.LittleEndian.PutUint64(payload[8:], uint64(i))
		if err := call.Send(wire.TypeBytes, payload); err != nil {
			close(stop)
			wg.Wait()
			return res, err
		}
	}
	res.sendDur = time.Since(start)
	binary.LittleEndian.PutUint64(payload[8:], endSeq)
	if err := call.Send(wire.TypeBytes, payload); err != nil {
		close(stop)
		wg.Wait()
		return res, err
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	// Wait while deliveries make progress; give up after timeout without
	// any.
	tick := time.NewTicker(100 * time.Millisecond)
	var seen int64
	idleSince := time.Now()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-ctx.Done():
			break wait
		case now := <-tick.C:
			var sum int64
			for i := range progress {
				sum += progress[i].Load()
			}
			if sum != seen {
				seen, idleSince = sum, now
			} else if now.Sub(idleSince) > cr.timeout {
				break wait
			}
		}
	}
	tick.Stop()
	res.cpu = cr.cpu() - cpu0
	// A receiver whose connection the host closed (a slow consumer) is
	// told apart from one that is still connected: a cast missing at a
	// connected receiver is a lost cast.
	gone := make([]bool, n)
	for i, r := range receivers {
		select {
		case <-r.Done():
			gone[i] = true
		default:
			gone[i] = told[i].Load()
		}
	}
	var afterErr error
	if cr.after != nil {
		afterErr = cr.after()
	}
	close(stop)
	wg.Wait()
	res.elapsed = time.Duration(lastAt - start.UnixNano())
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.p50, res.p99 = quantiles(all)
	res.delivered = received.Load()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	for i, r := range receivers {
		res.dropped += r.DroppedAsync()
		res.duplicated += dups[i]
		if gone[i] {
			res.disconnected++
		} else {
			res.lost += m - got[i] - int(r.DroppedAsync())
			res.skipped += gaps[i]
		}
	}
	return res, afterErr
}

// barrierSeq marks the cast that settles the set-up traffic; endSeq the
// one after the last measured cast.
const (
	barrierSeq = ^uint64(0)
	endSeq     = barrierSeq - 1
)

// awaitBarrier discards a receiver's async frames up to the barrier cast.
func awaitBarrier(ctx context.Context, r *client.Client, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-r.Async():
			if !ok {
				return errors.New("connection ended before the first cast")
			}
			if f.Cmd == uint16(wire.AsyncCast) && len(f.Payload) >= 16 && binary.LittleEndian.Uint64(f.Payload[8:]) == barrierSeq {
				return nil
			}
		case <-timer.C:
			return fmt.Errorf("no first cast within %v", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func rttCmd(t *target) *cobra.Command {
	var m int
	var command string
	c := &cobra.Command{
		Use:   "rtt",
		Short: "sequential round trips of a cheap command",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cl, err := t.login(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			call, err := cl.Start(ctx, command)
			if err != nil {
				return err
			}
			d := make([]time.Duration, 0, m)
			start := time.Now()
			for range m {
				t0 := time.Now()
				if _, err := call.Run(ctx, wire.TypeText, nil, nil); err != nil {
					return err
				}
				d = append(d, time.Since(t0))
			}
			total := time.Since(start)
			p50, p99 := quantiles(d)
			fmt.Fprintf(cmd.OutOrStdout(), "rtt %s m=%d %s: %.0f ops/s, p50 %v p99 %v\n",
				command, m, t.transport(), float64(m)/total.Seconds(), p50.Round(time.Microsecond), p99.Round(time.Microsecond))
			return nil
		},
	}
	c.Flags().IntVarP(&m, "messages", "m", 20000, "round trips")
	c.Flags().StringVar(&command, "command", "my_info", "command to call")
	return c
}

func connCmd(t *target) *cobra.Command {
	var m, conc int
	c := &cobra.Command{
		Use:   "conn",
		Short: "connections with the full set-up (header, TLS if offered, ASYNC_RDY) per second",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var next atomic.Int64
			var mu sync.Mutex
			var d []time.Duration
			var failed atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(m) {
						t0 := time.Now()
						c, err := t.dial(ctx)
						if err != nil {
							failed.Add(1)
							continue
						}
						el := time.Since(t0)
						_ = c.Close()
						mu.Lock()
						d = append(d, el)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			total := time.Since(start)
			p50, p99 := quantiles(d)
			fmt.Fprintf(cmd.OutOrStdout(), "conn m=%d c=%d %s: %.0f conns/s, set-up p50 %v p99 %v, failed %d\n",
				m, conc, t.transport(), float64(len(d))/total.Seconds(), p50.Round(time.Microsecond), p99.Round(time.Microsecond), failed.Load())
			return nil
		},
	}
	c.Flags().IntVarP(&m, "messages", "m", 2000, "connections to make")
	c.Flags().IntVarP(&conc, "concurrency", "c", 8, "concurrent connectors")
	return c
}

func idleCmd(t *target) *cobra.Command {
	var n int
	var anonymous bool
	var settle time.Duration
	c := &cobra.Command{
		Use:   "idle",
		Short: "n idle logged-in sessions: host memory per session",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if t.pid == 0 {
				return fmt.Errorf("idle needs --spawn or --host-pid")
			}
			warm, err := t.loginMany(ctx, 8)
			if err != nil {
				return err
			}
			closeAll(warm)
			time.Sleep(500 * time.Millisecond)
			before, err := rss(t.pid)
			if err != nil {
				return err
			}
			live0 := t.liveMemory(ctx)
			connect := t.loginMany
			if anonymous {
				connect = t.dialMany
			}
			cs, err := connect(ctx, n)
			if err != nil {
				return err
			}
			defer closeAll(cs)
			time.Sleep(settle)
			after, err := rss(t.pid)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "idle n=%d anonymous=%v %s: host RSS %.1f MiB -> %.1f MiB, %.1f KiB per session%s\n",
				n, anonymous, t.transport(), float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/float64(n)/1024,
				live0.perSession(t.liveMemory(ctx), n))
			return nil
		},
	}
	c.Flags().IntVarP(&n, "sessions", "n", 1000, "idle sessions")
	c.Flags().BoolVar(&anonymous, "anonymous", false, "connect without logging in")
	c.Flags().DurationVar(&settle, "settle", 5*time.Second, "wait this long after connecting before reading the host's memory")
	return c
}
