package client_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/client/clienttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, h *clienttest.Host, opts client.Options) *client.Client {
	t.Helper()
	if opts.CommandSettle == 0 {
		opts.CommandSettle = 100 * time.Millisecond
	}
	c, err := client.Dial(testCtx(t), h.Addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sessions returns a Config.OnSession hook and the channel it feeds.
func sessions() (func(*clienttest.Session), chan *clienttest.Session) {
	ch := make(chan *clienttest.Session, 4)
	return func(s *clienttest.Session) { ch <- s }, ch
}

func TestPlaintext(t *testing.T) {
	onS, sess := sessions()
	h := clienttest.NewHost(t, clienttest.Config{
		Commands:  []clienttest.Command{{Name: "echo", Handler: clienttest.Echo}},
		OnSession: onS,
	})
	c := dial(t, h, client.Options{AppName: "test app"})
	if c.Encrypted() {
		t.Error("Encrypted() = true for reply 1")
	}
	if c.HostVersion() != wire.Version {
		t.Errorf("HostVersion() = %v", c.HostVersion())
	}
	if c.SessionID().IsZero() {
		t.Error("SessionID() is zero")
	}
	s := <-sess
	if s.Header.AppName != "test app" || s.Header.CommonName != "127.0.0.1" {
		t.Errorf("client header = %+v", s.Header)
	}
	res, err := c.Run(testCtx(t), "echo", `-a "b c"`)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := res.Text(); got != `-a "b c"` {
		t.Errorf("Text() = %q", got)
	}
	if res.Err() != nil || len(res.Frames) != 2 || res.Frames[1].Type != wire.TypeIdle {
		t.Errorf("frames = %+v, err %v", res.Frames, res.Err())
	}
	// The async channel saw ASYNC_RDY and the announcement.
	f := <-c.Async()
	if f.Cmd != uint16(wire.AsyncRdy) || wire.DecodeText(f.Payload) != "\nReady!\n\n" {
		t.Errorf("first async frame = %+v", f)
	}
	if f = <-c.Async(); f.Cmd != uint16(wire.AsyncAddCmd) {
		t.Errorf("second async frame = %+v", f)
	}
}

func TestDefaultAppName(t *testing.T) {
	onS, sess := sessions()
	h := clienttest.NewHost(t, clienttest.Config{OnSession: onS})
	dial(t, h, client.Options{CommonName: "example.org"})
	s := <-sess
	if s.Header.AppName != "mrci-client "+client.Version || s.Header.CommonName != "example.org" {
		t.Errorf("client header = %+v", s.Header)
	}
}

func tlsHost(t *testing.T, cfg clienttest.Config) *clienttest.Host {
	cfg.Reply = wire.ReplyTLS
	cfg.Commands = append(cfg.Commands, clienttest.Command{Name: "echo", Handler: clienttest.Echo})
	return clienttest.NewHost(t, cfg)
}

func checkTLSWorks(t *testing.T, c *client.Client, h *clienttest.Host) {
	t.Helper()
	if !c.Encrypted() {
		t.Error("Encrypted() = false for reply 2")
	}
	if string(c.HostCertPEM()) != string(h.CertPEM) || c.HostCert() == nil {
		t.Error("HostCertPEM differs from the host's certificate")
	}
	res, err := c.Run(testCtx(t), "echo", "over tls")
	if err != nil || res.Text() != "over tls" {
		t.Fatalf("Run over TLS = %q, %v", res.Text(), err)
	}
}

func TestTLSPinnedPEM(t *testing.T) {
	h := tlsHost(t, clienttest.Config{})
	c := dial(t, h, client.Options{PinnedCert: string(h.CertPEM)})
	checkTLSWorks(t, c, h)
}

func TestTLSPinnedFingerprint(t *testing.T) {
	h := tlsHost(t, clienttest.Config{})
	cert, err := x509.ParseCertificate(mustDER(t, h.CertPEM))
	if err != nil {
		t.Fatal(err)
	}
	fp := strings.ToUpper(client.Fingerprint(cert))
	c := dial(t, h, client.Options{PinnedCert: "SHA256:" + fp})
	checkTLSWorks(t, c, h)
	if client.Fingerprint(c.HostCert()) != client.Fingerprint(cert) {
		t.Error("fingerprints differ")
	}
}

func TestTLSWrongPin(t *testing.T) {
	h := tlsHost(t, clienttest.Config{})
	_, otherPEM, err := clienttest.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Dial(testCtx(t), h.Addr, client.Options{PinnedCert: string(otherPEM)})
	if !errors.Is(err, client.ErrCertMismatch) {
		t.Fatalf("Dial with wrong pin: %v, want ErrCertMismatch", err)
	}
	_, err = client.Dial(testCtx(t), h.Addr, client.Options{PinnedCert: strings.Repeat("ab", 32)})
	if !errors.Is(err, client.ErrCertMismatch) {
		t.Fatalf("Dial with wrong fingerprint: %v, want ErrCertMismatch", err)
	}
	_, err = client.Dial(testCtx(t), h.Addr, client.Options{PinnedCert: "not a pin"})
	if err == nil {
		t.Fatal("Dial with a malformed pin succeeded")
	}
}

// TestTLSManInTheMiddle: HOST_CERT announces the pinned certificate but the
// handshake presents another one.
func TestTLSManInTheMiddle(t *testing.T) {
	_, pinnedPEM, err := clienttest.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	h := tlsHost(t, clienttest.Config{HostCertPEM: pinnedPEM})
	for _, opts := range []client.Options{{PinnedCert: string(pinnedPEM)}, {TrustHostCert: true}} {
		if _, err := client.Dial(testCtx(t), h.Addr, opts); !errors.Is(err, client.ErrCertMismatch) {
			t.Errorf("Dial(%+v): %v, want ErrCertMismatch", opts, err)
		}
	}
}

func TestTLSTrustHostCert(t *testing.T) {
	h := tlsHost(t, clienttest.Config{})
	c := dial(t, h, client.Options{TrustHostCert: true})
	checkTLSWorks(t, c, h)
}

func TestTLSRootCAs(t *testing.T) {
	h := tlsHost(t, clienttest.Config{})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.CertPEM)
	c := dial(t, h, client.Options{RootCAs: pool, CommonName: "localhost"})
	checkTLSWorks(t, c, h)

	_, otherPEM, _ := clienttest.SelfSigned("localhost")
	other := x509.NewCertPool()
	other.AppendCertsFromPEM(otherPEM)
	if _, err := client.Dial(testCtx(t), h.Addr, client.Options{RootCAs: other}); err == nil {
		t.Fatal("Dial with an unrelated CA succeeded")
	}
	// Without any option the system roots are used, which do not know the
	// self-signed certificate.
	if _, err := client.Dial(testCtx(t), h.Addr, client.Options{}); err == nil {
		t.Fatal("Dial with system roots succeeded")
	}
}

func TestRequireTLS(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{})
	if _, err := client.Dial(testCtx(t), h.Addr, client.Options{RequireTLS: true}); !errors.Is(err, client.ErrPlaintext) {
		t.Fatalf("Dial: %v, want ErrPlaintext", err)
	}
}

func mustDER(t *testing.T, pemText []byte) []byte {
	t.Helper()
	c, err := x509.ParseCertificate(pemDER(pemText))
	if err != nil {
		t.Fatal(err)
	}
	return c.Raw
}

func TestReplyNoCert(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Reply: wire.ReplyNoCert})
	_, err := client.Dial(testCtx(t), h.Addr, client.Options{CommonName: "mrci.example"})
	if !errors.Is(err, client.ErrNoCertificate) || !strings.Contains(err.Error(), "host has no certificate for mrci.example") {
		t.Fatalf("Dial: %v", err)
	}
}

func TestIncompatibleVersion(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Version: wire.HostVersion{Major: 3}})
	_, err := client.Dial(testCtx(t), h.Addr, client.Options{})
	if !errors.Is(err, client.ErrIncompatibleHost) {
		t.Fatalf("Dial: %v, want ErrIncompatibleHost", err)
	}
	h = clienttest.NewHost(t, clienttest.Config{Version: wire.HostVersion{Major: 1, Minor: 9}})
	if _, err = client.Dial(testCtx(t), h.Addr, client.Options{}); !errors.Is(err, client.ErrIncompatibleHost) {
		t.Fatalf("Dial: %v, want ErrIncompatibleHost", err)
	}
	h = clienttest.NewHost(t, clienttest.Config{Reply: 3})
	if _, err = client.Dial(testCtx(t), h.Addr, client.Options{}); !errors.Is(err, client.ErrIncompatibleHost) {
		t.Fatalf("Dial (reply 3): %v, want ErrIncompatibleHost", err)
	}
}

func TestDialWaitsForReady(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{NoReady: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Dial(ctx, h.Addr, client.Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial without ASYNC_RDY: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial returned after %v", d)
	}
}

func TestCommandTable(t *testing.T) {
	onS, sess := sessions()
	h := clienttest.NewHost(t, clienttest.Config{
		Commands: []clienttest.Command{
			{Name: "echo", Handler: clienttest.Echo},
			{Name: "fail", Handler: clienttest.Fail},
		},
		OnSession: onS,
	})
	c := dial(t, h, client.Options{})
	s := <-sess
	ctx := testCtx(t)
	if _, err := c.WaitCommand(ctx, "fail"); err != nil {
		t.Fatal(err)
	}
	if got := c.Commands(); len(got) != 2 || got["echo"] != 256 || got["fail"] != 257 {
		t.Fatalf("Commands() = %v", got)
	}
	if id, ok := c.CommandID("ECHO"); !ok || id != 256 {
		t.Errorf("CommandID(ECHO) = %d, %v", id, ok)
	}
	if info, ok := c.CommandInfo("echo"); !ok || info.Summary != "echo (fake)" || info.Library != "clienttest" {
		t.Errorf("CommandInfo = %+v", info)
	}

	// WaitCommand blocks until the command is announced.
	got := make(chan uint16, 1)
	go func() {
		id, err := c.WaitCommand(ctx, "later")
		if err != nil {
			t.Error(err)
		}
		got <- id
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case id := <-got:
		t.Fatalf("WaitCommand returned %d before the announcement", id)
	default:
	}
	s.AddCommand("later", clienttest.Echo)
	if id := <-got; id != 258 {
		t.Fatalf("WaitCommand = %d, want 258", id)
	}

	s.RemoveCommand("fail")
	res, err := c.Run(ctx, "echo", "sync") // frames are processed in order
	if err != nil || res.Text() != "sync" {
		t.Fatal(res, err)
	}
	if _, ok := c.CommandID("fail"); ok {
		t.Error("fail still in the table after ASYNC_RM_CMD")
	}
	if got := c.Commands(); len(got) != 2 {
		t.Errorf("Commands() = %v", got)
	}
	// The freed id is reused by the next announcement.
	s.AddCommand("reuse", clienttest.Echo)
	if id, err := c.WaitCommand(ctx, "reuse"); err != nil || id != 257 {
		t.Errorf("WaitCommand(reuse) = %d, %v", id, err)
	}

	// An unknown name fails once the table is quiet.
	start := time.Now()
	_, err = c.Run(ctx, "nosuch", "")
	if !errors.Is(err, client.ErrUnknownCommand) || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("Run(nosuch): %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("unknown command took %v", d)
	}
	// Start waits for a command announced while the table is still
	// changing.
	s.AddCommand("other", clienttest.Echo)
	if _, err := c.WaitCommand(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		s.AddCommand("soon", clienttest.Echo)
	}()
	if res, err := c.Run(ctx, "soon", "x"); err != nil || res.Text() != "x" {
		t.Errorf("Run(soon) = %v, %v", res, err)
	}
}

// barrier answers the first TEXT of n distinct branches only once all n
// have arrived, so a client that does not run them concurrently on
// distinct branches deadlocks.
func barrier(n int) clienttest.Handler {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	return func(inst *clienttest.Instance) {
		for {
			f, ok := inst.Recv()
			if !ok {
				return
			}
			mu.Lock()
			arrived++
			if arrived == n {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
			case <-inst.Session.Done():
				return
			}
			_ = inst.Text(fmt.Sprintf("branch %d: %s", inst.Branch, wire.DecodeText(f.Payload)))
			_ = inst.Idle()
		}
	}
}

func TestConcurrentCalls(t *testing.T) {
	const n = 5
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "barrier", Handler: barrier(n)}}})
	c := dial(t, h, client.Options{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(ctx, "barrier", fmt.Sprint(i))
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res.Text()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, r := range results {
		var branch, arg int
		if _, err := fmt.Sscanf(r, "branch %d: %d", &branch, &arg); err != nil || arg != i {
			t.Errorf("result %d = %q", i, r)
		}
		seen[fmt.Sprint(branch)] = true
	}
	if len(seen) != n {
		t.Errorf("calls used %d distinct branches, want %d: %v", len(seen), n, results)
	}
}

func TestBranchAllocation(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "echo", Handler: clienttest.Echo}}})
	c := dial(t, h, client.Options{})
	ctx := testCtx(t)
	a, err := c.Start(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Start(ctx, "echo")
	if a.Branch() != 0 || b.Branch() != 1 || a.Cmd() != 256 || a.Name() != "echo" {
		t.Fatalf("branches %d, %d", a.Branch(), b.Branch())
	}
	a.Close()
	a2, _ := c.Start(ctx, "echo")
	if a2.Branch() != 0 {
		t.Errorf("closed idle branch not reused: got %d", a2.Branch())
	}
	// An idle call (never sent anything) reports ErrCallEnded.
	if _, err := b.Next(ctx); !errors.Is(err, client.ErrCallEnded) {
		t.Errorf("Next on an idle call: %v", err)
	}
	a2.Close()
	b.Close()
	if err := b.SendText("x"); !errors.Is(err, client.ErrCallClosed) {
		t.Errorf("SendText after Close: %v", err)
	}
}

func TestIdleEndsCall(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "multi", Handler: func(inst *clienttest.Instance) {
		for {
			f, ok := inst.Recv()
			if !ok {
				return
			}
			for _, w := range wire.ParseArgs(wire.DecodeText(f.Payload), -1) {
				_ = inst.Text(w)
			}
			_ = inst.Err("err: warn\n")
			_ = inst.Send(wire.TypeBigText, wire.EncodeText("!"))
			_ = inst.Idle()
		}
	}}}})
	c := dial(t, h, client.Options{})
	ctx := testCtx(t)
	call, err := c.Start(ctx, "multi")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	for round := range 2 {
		if err := call.SendText("a b c"); err != nil {
			t.Fatal(err)
		}
		var types []wire.TypeID
		for {
			f, err := call.Next(ctx)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			types = append(types, f.Type)
			if f.Type == wire.TypeIdle {
				break
			}
		}
		if len(types) != 6 {
			t.Errorf("round %d: types %v", round, types)
		}
		if _, err := call.Next(ctx); !errors.Is(err, client.ErrCallEnded) {
			t.Errorf("round %d: Next after IDLE: %v", round, err)
		}
	}
	res, err := c.Run(ctx, "multi", "x y")
	if err != nil {
		t.Fatal(err)
	}
	if res.Text() != "xy!" {
		t.Errorf("Text() = %q", res.Text())
	}
	var ce *client.CommandError
	if !errors.As(res.Err(), &ce) || len(res.Errors()) != 1 || ce.Error() != "err: warn" {
		t.Errorf("Err() = %v, Errors() = %q", res.Err(), res.Errors())
	}
}

func TestLostConnection(t *testing.T) {
	onS, sess := sessions()
	started := make(chan struct{})
	var once sync.Once
	h := clienttest.NewHost(t, clienttest.Config{
		Commands: []clienttest.Command{{Name: "hang", Handler: func(inst *clienttest.Instance) {
			for {
				if _, ok := inst.Recv(); !ok {
					return
				}
				once.Do(func() { close(started) })
			}
		}}},
		OnSession: onS,
	})
	c := dial(t, h, client.Options{})
	s := <-sess
	ctx := testCtx(t)
	call, err := c.Start(ctx, "hang")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if err := call.SendText(""); err != nil {
		t.Fatal(err)
	}
	<-started
	errc := make(chan error, 3)
	go func() { _, err := call.Next(ctx); errc <- err }()
	go func() { _, err := c.WaitCommand(ctx, "never"); errc <- err }()
	go func() { _, err := c.Run(ctx, "hang", ""); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	for range 3 {
		select {
		case err := <-errc:
			if !errors.Is(err, client.ErrConnectionLost) {
				t.Errorf("blocked call returned %v, want ErrConnectionLost", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocked methods not released by the lost connection")
		}
	}
	select {
	case <-c.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed")
	}
	if !errors.Is(c.Err(), client.ErrConnectionLost) {
		t.Errorf("Err() = %v", c.Err())
	}
	for range c.Async() { // closed after the loss
	}
	if err := c.Send(wire.Frame{Type: wire.TypeText, Cmd: 256}); err == nil {
		t.Error("Send after loss succeeded")
	}
	if _, err := c.Start(ctx, "hang"); err == nil {
		t.Error("Start after loss succeeded")
	}
}

func TestClose(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "echo", Handler: clienttest.Echo}}})
	c := dial(t, h, client.Options{})
	errc := make(chan error, 1)
	go func() { _, err := c.WaitCommand(context.Background(), "never"); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, client.ErrClosed) {
		t.Errorf("WaitCommand after Close: %v", err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Errorf("Err() = %v", c.Err())
	}
	c.Close() // idempotent
}

func TestContextCancel(t *testing.T) {
	terms := make(chan wire.TypeID, 4)
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "slow", Handler: func(inst *clienttest.Instance) {
		for {
			f, ok := inst.Recv()
			if !ok {
				return
			}
			if f.Type == wire.TypeTermCmd {
				terms <- f.Type
				_ = inst.Idle()
			}
		}
	}}}})
	c := dial(t, h, client.Options{})
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Run(ctx, "slow", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-terms:
	case <-time.After(5 * time.Second):
		t.Fatal("no TERM_CMD after the context ended")
	}
}

func TestAsyncDropOldest(t *testing.T) {
	onS, sess := sessions()
	h := clienttest.NewHost(t, clienttest.Config{
		Commands:  []clienttest.Command{{Name: "echo", Handler: clienttest.Echo}},
		OnSession: onS,
	})
	c := dial(t, h, client.Options{AsyncBuffer: 3})
	s := <-sess
	ctx := testCtx(t)
	if _, err := c.WaitCommand(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	// Queued so far: RDY, ADD_CMD. Send 10 casts.
	for i := range 10 {
		_ = s.SendAsync(wire.AsyncCast, wire.TypeText, wire.EncodeText(fmt.Sprint(i)))
	}
	if _, err := c.Run(ctx, "echo", "sync"); err != nil {
		t.Fatal(err)
	}
	if got := c.DroppedAsync(); got != 9 {
		t.Errorf("DroppedAsync() = %d, want 9", got)
	}
	for _, want := range []string{"7", "8", "9"} {
		f := <-c.Async()
		if f.Cmd != uint16(wire.AsyncCast) || wire.DecodeText(f.Payload) != want {
			t.Errorf("async frame %+v, want cast %s", f, want)
		}
	}
}

func TestRunPromptAborts(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "ask", Handler: asker}}})
	c := dial(t, h, client.Options{})
	res, err := c.Run(testCtx(t), "ask", "")
	if !errors.Is(err, client.ErrPrompt) || !strings.Contains(err.Error(), "secret?") {
		t.Fatalf("Run: %v", err)
	}
	if last := res.Frames[len(res.Frames)-1]; last.Type != wire.TypeIdle {
		t.Errorf("last frame %v", last.Type)
	}
}

// asker prompts with PRIV_TEXT "secret?" then TEXT "name?" and prints the
// answers.
func asker(inst *clienttest.Instance) {
	for {
		if _, ok := inst.Recv(); !ok {
			return
		}
		var answers []string
		for _, p := range []wire.TypeID{wire.TypePrivText, wire.TypeText} {
			q := map[wire.TypeID]string{wire.TypePrivText: "secret?", wire.TypeText: "name?"}[p]
			_ = inst.Send(p, wire.EncodeText(q))
			f, ok := inst.Recv()
			if !ok {
				return
			}
			if f.Type == wire.TypeTermCmd {
				break
			}
			answers = append(answers, wire.DecodeText(f.Payload))
		}
		_ = inst.Text(strings.Join(answers, ","))
		_ = inst.Idle()
	}
}

func TestRunInteractive(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{{Name: "ask", Handler: asker}}})
	c := dial(t, h, client.Options{})
	var prompts []string
	p := client.TextPrompts(client.PromptFunc(func(ctx context.Context, f wire.Frame) (string, error) {
		prompts = append(prompts, f.Type.String()+" "+wire.DecodeText(f.Payload))
		if f.Type == wire.TypePrivText {
			return "pw", nil
		}
		return "bob", nil
	}), func(f wire.Frame) bool { return strings.HasSuffix(wire.DecodeText(f.Payload), "?") })
	res, err := c.RunInteractive(testCtx(t), "ask", "", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(prompts, "|"); got != "PRIV_TEXT secret?|TEXT name?" {
		t.Errorf("prompts = %q", got)
	}
	if !strings.HasSuffix(res.Text(), "pw,bob") {
		t.Errorf("Text() = %q", res.Text())
	}
	// A prompter error aborts with TERM_CMD and is returned.
	boom := errors.New("boom")
	_, err = c.RunInteractive(testCtx(t), "ask", "", client.PromptFunc(func(context.Context, wire.Frame) (string, error) { return "", boom }))
	if !errors.Is(err, boom) {
		t.Errorf("RunInteractive: %v, want boom", err)
	}
}

func authHost(t *testing.T, accounts map[string]*clienttest.Account) *clienttest.Host {
	return clienttest.NewHost(t, clienttest.Config{Commands: []clienttest.Command{
		{Name: "auth", Handler: clienttest.Auth(accounts)},
		{Name: "echo", Handler: clienttest.Echo},
	}})
}

func TestLogin(t *testing.T) {
	h := authHost(t, map[string]*clienttest.Account{"root": {Password: "Secret#1", Rank: 1}})
	c := dial(t, h, client.Options{})
	ctx := testCtx(t)
	if _, ok := c.MyInfo(); ok {
		t.Fatal("MyInfo before login")
	}
	if err := c.Login(ctx, "root", "Secret#1"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	mi, ok := c.MyInfo()
	if !ok || mi.Peer.UserName != "root" || mi.Rank != 1 {
		t.Errorf("MyInfo() = %+v, %v", mi, ok)
	}
	// The session is still usable and the auth branch was freed.
	if res, err := c.Run(ctx, "echo", "after"); err != nil || res.Text() != "after" {
		t.Errorf("Run after login: %v, %v", res, err)
	}
	call, _ := c.Start(ctx, "auth")
	if call.Branch() != 0 {
		t.Errorf("auth branch %d still in use", call.Branch())
	}
	call.Close()
}

func TestLoginFailures(t *testing.T) {
	accounts := map[string]*clienttest.Account{
		"root":    {Password: "Secret#1"},
		"new guy": {Password: "Temp#123", NewPasswordRequired: true},
	}
	h := authHost(t, accounts)
	c := dial(t, h, client.Options{})
	ctx := testCtx(t)

	err := c.Login(ctx, "root", "wrong")
	if !errors.Is(err, client.ErrLoginFailed) || !strings.Contains(err.Error(), "err: access denied") {
		t.Errorf("wrong password: %v", err)
	}
	err = c.Login(ctx, "nobody", "x")
	if !errors.Is(err, client.ErrLoginFailed) || !strings.Contains(err.Error(), "err: no such user") {
		t.Errorf("unknown user: %v", err)
	}
	// A user name with a space is quoted so the host sees one word.
	err = c.Login(ctx, "new guy", "Temp#123")
	if !errors.Is(err, client.ErrNewPasswordRequired) {
		t.Errorf("forced change without WithNewPassword: %v", err)
	}
	err = c.Login(ctx, "new guy", "Temp#123", client.WithNewPassword("short"))
	if !errors.Is(err, client.ErrLoginFailed) || !strings.Contains(err.Error(), "err: invalid password") {
		t.Errorf("invalid new password: %v", err)
	}
	if _, ok := c.MyInfo(); ok {
		t.Error("MyInfo after failed logins")
	}
	if err := c.Login(ctx, "new guy", "Temp#123", client.WithNewPassword("Better#pw1")); err != nil {
		t.Fatalf("forced change: %v", err)
	}
	if mi, _ := c.MyInfo(); mi.Peer.UserName != "new guy" {
		t.Errorf("MyInfo user %q", mi.Peer.UserName)
	}
	// The new password is in effect.
	if err := c.Login(ctx, "new guy", "Better#pw1"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}

func TestLoginWithoutAuthCommand(t *testing.T) {
	h := clienttest.NewHost(t, clienttest.Config{})
	c := dial(t, h, client.Options{})
	if err := c.Login(testCtx(t), "root", "x"); !errors.Is(err, client.ErrUnknownCommand) {
		t.Errorf("Login: %v", err)
	}
}

func TestQuoteArg(t *testing.T) {
	cases := []string{
		"plain", "two words", `say "hi"`, "it's", `C:\dir`, `C:\my dir\`, `trail\`, `\"`, `\'`,
		`a\"b c`, "tab\there", "\u00a0nbsp", `"`, `'`, `\\`, `x \\`, "ünï cödé", `-dash`, `''`,
	}
	for _, s := range cases {
		q := client.QuoteArg(s)
		got := wire.ParseArgs("-user "+q, -1)
		if len(got) != 2 || got[1] != s {
			t.Errorf("QuoteArg(%q) = %q parses to %q", s, q, got)
		}
	}
	if client.QuoteArg("plain") != "plain" {
		t.Error("plain word was quoted")
	}
}

func FuzzQuoteArg(f *testing.F) {
	for _, s := range []string{"a b", `\"`, `x\`, `'"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || !utf8Valid(s) || strings.ContainsRune(s, 0) {
			return
		}
		got := wire.ParseArgs(client.QuoteArg(s), -1)
		if len(got) != 1 || got[0] != s {
			t.Errorf("QuoteArg(%q) = %q parses to %q", s, client.QuoteArg(s), got)
		}
	})
}
