package host_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// admissionHost starts a host whose per-address limits apply to loopback
// (tests run on 127.0.0.0/8) with the given changes to the defaults, and a
// header deadline long enough that held sockets stay in set-up.
func admissionHost(t *testing.T, change func(*store.AdmissionSettings)) *hosttest.Host {
	t.Helper()
	return admissionHostLog(t, nil, change)
}

func admissionHostLog(t *testing.T, log *slog.Logger, change func(*store.AdmissionSettings)) *hosttest.Host {
	t.Helper()
	a := store.DefaultAdmissionSettings()
	a.LimitLoopback = true
	if change != nil {
		change(&a)
	}
	return hosttest.StartWith(t, hosttest.Options{
		HeaderTimeout: 2 * time.Minute,
		Log:           log,
		Setup: func(st store.Store) {
			if err := st.SaveAdmissionSettings(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// dialFrom opens a TCP connection from a given loopback source address.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByHost reports whether the host closed c without sending anything.
func closedByHost(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func refused(h *hosttest.Host, reason string) int {
	return int(testutil.ToFloat64(h.Metrics().ConnectionsRefused.WithLabelValues(reason)))
}

// TestHeaderlessSocketsDoNotLockOutClients is the attack of issue 8
// defect 1: sockets that never send a client header used to count against
// max_sessions (100 by default), so 100 of them locked every client out.
// With 1,000 of them held (from 50 addresses, 20 each), real clients still
// log in.
func TestHeaderlessSocketsDoNotLockOutClients(t *testing.T) {
	h := admissionHost(t, nil)
	const held = 1000
	for i := range held {
		dialFrom(t, fmt.Sprintf("127.0.1.%d", 1+i%50), h.Addr)
	}
	waitUntil(t, 60*time.Second, "every header-less socket admitted into set-up", func() bool {
		return h.PendingCount() == held
	})
	for range 5 {
		h.Root(t)
	}
	if n := h.SessionCount(); n != 5 {
		t.Fatalf("sessions = %d, want the 5 logged-in clients only", n)
	}
	if n := h.PendingCount(); n != held {
		t.Fatalf("pending = %d, want %d", n, held)
	}
}

// TestSetupLimitsRefuseLogAndCount checks the per-address set-up limit and
// the per-address rate limit: refused sockets are closed without a byte and
// counted by reason, and other addresses are not affected.
func TestSetupLimitsRefuseLogAndCount(t *testing.T) {
	var logBuf hosttest.Buffer
	h := admissionHostLog(t, slog.New(slog.NewTextHandler(&logBuf, nil)), func(a *store.AdmissionSettings) {
		a.MaxPendingPerAddr = 4
		a.ConnRatePerAddr = 0.0001 // no refill during the test
		a.ConnBurstPerAddr = 8
	})
	const attacker = "127.0.2.1"
	var conns []net.Conn
	for range 6 {
		conns = append(conns, dialFrom(t, attacker, h.Addr))
	}
	// Connections are accepted in order: the first 4 are in set-up, the
	// other 2 are over the per-address limit.
	for _, c := range conns[4:] {
		if !closedByHost(c) {
			t.Fatal("a socket over the per-address set-up limit was not closed")
		}
	}
	if n := refused(h, "pending_per_addr"); n != 2 {
		t.Fatalf("refused for pending_per_addr = %d, want 2", n)
	}
	if n := h.PendingCount(); n != 4 {
		t.Fatalf("pending = %d, want 4", n)
	}
	// A client from another address gets in meanwhile.
	h.Root(t)
	for _, c := range conns[:4] {
		_ = c.Close()
	}
	waitUntil(t, 20*time.Second, "closed sockets leaving set-up", func() bool { return h.PendingCount() == 0 })
	// 6 of the burst of 8 are used: 2 more connections, then the rate limit.
	for range 2 {
		dialFrom(t, attacker, h.Addr)
	}
	if c := dialFrom(t, attacker, h.Addr); !closedByHost(c) {
		t.Fatal("a socket over the rate limit was not closed")
	}
	if n := refused(h, "rate_limited"); n != 1 {
		t.Fatalf("refused for rate_limited = %d, want 1", n)
	}
	waitUntil(t, 20*time.Second, "2 sockets in set-up", func() bool { return h.PendingCount() == 2 })
	logged := logBuf.String()
	for reason, want := range map[string]int{"pending_per_addr": 2, "rate_limited": 1} {
		line := `msg="connection refused" ip=` + attacker + " reason=" + reason
		if n := strings.Count(logged, line); n != want {
			t.Errorf("%d log lines %q, want %d; log:\n%s", n, line, want, logged)
		}
	}
}

// TestRateLimitBoundsUnauthenticatedWrites is the attack of issue 8
// defect 5: every connection with a client header wrote two activity rows
// (171,491 connections in 60 s added 29 MB). With the per-address rate
// limit, 200 such connections from one address make at most the burst of
// sessions, and only those write rows.
func TestRateLimitBoundsUnauthenticatedWrites(t *testing.T) {
	h := admissionHost(t, func(a *store.AdmissionSettings) {
		a.ConnRatePerAddr = 0.0001
		a.ConnBurstPerAddr = 10
	})
	const attempts, burst = 200, 10
	for range attempts {
		c := dialFrom(t, "127.0.3.1", h.Addr)
		_, _ = c.Write(wire.ClientHeader{AppName: "flood"}.Marshal())
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, _ = io.ReadFull(c, make([]byte, wire.HostHeaderLen)) // a session, or EOF when refused
		_ = c.Close()
	}
	if n := refused(h, "rate_limited"); n != attempts-burst {
		t.Fatalf("refused for rate_limited = %d, want %d", n, attempts-burst)
	}
	h.Stop() // flushes the activity log
	rows, err := h.Store.ListView(context.Background(), store.ViewActLog, nil, store.Page{Limit: 10 * attempts})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2*burst {
		t.Fatalf("%d activity rows for %d sessions admitted out of %d connections, want %d (Session Active + Session Ended each)", len(rows), burst, attempts, 2*burst)
	}
}

// flakyListener fails its first Accept calls with EMFILE, as a process out
// of file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsDoNotStopHost: EMFILE/ENFILE from accept used to stop
// the host; now it backs off and retries.
func TestAcceptErrorsDoNotStopHost(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{WrapListener: func(ln net.Listener) net.Listener {
		f := &flakyListener{Listener: ln}
		f.fails.Store(5)
		return f
	}})
	h.Root(t)
	if n := testutil.ToFloat64(h.Metrics().AcceptErrors); n != 5 {
		t.Fatalf("accept errors counted = %v, want 5", n)
	}
}
