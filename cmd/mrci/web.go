package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/web"
)

// webOptions are the serve flags of the web console (docs/web.md).
type webOptions struct {
	addr     string
	certFile string
	keyFile  string
}

// addWebFlags registers the console's flags on the serve command.
func addWebFlags(c *cobra.Command) *webOptions {
	o := &webOptions{}
	c.Flags().StringVar(&o.addr, "web-addr", "", "serve the web console on this address (e.g. 127.0.0.1:8080): HTTPS, plain HTTP on loopback unless --force-tls")
	c.Flags().StringVar(&o.certFile, "web-cert", "", "PEM certificate chain for the web console (default: the host's default certificate)")
	c.Flags().StringVar(&o.keyFile, "web-key", "", "PEM private key for --web-cert")
	return o
}

// start starts the console when --web-addr is set. The returned wait ends
// it (once ctx is cancelled) and waits for its sessions; it is never nil.
func (o *webOptions) start(ctx context.Context, h *host.Host, def *tlscert.Pair, forceTLS bool, log *slog.Logger) (wait func(), err error) {
	if o.addr == "" {
		return func() {}, nil
	}
	ap, err := netip.ParseAddrPort(o.addr)
	if err != nil {
		return nil, fmt.Errorf("--web-addr %q: want ip:port: %w", o.addr, err)
	}
	cert, err := o.certificate(def, forceTLS || !ap.Addr().Unmap().IsLoopback())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("web console: %w", err)
	}
	scheme := "http"
	if cert != nil {
		scheme = "https"
	}
	log.Info("web console listening", "url", scheme+"://"+ln.Addr().String()+"/")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := web.Serve(ctx, ln, h, cert, log); err != nil {
			log.Error("web console", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// certificate returns the console's certificate: the one given with
// --web-cert/--web-key, else the host's default one; nil (plain HTTP) when
// TLS is not needed and no certificate was given.
func (o *webOptions) certificate(def *tlscert.Pair, needTLS bool) (*tls.Certificate, error) {
	if (o.certFile == "") != (o.keyFile == "") {
		return nil, errors.New("--web-cert and --web-key go together")
	}
	if o.certFile != "" {
		certPEM, err := os.ReadFile(o.certFile)
		if err != nil {
			return nil, fmt.Errorf("web console certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(o.keyFile)
		if err != nil {
			return nil, fmt.Errorf("web console key: %w", err)
		}
		p, err := tlscert.Parse(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("web console certificate: %w", err)
		}
		return &p.TLS, nil
	}
	if !needTLS {
		return nil, nil
	}
	if def == nil {
		return nil, errors.New("web console: no certificate for HTTPS")
	}
	return &def.TLS, nil
}
