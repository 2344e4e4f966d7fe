package web

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// Dial opens the console's MRCI WebSocket the way the page does: base is
// the console's address as the browser sees it ("http://127.0.0.1:8080" or
// "https://host:8443"); the WebSocket goes to base + WebSocketPath with
// base as its Origin, binary messages, no compression. The result carries
// the MRCI byte stream (client header first), so pkg/client can run over
// it (client.Options.DialContext). tlsConfig is used for https (nil: the
// system roots). The connection lives until it is closed; ctx bounds only
// the handshake.
func Dial(ctx context.Context, base string, tlsConfig *tls.Config) (net.Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("web: console address: %w", err)
	}
	origin := u.Scheme + "://" + u.Host
	ws := "ws"
	switch u.Scheme {
	case "http":
	case "https":
		ws = "wss"
	default:
		return nil, fmt.Errorf("web: console address %q: scheme must be http or https", base)
	}
	opts := &websocket.DialOptions{
		HTTPHeader:      http.Header{"Origin": {origin}},
		CompressionMode: websocket.CompressionDisabled,
	}
	if u.Scheme == "https" {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig.Clone(), ForceAttemptHTTP2: false}}
	}
	c, resp, err := websocket.Dial(ctx, ws+"://"+u.Host+WebSocketPath, opts)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("web: WebSocket to %s (HTTP %d): %w", u.Host, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("web: WebSocket to %s: %w", u.Host, err)
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
}
