package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/web"
)

// The web transport: with --web every session the load tool opens is a
// WebSocket to the web console (internal/web.Dial: the page's path, Origin
// and binary messages) carrying the MRCI byte stream, and pkg/client runs
// over it exactly as over TCP. So cast, rtt, conn and idle measure the
// same work over the browser's wire.

// transport names the transport in result lines.
func (t *target) transport() string {
	switch {
	case t.web && t.tls:
		return "web=wss"
	case t.web:
		return "web=ws"
	default:
		return fmt.Sprintf("tls=%v", t.tls)
	}
}

// webBase is the console's address as a browser sees it.
func (t *target) webBase() string {
	if t.tls {
		return "https://" + t.webAddr
	}
	return "http://" + t.webAddr
}

// webDialer returns the client's DialContext for --web (nil otherwise).
// The spawned host's console certificate is its self-signed default, so
// over TLS the load tool trusts whatever it presents, as it does for TCP
// (client.Options.TrustHostCert).
func (t *target) webDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if !t.web {
		return nil
	}
	var cfg *tls.Config
	if t.tls {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return web.Dial(ctx, t.webBase(), cfg)
	}
}

// prepareSpawn gives the spawned host a free loopback port for the console
// when --web is set without --web-addr, and one for its metrics and
// profiler (memory readings after a GC); it returns the extra arguments of
// `mrci serve` beyond --web-addr.
func (t *target) prepareSpawn() ([]string, error) {
	var err error
	if t.web && t.webAddr == "" {
		if t.webAddr, err = freePort(); err != nil {
			return nil, err
		}
	}
	if t.metricsAddr, err = freePort(); err != nil {
		return nil, err
	}
	return []string{"--metrics-addr", t.metricsAddr, "--pprof"}, nil
}

// freePort returns a loopback address with a port that was free just now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitWeb waits until the spawned host's console accepts connections.
func (t *target) waitWeb(ctx context.Context) error {
	if t.webAddr == "" {
		return nil
	}
	var d net.Dialer
	for range 200 {
		c, err := d.DialContext(ctx, "tcp", t.webAddr)
		if err == nil {
			return c.Close()
		}
		time.Sleep(25 * time.Millisecond)
	}
	return errors.New("spawned host's web console did not start listening")
}

// webIdleCmd is `idle` over the web console (kept for the commands recorded
// in docs/benchmarks.md): `webidle [--login]` is `--web idle [--anonymous]`.
func webIdleCmd(t *target) *cobra.Command {
	idle := idleCmd(t)
	var login bool
	c := &cobra.Command{
		Use:   "webidle",
		Short: "idle over the web console: n idle WebSocket sessions, host memory per session",
		RunE: func(cmd *cobra.Command, args []string) error {
			if t.webAddr == "" {
				return errors.New("webidle needs --web-addr (or use --web idle)")
			}
			t.web = true
			if err := idle.Flags().Set("anonymous", fmt.Sprint(!login)); err != nil {
				return err
			}
			for _, name := range []string{"sessions", "settle"} {
				if err := idle.Flags().Set(name, cmd.Flags().Lookup(name).Value.String()); err != nil {
					return err
				}
			}
			idle.SetOut(cmd.OutOrStdout())
			idle.SetContext(cmd.Context())
			return idle.RunE(idle, args)
		},
	}
	c.Flags().IntP("sessions", "n", 1000, "idle sessions")
	c.Flags().BoolVar(&login, "login", false, "log each session in (as --user)")
	c.Flags().Duration("settle", 5*time.Second, "wait this long after connecting before reading the host's memory")
	return c
}
