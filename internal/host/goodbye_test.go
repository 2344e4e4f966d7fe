package host_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// TestShutdownNotice: when the host stops, every client receives the
// shutdown notice on ASYNC_SYS_MSG before the connection ends (TLS and
// plaintext, logged in or not).
func TestShutdownNotice(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	clients := []*client.Client{h.Root(t), h.Dial(t)}
	for _, c := range clients {
		// Empty the async channel of the set-up frames first.
		for len(c.Async()) > 0 {
			<-c.Async()
		}
	}
	h.Stop()
	for i, c := range clients {
		var texts []string
		timeout := time.After(10 * time.Second)
	read:
		for {
			select {
			case f, ok := <-c.Async():
				if !ok {
					break read
				}
				if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeText {
					texts = append(texts, wire.DecodeText(f.Payload))
				}
			case <-timeout:
				t.Fatalf("client %d: connection did not end", i)
			}
		}
		if !errors.Is(c.Err(), client.ErrConnectionLost) {
			t.Errorf("client %d: %v", i, c.Err())
		}
		if strings.Join(texts, "|") != host.NoticeClosing {
			t.Errorf("client %d: system messages %q, want the shutdown notice", i, texts)
		}
	}
}
