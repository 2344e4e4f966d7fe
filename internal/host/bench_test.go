package host_test

import (
	"context"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/pkg/client"
)

// BenchmarkConnect measures the full set-up of a session on loopback:
// TCP connect, client/host header, ASYNC_RDY and the public command list.
func BenchmarkConnect(b *testing.B) {
	for _, tls := range []bool{false, true} {
		name := "plain"
		if tls {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			h := hosttest.StartWith(b, hosttest.Options{ForceTLS: tls})
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				c, err := client.Dial(ctx, h.Addr, client.Options{TrustHostCert: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.WaitCommand(ctx, "my_info"); err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
		})
	}
}
