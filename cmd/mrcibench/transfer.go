package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// patternReader yields n pseudo-random bytes from a fixed 1 MiB block, so
// that a large upload costs no memory on the load tool's side.
type patternReader struct {
	block []byte
	left  int64
	pos   int
}

func newPattern(n int64) *patternReader {
	b := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(b)
	return &patternReader{block: b, left: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(int64(len(b)), p.left)], p.block[p.pos:])
	p.pos = (p.pos + n) % len(p.block)
	p.left -= int64(n)
	return n, nil
}

// peakRSS samples a process's RSS until stop closes and returns the peak.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if r, err := rss(pid); err == nil {
				peak = max(peak, r)
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

func transferCmd(t *target) *cobra.Command {
	var sizeMB, parallel, chunk, casts int
	c := &cobra.Command{
		Use:   "transfer",
		Short: "upload then download files through fs_upload/fs_download (pkg/client); with --casts, cast rate beside a download",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			size := int64(sizeMB) << 20
			clients, err := t.loginMany(ctx, parallel)
			if err != nil {
				return err
			}
			defer closeAll(clients)
			names := make([]string, parallel)
			for i := range names {
				names[i] = fmt.Sprintf("mrcibench-%d-%d.bin", i, rand.IntN(1e9))
			}
			defer func() {
				for i, n := range names {
					_ = run(context.Background(), clients[i], "fs_delete", "-force -path "+n)
				}
			}()
			phase := func(what string, fn func(i int) (int64, error)) error {
				base, _ := rss(t.pid)
				hostCPU0, selfCPU0 := procCPU(t.pid), selfCPU()
				stop := make(chan struct{})
				var peak <-chan int64
				if t.pid != 0 {
					peak = peakRSS(t.pid, stop)
				}
				start := time.Now()
				var wg sync.WaitGroup
				errs := make([]error, parallel)
				var total atomic.Int64
				for i := range parallel {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n, err := fn(i)
						total.Add(n)
						errs[i] = err
					}()
				}
				wg.Wait()
				el := time.Since(start)
				hostCPU, selfCPU := procCPU(t.pid)-hostCPU0, selfCPU()-selfCPU0
				close(stop)
				for _, err := range errs {
					if err != nil {
						return fmt.Errorf("%s: %w", what, err)
					}
				}
				mem := ""
				if peak != nil {
					p := <-peak
					mem = fmt.Sprintf(", host RSS %.0f MiB before, peak %.0f MiB (+%.0f MiB)",
						float64(base)/(1<<20), float64(p)/(1<<20), float64(p-base)/(1<<20))
					if hwm, err := statusBytes(t.pid, "VmHWM:"); err == nil {
						mem += fmt.Sprintf(", VmHWM %.0f MiB", float64(hwm)/(1<<20))
					}
				}
				gb := float64(total.Load()) / 1e9
				if t.pid != 0 {
					mem += fmt.Sprintf(", CPU per GB: host %.2f s, load tool %.2f s", hostCPU.Seconds()/gb, selfCPU.Seconds()/gb)
				}
				fmt.Fprintf(out, "%s %d x %d MiB tls=%v: %.2f GB/s (%v)%s\n", what, parallel, sizeMB, t.tls,
					gb/el.Seconds(), el.Round(time.Millisecond), mem)
				return nil
			}
			opts := client.TransferOptions{Overwrite: true, Truncate: true, ChunkSize: chunk}
			if err := phase("upload", func(i int) (int64, error) {
				return clients[i].Upload(ctx, names[i], newPattern(size), size, opts)
			}); err != nil {
				return err
			}
			if err := phase("download", func(i int) (int64, error) {
				return clients[i].Download(ctx, names[i], io.Discard, client.TransferOptions{})
			}); err != nil {
				return err
			}
			if casts > 0 {
				return castBesideDownload(ctx, t, out, clients[0], names[0], casts)
			}
			return nil
		},
	}
	c.Flags().IntVar(&sizeMB, "size", 1024, "file size in MiB")
	c.Flags().IntVarP(&parallel, "parallel", "p", 1, "concurrent transfers (one session each)")
	c.Flags().IntVar(&chunk, "chunk", client.DefaultChunkSize, "upload frame payload size")
	c.Flags().IntVar(&casts, "casts", 0, "then measure the rate of this many casts from the first session, alone and while it downloads")
	return c
}

// castBesideDownload measures how fast sender's casts reach a receiver,
// alone and while the same session downloads name.
func castBesideDownload(ctx context.Context, t *target, out io.Writer, sender *client.Client, name string, m int) error {
	ch, err := addCastChannel(ctx, sender)
	if err != nil {
		return err
	}
	defer func() { _ = run(context.Background(), sender, "rm_ch", "-ch_name "+ch) }()
	t.asyncBuffer = 1 << 16
	recv, err := t.login(ctx)
	if err != nil {
		return err
	}
	defer recv.Close()
	if err := run(ctx, recv, "open_sub_ch", "-ch_name "+ch+" -sub_name main"); err != nil {
		return err
	}
	call, err := sender.Start(ctx, "cast")
	if err != nil {
		return err
	}
	go func() {
		for {
			if _, err := call.Next(ctx); err != nil {
				return
			}
		}
	}()
	round := func(tag uint64) (float64, error) {
		payload := make([]byte, 64)
		start := time.Now()
		done := make(chan int)
		go func() {
			got := 0
			timeout := time.After(30 * time.Second)
			for got < m {
				select {
				case f := <-recv.Async():
					if f.Cmd == uint16(wire.AsyncCast) && len(f.Payload) >= 8 && binary.LittleEndian.Uint64(f.Payload) == tag {
						got++
					}
				case <-timeout:
					done <- got
					return
				}
			}
			done <- got
		}()
		for range m {
			binary.LittleEndian.PutUint64(payload, tag)
			if err := call.Send(wire.TypeBytes, payload); err != nil {
				return 0, err
			}
		}
		got := <-done
		return float64(got) / time.Since(start).Seconds(), nil
	}
	alone, err := round(1)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	var downloaded atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	var dlErr error
	go func() {
		defer wg.Done()
		defer once.Do(func() { close(started) })
		for dctx.Err() == nil {
			n, err := sender.Download(dctx, name, io.Discard, client.TransferOptions{
				Progress: func(int64, int64) { once.Do(func() { close(started) }) }})
			downloaded.Add(n)
			if err != nil && dctx.Err() == nil {
				dlErr = err
				return
			}
		}
	}()
	<-started
	beside, err := round(2)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	if dlErr != nil {
		return fmt.Errorf("download beside the casts: %w", dlErr)
	}
	fmt.Fprintf(out, "casts of 64 B from one session to one receiver tls=%v: %.0f/s alone, %.0f/s while the same session downloads (%.0f%%; %d MiB downloaded meanwhile)\n",
		t.tls, alone, beside, 100*beside/alone, downloaded.Load()>>20)
	return nil
}

// statusBytes reads a kB field of /proc/PID/status (VmHWM: the peak
// resident set since the process started) in bytes.
func statusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// procCPU returns a process's user plus system CPU time (0 if unknown).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// selfCPU returns this process's user plus system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
