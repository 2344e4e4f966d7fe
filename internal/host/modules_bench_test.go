package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/pkg/client"
)

// buildHello compiles examples/hello into dir.
func buildHello(b *testing.B, dir string) string {
	b.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "examples", "hello")
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build examples/hello: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkModulesConnectReady measures connect-to-ready on loopback: TCP
// connect, headers, ASYNC_RDY and the full public command list, with no
// external module and with 5 (copies of examples/hello, each its own
// module). "5-cold" drops the modules' cached listings before every
// connection, so each one waits for 5 listing processes.
func BenchmarkModulesConnectReady(b *testing.B) {
	dir := b.TempDir()
	var hello string
	for _, bc := range []struct {
		name string
		mods int
		cold bool
	}{{"mods=0", 0, false}, {"mods=5", 5, false}, {"mods=5-cold", 5, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var paths []string
			if bc.mods > 0 && hello == "" {
				hello = buildHello(b, dir)
			}
			for i := range bc.mods {
				p := filepath.Join(b.TempDir(), fmt.Sprintf("hello%d", i))
				data, err := os.ReadFile(hello)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o755); err != nil {
					b.Fatal(err)
				}
				paths = append(paths, p)
			}
			h := hosttest.StartWith(b, hosttest.Options{Setup: func(st store.Store) {
				for _, p := range paths {
					if err := st.AddModule(context.Background(), p); err != nil {
						b.Fatal(err)
					}
				}
			}})
			ctx := context.Background()
			// The full public list, as the first session sees it.
			first := h.Dial(b)
			want := []string{"auth", "my_info"}
			for i := range bc.mods {
				name := "hello"
				if i > 0 {
					name = fmt.Sprintf("hello_%d", i)
				}
				want = append(want, name)
			}
			for _, n := range want {
				if _, err := first.WaitCommand(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
			first.Close()
			b.ResetTimer()
			for b.Loop() {
				if bc.cold {
					b.StopTimer()
					for _, p := range paths {
						h.ExternalModule(p).Refresh()
					}
					b.StartTimer()
				}
				c, err := client.Dial(ctx, h.Addr, client.Options{})
				if err != nil {
					b.Fatal(err)
				}
				for _, n := range want {
					if _, err := c.WaitCommand(ctx, n); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				c.Close()
				b.StartTimer()
			}
		})
	}
}
