package host_test

import (
	"bufio"
	"flag"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/wire"
)

var (
	idleSessions = flag.Int("idle.sessions", 1000, "sessions BenchmarkIdleSessionMemory logs in")
	idleProfile  = flag.String("idle.heapprofile", "", "write a heap profile while the idle sessions are open")
)

// rawLogin connects and logs in as root with nothing but the wire package
// and returns the bare connection, so the benchmark's own side of each
// session costs only a socket.
func rawLogin(b *testing.B, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(wire.ClientHeader{AppName: "idle"}.Marshal()); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, wire.HostHeaderLen)); err != nil {
		b.Fatal(err)
	}
	r := wire.NewReader(bufio.NewReaderSize(c, 1024), 0)
	next := func() wire.Frame {
		f, err := r.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	var auth uint16
	for auth == 0 {
		if f := next(); f.Cmd == uint16(wire.AsyncAddCmd) {
			if nc, err := wire.ParseNewCmd(f.Payload); err == nil && nc.Name == "auth" {
				auth = nc.ID
			}
		}
	}
	send := func(text string) {
		if _, err := c.Write(wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: auth, Payload: wire.EncodeText(text)})); err != nil {
			b.Fatal(err)
		}
	}
	send("-user root")
	for f := next(); f.Cmd != auth || f.Type != wire.TypePrivText; f = next() {
	}
	send(hosttest.RootPassword)
	for f := next(); f.Cmd != auth || f.Type != wire.TypeIdle; f = next() {
		if f.Cmd == auth && f.Type == wire.TypeErr {
			b.Fatalf("login: %s", wire.DecodeText(f.Payload))
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// BenchmarkIdleSessionMemory logs in -idle.sessions sessions as root
// (cheap test password costs, so no argon2id memory is in the way) and
// reports the live heap and the goroutine stacks per idle session, host
// side (the benchmark's sockets are included: a few hundred bytes each).
//
//	go test -run '^$' -bench IdleSessionMemory -benchtime 1x ./internal/host -idle.sessions 9000 [-idle.heapprofile FILE]
func BenchmarkIdleSessionMemory(b *testing.B) {
	h := hosttest.Start(b)
	n := *idleSessions
	h.SetMaxSessions(uint32(n + 10))
	for b.Loop() {
		measure := func() (heap, stack uint64) {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc, m.StackInuse
		}
		rawLogin(b, h.Addr).Close() // warm up: first login, caches
		heap0, stack0 := measure()
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = rawLogin(b, h.Addr)
		}
		heap1, stack1 := measure()
		if *idleProfile != "" {
			f, err := os.Create(*idleProfile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
		}
		b.ReportMetric(float64(heap1-heap0)/float64(n)/1024, "heap-KiB/session")
		b.ReportMetric(float64(stack1-stack0)/float64(n)/1024, "stack-KiB/session")
		b.ReportMetric(float64(heap1+stack1-heap0-stack0)/float64(n)/1024, "KiB/session")
		for _, c := range conns {
			_ = c.Close()
		}
	}
}
