package main

// Attack modes of issue 8 (input and admission):
//
//	mrcibench flood      -n 64 -b 32MiB   logged-out clients send maximum-size frames; host RSS
//	mrcibench headerless -n 1000 -m 20    logins while n sockets that never send a header are held

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/wire"
)

// rawSession connects without the client library: client header, host
// header (loopback, plaintext), then the raw stream.
func rawSession(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(wire.ClientHeader{AppName: "mrcibench flood"}.Marshal()); err != nil {
		_ = c.Close()
		return nil, err
	}
	b := make([]byte, wire.HostHeaderLen)
	if _, err := io.ReadFull(c, b); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("host header: %w", err)
	}
	h, err := wire.ParseHostHeader(b)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if h.Reply != wire.ReplyPlain {
		_ = c.Close()
		return nil, fmt.Errorf("flood needs a plaintext (loopback, no --force-tls) host; reply %d", h.Reply)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func floodCmd(t *target) *cobra.Command {
	var n int
	var total int64
	c := &cobra.Command{
		Use:   "flood",
		Short: "n logged-out clients each send b bytes of maximum-size frames; host RSS before, peak and after",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if t.pid == 0 {
				return fmt.Errorf("flood needs --spawn or --host-pid")
			}
			before, err := rss(t.pid)
			if err != nil {
				return err
			}
			conns := make([]net.Conn, n)
			for i := range conns {
				if conns[i], err = rawSession(ctx, t.addr); err != nil {
					return err
				}
				defer conns[i].Close()
			}
			var peak atomic.Int64
			sample := func() {
				if r, err := rss(t.pid); err == nil && r > peak.Load() {
					peak.Store(r)
				}
			}
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					sample()
					select {
					case <-tick.C:
					case <-stop:
						return
					}
				}
			}()
			start := time.Now()
			frame := wire.AppendFrameHeader(nil, wire.TypeText, 300, 0, wire.MaxPayload)
			frame = append(frame, make([]byte, wire.MaxPayload)...)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					go func() { _, _ = io.Copy(io.Discard, c) }() // the host's ERR replies
					for sent := int64(0); sent < total; sent += int64(len(frame)) {
						if _, err := c.Write(frame); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			elapsed := time.Since(start)
			time.Sleep(time.Second) // let the host read what is in flight
			close(stop)
			<-sampled
			after, err := rss(t.pid)
			if err != nil {
				return err
			}
			failed := 0
			for range errs {
				failed++
			}
			fmt.Fprintf(cmd.OutOrStdout(), "flood n=%d bytes=%d MiB each (%d frames of %d bytes) in %v: host RSS %.1f MiB before, %.1f MiB peak, %.1f MiB after; %d clients cut off\n",
				n, total>>20, (total+int64(len(frame))-1)/int64(len(frame)), len(frame), elapsed.Round(time.Millisecond),
				float64(before)/(1<<20), float64(peak.Load())/(1<<20), float64(after)/(1<<20), failed)
			return nil
		},
	}
	c.Flags().IntVarP(&n, "clients", "n", 64, "logged-out clients")
	c.Flags().Int64VarP(&total, "bytes", "b", 32<<20, "bytes each client sends")
	return c
}

func headerlessCmd(t *target) *cobra.Command {
	var n, m int
	c := &cobra.Command{
		Use:   "headerless",
		Short: "hold n sockets that never send a client header, then try m logins",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var held []net.Conn
			defer func() {
				for _, c := range held {
					_ = c.Close()
				}
			}()
			var d net.Dialer
			for range n {
				c, err := d.DialContext(ctx, "tcp", t.addr)
				if err != nil {
					return fmt.Errorf("socket %d: %w", len(held), err)
				}
				held = append(held, c)
			}
			time.Sleep(500 * time.Millisecond) // let the host accept them all
			ok := 0
			var firstErr error
			for range m {
				lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				c, err := t.login(lctx)
				cancel()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				ok++
				_ = c.Close()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "headerless n=%d: %d of %d logins succeeded", n, ok, m)
			if firstErr != nil {
				fmt.Fprintf(cmd.OutOrStdout(), " (first error: %v)", firstErr)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	c.Flags().IntVarP(&n, "sockets", "n", 1000, "header-less sockets to hold")
	c.Flags().IntVarP(&m, "logins", "m", 20, "logins to try while they are held")
	return c
}
