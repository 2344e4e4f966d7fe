package host_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/mail"
	"github.com/mrci/mrci/internal/mail/mailtest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// fakeClock is the injected clock of expiries and rate limits.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// debugLines collects the mail queue's debug lines.
type debugLines struct {
	mu    sync.Mutex
	lines []string
	ch    chan string
}

func (d *debugLines) add(s string) {
	d.mu.Lock()
	d.lines = append(d.lines, s)
	d.mu.Unlock()
	select {
	case d.ch <- s:
	default:
	}
}

func (d *debugLines) waitFor(t *testing.T, sub string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		d.mu.Lock()
		found := slices.ContainsFunc(d.lines, func(l string) bool { return strings.Contains(l, sub) })
		d.mu.Unlock()
		if found {
			return
		}
		select {
		case <-d.ch:
		case <-timeout:
			t.Fatalf("no mail debug line with %q", sub)
		}
	}
}

type mailEnv struct {
	h     *hosttest.Host
	srv   *mailtest.Server
	clock *fakeClock
	debug *debugLines
}

// startMail starts an SMTP server with STARTTLS (self-signed test CA)
// and authentication, and a host that delivers to it.
func startMail(t *testing.T, mod func(*store.EmailSettings, *store.Settings)) *mailEnv {
	t.Helper()
	// Registered first, so it runs last: after the host, its mail queue,
	// the SMTP server and the clients have stopped, no goroutine is left.
	existing := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, existing) })
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "mrci", Password: "smtp-Secret-1"})
	e := &mailEnv{srv: srv, clock: &fakeClock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)},
		debug: &debugLines{ch: make(chan string, 1)}}
	e.h = hosttest.StartWith(t, hosttest.Options{
		Setup: func(st store.Store) {
			es := store.DefaultEmailSettings()
			es.SMTPHost, es.SMTPPort, es.SMTPTLS = srv.Host, uint16(srv.Port), "starttls"
			es.SMTPUser, es.SMTPPassword, es.SMTPFrom = "mrci", "smtp-Secret-1", "MRCI <host@example.com>"
			es.ResetPerAccount, es.ResetPerIP = 1000, 1000
			s, err := st.Settings(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if mod != nil {
				mod(&es, &s)
			}
			if err := st.SaveEmailSettings(context.Background(), es); err != nil {
				t.Fatal(err)
			}
			if err := st.SaveSettings(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		},
		Email: host.EmailConfig{Now: e.clock.Now, RootCAs: srv.CA,
			Queue: mail.QueueOptions{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Debug: e.debug.add}},
	})
	return e
}

var sixDigits = regexp.MustCompile(`\b[1-9][0-9]{5}\b`)

// codeFrom answers a prompt with the code of the next mail.
func (e *mailEnv) codeFrom(t *testing.T, got *mailtest.Received) client.Prompter {
	return client.PromptFunc(func(ctx context.Context, f wire.Frame) (string, error) {
		*got = e.srv.Next(t)
		return sixDigits.FindString(got.Body), nil
	})
}

// sequence answers prompts from functions in order.
func sequence(fns ...func() string) client.Prompter {
	i := 0
	return client.PromptFunc(func(ctx context.Context, f wire.Frame) (string, error) {
		if i >= len(fns) {
			return "", fmt.Errorf("unexpected prompt %q", wire.DecodeText(f.Payload))
		}
		i++
		return fns[i-1](), nil
	})
}

func lit(s string) func() string { return func() string { return s } }

func runP(t *testing.T, c *client.Client, name, args string, p client.Prompter) *client.Result {
	t.Helper()
	res, err := c.RunInteractive(hosttest.Ctx(t, 30*time.Second), name, args, p)
	if err != nil {
		t.Fatalf("%s %s: %v", name, args, err)
	}
	return res
}

func TestVerifyEmail(t *testing.T) {
	e := startMail(t, nil)
	e.h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	a1 := e.h.Login(t, "alice", "Alice-Pass-1")
	a2 := e.h.Login(t, "alice", "Alice-Pass-1")
	nextAsync(t, a2, wire.AsyncSysMsg, wire.TypeMyInfo) // the login's own MY_INFO
	var m mailtest.Received
	var code string
	res := runP(t, a1, "verify_email", "", sequence(
		func() string { m = e.srv.Next(t); code = sixDigits.FindString(m.Body); return "000000" },
		func() string { return code }))
	if errs := res.Errors(); len(errs) != 1 || errs[0] != "err: code does not match\n" {
		t.Fatalf("errors %q", errs)
	}
	if m.To[0] != "alice@example.com" || m.Subject != store.DefaultVerifyEmailSubject || code == "" {
		t.Fatalf("mail to %q subject %q body %q", m.To, m.Subject, m.Body)
	}
	for _, want := range []string{"account: alice\n", "Date requested: 2026-05-06 07:08:09."} {
		if !strings.Contains(m.Body, want) {
			t.Fatalf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if !user(t, e.h, "alice").EmailVerified {
		t.Fatal("email_verified not set")
	}
	// Every session of alice re-reads MY_INFO (ASYNC_RW_MY_INFO).
	f := nextAsync(t, a2, wire.AsyncSysMsg, wire.TypeMyInfo)
	if mi, err := wire.ParseMyInfo(f.Payload); err != nil || !mi.EmailVerified {
		t.Fatalf("MY_INFO %+v %v", mi, err)
	}
	if _, err := e.h.Store.EmailCode(context.Background(), user(t, e.h, "alice").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code kept after use: %v", err)
	}
	if !strings.Contains(run(t, a1, "verify_email", "").Text(), "already verified") {
		t.Fatal("verified twice")
	}
	// Changing the address clears the flag.
	wantOK(t, run(t, a1, "set_email", "-new_email alice2@example.com"))
	if got := run(t, a1, "is_email_verified", "").Text(); got != "false\n" {
		t.Fatalf("is_email_verified after set_email: %q", got)
	}
}

func TestVerifyEmailAttemptLimitAndExpiry(t *testing.T) {
	e := startMail(t, nil)
	e.h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	a := e.h.Login(t, "alice", "Alice-Pass-1")
	id := user(t, e.h, "alice").ID
	// Five wrong answers void the code, even the right one afterwards.
	var fns []func() string
	fns = append(fns, func() string { e.srv.Next(t); return "000001" })
	for range 4 {
		fns = append(fns, lit("000001"))
	}
	res := runP(t, a, "verify_email", "", sequence(fns...))
	errs := res.Errors()
	if len(errs) != 5 || errs[3] != "err: code does not match\n" || errs[4] != "err: too many wrong codes; run verify_email again for a new one\n" {
		t.Fatalf("errors %q", errs)
	}
	if _, err := e.h.Store.EmailCode(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code kept after the attempt limit: %v", err)
	}
	// A code answered after its expiry (15 minutes) is refused.
	var code string
	res = runP(t, a, "verify_email", "", sequence(func() string {
		code = sixDigits.FindString(e.srv.Next(t).Body)
		e.clock.Advance(15 * time.Minute)
		return code
	}))
	wantErr(t, res, "the code expired; run verify_email again for a new one")
	if user(t, e.h, "alice").EmailVerified {
		t.Fatal("verified with an expired code")
	}
	// Just before the expiry it is accepted.
	res = runP(t, a, "verify_email", "", sequence(func() string {
		code = sixDigits.FindString(e.srv.Next(t).Body)
		e.clock.Advance(15*time.Minute - time.Second)
		return code
	}))
	wantOK(t, res)
	if !user(t, e.h, "alice").EmailVerified {
		t.Fatal("not verified")
	}
}

// tempPw extracts the temporary password of a reset mail.
func tempPw(t *testing.T, m mailtest.Received) string {
	t.Helper()
	_, rest, ok := strings.Cut(m.Body, "as follows:\n\n")
	if !ok {
		t.Fatalf("reset mail body %q", m.Body)
	}
	pw, _, _ := strings.Cut(rest, "\n")
	return pw
}

func TestResetRecoverLogin(t *testing.T) {
	e := startMail(t, nil)
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	bob := e.h.Login(t, "bob", "Bob-Pass-1")
	id := user(t, e.h, "bob").ID
	if err := e.h.Store.UpdateUser(context.Background(), id, store.UserUpdate{NewPasswordReq: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	anon := e.h.Dial(t)
	res := run(t, anon, "request_pw_reset", "-email bob@example.com")
	wantOK(t, res)
	if !strings.Contains(res.Text(), "a temporary password was sent") {
		t.Fatalf("text %q", res.Text())
	}
	m := e.srv.Next(t)
	temp := tempPw(t, m)
	if m.To[0] != "bob@example.com" || m.Subject != store.DefaultTempPwEmailSubject || len(temp) != 16 ||
		!strings.Contains(m.Body, "account: bob\n") || !strings.Contains(m.Body, "Date requested: 2026-05-06 07:08:09.") {
		t.Fatalf("mail %q %q:\n%s", m.To, m.Subject, m.Body)
	}
	rec, err := e.h.Store.Recovery(context.Background(), id)
	if err != nil || !strings.HasPrefix(rec.Hash, "$argon2id$") || strings.Contains(rec.Hash, temp) || !rec.Issued.Equal(e.clock.Now()) {
		t.Fatalf("recovery row %+v %v", rec, err)
	}
	// A wrong answer counts; the right one leads to the new password.
	res = run(t, anon, "recover_acct", "-user bob", "Wrong-Temp-1!", temp, "short", "New-Bob-Pass-2")
	if errs := res.Errors(); len(errs) != 2 || errs[0] != "err: access denied\n" || !strings.HasPrefix(errs[1], "err: invalid password") {
		t.Fatalf("errors %q", errs)
	}
	// bob's session was told and logged out.
	f := nextAsync(t, bob, wire.AsyncSysMsg, wire.TypeText)
	if !strings.Contains(wire.DecodeText(f.Payload), "replaced through account recovery") {
		t.Fatalf("notice %q", wire.DecodeText(f.Payload))
	}
	if out := run(t, bob, "my_info", "").Text(); strings.Contains(out, "User Name:") {
		t.Fatalf("bob still logged in:\n%s", out)
	}
	u := user(t, e.h, "bob")
	if u.NewPasswordReq {
		t.Fatal("new_password_req not cleared")
	}
	if _, err := e.h.Store.Recovery(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("recovery row kept: %v", err)
	}
	if n, _ := e.h.Store.CountFailedRecover(context.Background(), id); n != 0 {
		t.Fatalf("%d failed recover attempts still counted", n)
	}
	e.h.Login(t, "bob", "New-Bob-Pass-2")
	wantErr(t, run(t, e.h.Dial(t), "auth", "-user bob", "Bob-Pass-1", ""), "access denied")
	// Single use: the same temporary password is refused now.
	wantErr(t, run(t, anon, "recover_acct", "-user bob", temp, ""), "access denied")
}

func ptr[T any](v T) *T { return &v }

// TestRecoveryExpiryAndRefresh: a temporary password lives one hour from
// its (latest) request, measured in UTC.
func TestRecoveryExpiryAndRefresh(t *testing.T) {
	e := startMail(t, nil)
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	anon := e.h.Dial(t)
	wantOK(t, run(t, anon, "request_pw_reset", "-user bob"))
	first := tempPw(t, e.srv.Next(t))
	e.clock.Advance(time.Hour)
	wantErr(t, run(t, anon, "recover_acct", "-user bob", first, ""), "access denied")
	if _, err := e.h.Store.Recovery(context.Background(), user(t, e.h, "bob").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired row kept: %v", err)
	}
	// A new request refreshes the expiry: 50 + 20 minutes after the
	// first request, the second password still works; the first does not.
	wantOK(t, run(t, anon, "request_pw_reset", "-user bob"))
	old := tempPw(t, e.srv.Next(t))
	e.clock.Advance(50 * time.Minute)
	wantOK(t, run(t, anon, "request_pw_reset", "-user bob"))
	fresh := tempPw(t, e.srv.Next(t))
	e.clock.Advance(20 * time.Minute)
	wantErr(t, run(t, anon, "recover_acct", "-user bob", old, ""), "access denied")
	wantOK(t, run(t, anon, "recover_acct", "-user bob", fresh, "New-Bob-Pass-2"))
	e.h.Login(t, "bob", "New-Bob-Pass-2")
}

// TestRecoverAttemptsVoidTempPw: more wrong answers than
// auto_lock_threshold delete the temporary password.
func TestRecoverAttemptsVoidTempPw(t *testing.T) {
	e := startMail(t, func(_ *store.EmailSettings, s *store.Settings) { s.AutoLockThreshold = 2 })
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	anon := e.h.Dial(t)
	wantOK(t, run(t, anon, "request_pw_reset", "-user bob"))
	temp := tempPw(t, e.srv.Next(t))
	res := run(t, anon, "recover_acct", "-user bob", "Wrong-1!a", "Wrong-2!a", "Wrong-3!a", temp, "")
	if errs := res.Errors(); len(errs) != 4 {
		t.Fatalf("errors %q", errs)
	}
	if _, err := e.h.Store.Recovery(context.Background(), user(t, e.h, "bob").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("temporary password kept after too many wrong answers: %v", err)
	}
	if user(t, e.h, "bob").Locked {
		t.Fatal("recovery attempts locked the account")
	}
}

// TestResetUnknownAccount: the same text, no mail, but the same trip to
// the SMTP server (a probe).
func TestResetUnknownAccount(t *testing.T) {
	e := startMail(t, nil)
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	anon := e.h.Dial(t)
	known := run(t, anon, "request_pw_reset", "-user bob")
	e.srv.Next(t)
	conns := e.srv.Connections()
	for _, args := range []string{"-user nobody", "-email nobody@example.com", "-user root"} {
		res := run(t, anon, "request_pw_reset", args)
		if res.Text() != known.Text() || len(res.Errors()) != 0 {
			t.Fatalf("%s: %q / %q, want %q", args, res.Text(), res.Errors(), known.Text())
		}
	}
	if got := e.srv.Messages(); len(got) != 0 || e.srv.Count() != 1 {
		t.Fatalf("mail sent for unknown accounts: %d", len(got))
	}
	if e.srv.Connections() < conns+3 {
		t.Fatalf("%d SMTP sessions for 3 unknown accounts", e.srv.Connections()-conns)
	}
	wantErr(t, run(t, anon, "recover_acct", "-user nobody", "Some-Temp-1!", ""), "access denied")
	wantErr(t, run(t, anon, "request_pw_reset", "-user"), "-user/-email missing, empty or invalid")
}

// TestResetTimingReport measures request_pw_reset for an existing and an
// unknown account, alternating, and reports the medians (no assertion:
// timing is not asserted on a shared machine).
func TestResetTimingReport(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	e := startMail(t, nil)
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	anon := e.h.Dial(t)
	const n = 30
	var known, unknown []time.Duration
	for i := range 2 * n {
		args := "-user bob"
		if i%2 == 1 {
			args = "-user nobody"
		}
		start := time.Now()
		wantOK(t, run(t, anon, "request_pw_reset", args))
		d := time.Since(start)
		if i%2 == 0 {
			known = append(known, d)
			e.srv.Next(t)
		} else {
			unknown = append(unknown, d)
		}
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	t.Logf("request_pw_reset over %d tries each: median known %v (p10 %v, p90 %v), unknown %v (p10 %v, p90 %v)",
		n, med(known), known[n/10], known[n*9/10], med(unknown), unknown[n/10], unknown[n*9/10])
}

func TestResetRateLimits(t *testing.T) {
	e := startMail(t, func(es *store.EmailSettings, _ *store.Settings) { es.ResetPerAccount, es.ResetPerIP = 2, 5 })
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	anon := e.h.Dial(t)
	wantOK(t, run(t, anon, "request_pw_reset", "-user bob"))
	wantOK(t, run(t, anon, "request_pw_reset", "-email BOB@example.com")) // same account
	wantErr(t, run(t, anon, "request_pw_reset", "-user bob"), "too many password reset requests; try again later")
	// Unknown names are limited exactly the same way.
	wantOK(t, run(t, anon, "request_pw_reset", "-user nobody"))
	wantOK(t, run(t, anon, "request_pw_reset", "-user NOBODY"))
	// That was the 5th request from this address: the next is refused
	// whatever the account.
	wantErr(t, run(t, anon, "request_pw_reset", "-user carol"), "too many password reset requests; try again later")
	if n := len(e.srv.Messages()); n != 2 {
		t.Fatalf("%d mails sent, want 2", n)
	}
	// The window passes.
	e.clock.Advance(time.Hour)
	wantOK(t, run(t, anon, "request_pw_reset", "-user bob"))
}

// TestSMTPDown: the request reports failure, the retries are logged, and
// the temporary password is dropped when the queue gives up; a
// verification code is not kept either.
func TestSMTPDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := uint16(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close() // nothing listens there now
	e := startMail(t, func(es *store.EmailSettings, _ *store.Settings) { es.SMTPPort = deadPort })
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	anon := e.h.Dial(t)
	wantErr(t, run(t, anon, "request_pw_reset", "-user bob"),
		"the mail could not be sent now; the host retries in the background, or try again later")
	e.debug.waitFor(t, "temporary password for bob: attempt 1 of 3 failed")
	e.debug.waitFor(t, "temporary password for bob: attempt 3 of 3 failed")
	e.debug.waitFor(t, "temporary password for bob: given up after 3 attempt(s)")
	id := user(t, e.h, "bob").ID
	if _, err := e.h.Store.Recovery(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("undeliverable temporary password kept: %v", err)
	}
	// Unknown accounts get the same failure.
	wantErr(t, run(t, anon, "request_pw_reset", "-user nobody"),
		"the mail could not be sent now; the host retries in the background, or try again later")
	b := e.h.Login(t, "bob", "Bob-Pass-1")
	wantErr(t, run(t, b, "verify_email", ""), "the verification mail could not be sent; try again later")
	if _, err := e.h.Store.EmailCode(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("undeliverable code kept: %v", err)
	}
	// The failures reached the host's debug log (ls_dbg's table): stopping
	// the host flushes its log writer.
	e.h.Stop()
	rows, err := e.h.Store.ListView(context.Background(), store.ViewDebug,
		[]store.Filter{{Column: "log_entry", Value: "temporary password for bob: attempt 1 of 3 failed"}}, store.Page{Limit: 10})
	if err != nil || len(rows) != 1 {
		t.Fatalf("debug log rows %v, %v", rows, err)
	}
}

// TestCraftedNamesSMTP: a user name and an address with quotes, ';' and
// "$()" reach the mail as data only; a subject with CR/LF stored behind
// the commands' back still makes no header.
func TestCraftedNamesSMTP(t *testing.T) {
	e := startMail(t, func(_ *store.EmailSettings, s *store.Settings) {
		s.TempPwEmailSubject = "Reset\r\nBcc: evil@example.com"
	})
	name := `q'";$(id)`
	email := `"x;$(id)'"@example.com`
	u := e.h.CreateUser(t, name, "Crafted-Pass-1", 2)
	if err := e.h.Store.UpdateUser(context.Background(), u.ID, store.UserUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	wantOK(t, run(t, e.h.Dial(t), "request_pw_reset", `-user "`+strings.ReplaceAll(name, `"`, `\"`)+`"`))
	m := e.srv.Next(t)
	// (the test server reports the envelope address with its quotes removed)
	if len(m.To) != 1 || (m.To[0] != email && m.To[0] != `x;$(id)'@example.com`) || m.Header.Get("To") != "<"+email+">" ||
		m.Header.Get("Bcc") != "" || m.Subject != "Reset  Bcc: evil@example.com" {
		t.Fatalf("rcpt %q subject %q header %v", m.To, m.Subject, m.Header)
	}
	if !strings.Contains(m.Body, "account: "+name+"\n") {
		t.Fatalf("body %q", m.Body)
	}
}

// TestCraftedNamesProgram: in the legacy program mode, crafted values
// arrive as single argv elements of a real child program; no shell runs.
func TestCraftedNamesProgram(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	pwned := filepath.Join(dir, "pwned")
	script := filepath.Join(dir, "mailer")
	code := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > " + out + "\ncat > " + out + ".body\n"
	if err := os.WriteFile(script, []byte(code), 0o755); err != nil {
		t.Fatal(err)
	}
	e := startMail(t, func(es *store.EmailSettings, s *store.Settings) {
		es.Transport = store.TransportProgram
		s.MailerExecutable, s.MailerSendCommand = script, `-s %subject% %target_email% %message_body%`
		s.TempPwEmailSubject = "Reset $(touch " + pwned + ")"
	})
	name := `a';$(touch)`
	email := `"b;$(touch${IFS}pwned)"@example.com`
	u := e.h.CreateUser(t, name, "Crafted-Pass-1", 2)
	if err := e.h.Store.UpdateUser(context.Background(), u.ID, store.UserUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	wantOK(t, run(t, e.h.Dial(t), "request_pw_reset", "-email '"+email+"'"))
	args, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[-s]\n[Reset $(touch " + pwned + ")]\n[" + email + "]\n"; string(args) != want {
		t.Fatalf("argv %q, want %q", args, want)
	}
	body, _ := os.ReadFile(out + ".body")
	if !strings.Contains(string(body), "account: "+name+"\n") {
		t.Fatalf("stdin %q", body)
	}
	for _, f := range []string{pwned, "pwned", filepath.Join(dir, "pwned")} {
		if _, err := os.Stat(f); err == nil {
			t.Fatal("a shell ran")
		}
	}
}

// TestLegacyShellMailerRefused: the original's default mailer (/bin/sh -c
// "echo ... | mutt ...") is refused, not run; the request reports failure.
func TestLegacyShellMailerRefused(t *testing.T) {
	e := startMail(t, func(es *store.EmailSettings, s *store.Settings) { es.Transport = store.TransportProgram })
	e.h.CreateUser(t, "bob", "Bob-Pass-1", 2)
	wantErr(t, run(t, e.h.Dial(t), "request_pw_reset", "-user bob"),
		"the mail could not be sent now; the host retries in the background, or try again later")
	e.debug.waitFor(t, "is a shell")
	e.debug.waitFor(t, "given up")
	if _, err := e.h.Store.Recovery(context.Background(), user(t, e.h, "bob").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("undeliverable temporary password kept: %v", err)
	}
}

func TestEmailTemplates(t *testing.T) {
	e := startMail(t, nil)
	root := e.h.Root(t)
	wantErr(t, run(t, root, "set_email_template", "-subject x"), "specify -reset_template or -confirm_template")
	wantErr(t, run(t, root, "set_email_template", "-confirm_template -body 'no placeholders'"), "body lacks %date%")
	wantErr(t, run(t, root, "set_email_template", "-reset_template -body '%date% %user_name% %confirmation_code%'"), "body lacks %temp_pw%")
	wantErr(t, run(t, root, "set_email_template", "-confirm_template -subject "+strings.Repeat("s", 121)), "subject too large")
	wantErr(t, run(t, root, "set_email_template", "-confirm_template"), "body and subject empty, nothing changed")
	res := run(t, root, "set_email_template", "-confirm_template -subject 'Ihr Code' -body 'Hallo %USER_NAME%, Code %Confirmation_Code% (%date%)'")
	wantOK(t, res)
	if res.Text() != "email body updated\nemail subject updated\n" {
		t.Fatalf("text %q", res.Text())
	}
	res = run(t, root, "preview_email", "-confirm_email")
	if !strings.Contains(res.Text(), "Ihr Code") {
		t.Fatalf("preview text %q", res.Text())
	}
	big := ""
	for _, f := range res.Frames {
		if f.Type == wire.TypeBigText {
			big = wire.DecodeText(f.Payload)
		}
	}
	if !regexp.MustCompile(`^Hallo root, Code [1-9][0-9]{5} \(2026-05-06 07:08:09\)$`).MatchString(big) {
		t.Fatalf("preview body %q", big)
	}
	if e.srv.Count() != 0 {
		t.Fatal("preview mailed")
	}
	// The new template is what verify_email sends.
	e.h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	var m mailtest.Received
	wantOK(t, runP(t, e.h.Login(t, "alice", "Alice-Pass-1"), "verify_email", "", e.codeFrom(t, &m)))
	if m.Subject != "Ihr Code" || !strings.HasPrefix(m.Body, "Hallo alice, Code ") {
		t.Fatalf("mail %q %q", m.Subject, m.Body)
	}
	// -subject without a value restores the built-in subject.
	wantOK(t, run(t, root, "set_email_template", "-confirm_template -subject"))
	if s, _ := e.h.Store.Settings(context.Background()); s.VerifyEmailSubject != store.DefaultVerifyEmailSubject {
		t.Fatalf("subject %q", s.VerifyEmailSubject)
	}
}

// TestEmailTemplateUpload uploads a body over GEN_FILE (types.md §5).
func TestEmailTemplateUpload(t *testing.T) {
	e := startMail(t, nil)
	root := e.h.Root(t)
	ctx := hosttest.Ctx(t, 30*time.Second)
	call, err := root.Start(ctx, "set_email_template")
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	body := "Reset für %user_name% am %date%: %temp_pw%\n"
	data := wire.EncodeText(body)
	args := fmt.Sprintf("-reset_template -client_file /tmp/x.txt -len %d", len(data))
	if err := call.Send(wire.TypeGenFile, wire.EncodeText(args)); err != nil {
		t.Fatal(err)
	}
	next := func() wire.Frame {
		f, err := call.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := next(); f.Type != wire.TypeText || wire.DecodeText(f.Payload) != "input hooked, awaiting text file data\n" {
		t.Fatalf("frame %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	if f := next(); f.Type != wire.TypeGenFile || wire.DecodeText(f.Payload) != fmt.Sprintf("-to_host -len %d", len(data)) {
		t.Fatalf("host parameters %v %q", f.Type, wire.DecodeText(f.Payload))
	}
	if f := next(); f.Type != wire.TypeGenFile || len(f.Payload) != 0 {
		t.Fatalf("ready signal %v %q", f.Type, f.Payload)
	}
	half := len(data) / 2
	for _, part := range [][]byte{data[:half], data[half:]} {
		if err := call.Send(wire.TypeGenFile, part); err != nil {
			t.Fatal(err)
		}
	}
	var texts []string
	for {
		f := next()
		if f.Type == wire.TypeIdle {
			break
		}
		texts = append(texts, wire.DecodeText(f.Payload))
	}
	want := []string{fmt.Sprintf("%d/%d\n", half, len(data)), fmt.Sprintf("%d/%d\n", len(data), len(data)), "upload complete\n", "email body updated\n"}
	if !slices.Equal(texts, want) {
		t.Fatalf("progress %q, want %q", texts, want)
	}
	if s, _ := e.h.Store.Settings(context.Background()); s.TempPwEmailTemplate != body {
		t.Fatalf("template %q", s.TempPwEmailTemplate)
	}
	wantErr(t, run(t, root, "set_email_template", "-reset_template -client_file x -len 20001"),
		"file too large (max 20,000 bytes / 10,000 characters)")
	wantErr(t, run(t, root, "set_email_template", "-reset_template -client_file x -len abc"), "'abc' is not a valid integer")
	wantErr(t, run(t, root, "set_email_template", "-reset_template -client_file x -len 0"), "size cannot be zero or negative")
}

// TestEmailCommandListings: verify_email exists only while
// eable_email_verify is on; the recovery commands are public only while
// enable_pw_reset is on (and stay user commands).
func TestEmailCommandListings(t *testing.T) {
	on := startMail(t, nil)
	on.h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	anon := on.h.Dial(t)
	for _, name := range []string{"request_pw_reset", "recover_acct"} {
		if _, err := anon.WaitCommand(hosttest.Ctx(t, 10*time.Second), name); err != nil {
			t.Fatalf("public %s: %v", name, err)
		}
	}
	if _, err := on.h.Login(t, "alice", "Alice-Pass-1").WaitCommand(hosttest.Ctx(t, 10*time.Second), "verify_email"); err != nil {
		t.Fatalf("verify_email: %v", err)
	}
	off := startMail(t, func(_ *store.EmailSettings, s *store.Settings) { s.EnableEmailVerify, s.EnablePwReset = false, false })
	off.h.CreateUser(t, "alice", "Alice-Pass-1", 2)
	alice := off.h.Login(t, "alice", "Alice-Pass-1")
	root := off.h.Root(t)
	anon = off.h.Dial(t)
	if _, err := anon.WaitCommand(hosttest.Ctx(t, 10*time.Second), "auth"); err != nil { // the public list arrived
		t.Fatal(err)
	}
	if _, err := root.WaitCommand(hosttest.Ctx(t, 10*time.Second), "request_pw_reset"); err != nil {
		t.Fatalf("root lost request_pw_reset: %v", err)
	}
	for c, names := range map[*client.Client][]string{anon: {"request_pw_reset", "recover_acct"}, alice: {"verify_email"}, root: {"verify_email"}} {
		for _, name := range names {
			if _, ok := c.CommandID(name); ok {
				t.Fatalf("%s listed while disabled", name)
			}
		}
	}
}
