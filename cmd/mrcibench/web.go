package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/wire"
)

// webIdleCmd measures the host memory of idle anonymous web-console
// sessions (one WebSocket each), to compare with `idle --anonymous`.
func webIdleCmd(t *target) *cobra.Command {
	var n int
	var login bool
	var settle time.Duration
	c := &cobra.Command{
		Use:   "webidle",
		Short: "n idle web-console sessions (WebSockets): host memory per session",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if t.pid == 0 || t.webAddr == "" {
				return fmt.Errorf("webidle needs --web-addr and --spawn (or --host-pid)")
			}
			// The same warm-up as idle (8 logins, whose password hashes
			// leave freed heap behind), then 8 WebSockets.
			warmTCP, err := t.loginMany(ctx, 8)
			if err != nil {
				return err
			}
			closeAll(warmTCP)
			warm, err := t.wsMany(ctx, 8)
			if err != nil {
				return err
			}
			closeConns(warm)
			time.Sleep(500 * time.Millisecond)
			before, err := rss(t.pid)
			if err != nil {
				return err
			}
			t.wsLogin = login
			cs, err := t.wsMany(ctx, n)
			if err != nil {
				return err
			}
			defer closeConns(cs)
			time.Sleep(settle)
			after, err := rss(t.pid)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "webidle n=%d login=%v: host RSS %.1f MiB -> %.1f MiB, %.1f KiB per session\n",
				n, login, float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/float64(n)/1024)
			return nil
		},
	}
	c.Flags().IntVarP(&n, "sessions", "n", 1000, "idle sessions")
	c.Flags().BoolVar(&login, "login", false, "log each session in (as --user) over its WebSocket")
	c.Flags().DurationVar(&settle, "settle", 5*time.Second, "wait this long after connecting before reading the host's memory")
	return c
}

// wsDial opens one console WebSocket, exchanges the headers and waits for
// ASYNC_RDY; the rest of the stream is drained in the background.
func (t *target) wsDial(ctx context.Context) (net.Conn, error) {
	origin := "http://" + t.webAddr
	ws, _, err := websocket.Dial(ctx, "ws://"+t.webAddr+"/mrci", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		return nil, err
	}
	conn := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	if _, err := conn.Write(wire.ClientHeader{AppName: "mrcibench web", CommonName: "127.0.0.1"}.Marshal()); err != nil {
		conn.Close()
		return nil, err
	}
	var hb [wire.HostHeaderLen]byte
	if _, err := io.ReadFull(conn, hb[:]); err != nil {
		conn.Close()
		return nil, err
	}
	r := wire.NewReader(conn, 0)
	if err := t.wsReady(conn, r); err != nil {
		conn.Close()
		return nil, err
	}
	go func() { _, _ = io.Copy(io.Discard, conn) }()
	return conn, nil
}

// wsReady reads until ASYNC_RDY, and with wsLogin runs auth as t.user
// (the raw protocol: this stream is not a pkg/client connection).
func (t *target) wsReady(conn net.Conn, r *wire.Reader) error {
	auth := -1
	ready := false
	for !ready || (t.wsLogin && auth < 0) {
		f, err := r.ReadFrame()
		if err != nil {
			return err
		}
		ready = ready || f.Cmd == uint16(wire.AsyncRdy)
		if f.Cmd == uint16(wire.AsyncAddCmd) {
			if nc, err := wire.ParseNewCmd(f.Payload); err == nil && nc.Name == "auth" {
				auth = int(nc.ID)
			}
		}
	}
	if !t.wsLogin {
		return nil
	}
	send := func(text string) error {
		_, err := conn.Write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: uint16(auth), Payload: wire.EncodeText(text)}))
		return err
	}
	if err := send("-user " + t.user); err != nil {
		return err
	}
	granted := false
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return err
		}
		if f.Cmd != uint16(auth) {
			continue
		}
		switch f.Type {
		case wire.TypePrivText:
			if err := send(t.password); err != nil {
				return err
			}
		case wire.TypeText:
			granted = granted || strings.Contains(wire.DecodeText(f.Payload), "Access granted")
		case wire.TypeErr:
			return fmt.Errorf("auth: %s", wire.DecodeText(f.Payload))
		case wire.TypeIdle:
			if !granted {
				return fmt.Errorf("auth as %s ended without access", t.user)
			}
			return nil
		}
	}
}

func (t *target) wsMany(ctx context.Context, n int) ([]net.Conn, error) {
	out := make([]net.Conn, n)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	next := make(chan int)
	for range t.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := t.wsDial(ctx)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("session %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				out[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		closeConns(out)
		return nil, first
	}
	return out, nil
}

func closeConns(cs []net.Conn) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}
