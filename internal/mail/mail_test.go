package mail_test

import (
	"context"
	"errors"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	. "github.com/mrci/mrci/internal/mail"
	"github.com/mrci/mrci/internal/mail/mailtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRender(t *testing.T) {
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	got := Render("%DATE% %User_Name% %temp_pw% %confirmation_code% %unknown% 100%", Vars{
		Date: date, UserName: "bob%temp_pw%", TempPw: "T3mp!pw", Code: "123456"})
	want := "2026-03-04 04:06:07 bob%temp_pw% T3mp!pw 123456 %unknown% 100%"
	if got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
	if !HasPlaceholder("x %Date% y", PhDate) || HasPlaceholder("x %dat% y", PhDate) {
		t.Fatal("HasPlaceholder")
	}
	if s := HeaderSafe(" a\r\nBcc: x@y\tz\u2028 "); s != "a  Bcc: x@y z" {
		t.Fatalf("HeaderSafe = %q", s)
	}
}

func smtpFor(t *testing.T, srv *mailtest.Server, mode TLSMode, mod func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg := SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: mode, From: "MRCI Host <host@example.com>",
		ConnectTimeout: 10 * time.Second, SendTimeout: 20 * time.Second, RootCAs: srv.CA}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSMTPStartTLS delivers over STARTTLS (self-signed test CA) with
// authentication and checks what arrives: headers and body.
func TestSMTPStartTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "mrci", Password: "pw'; $(x)"})
	s := smtpFor(t, srv, TLSStartTLS, func(c *SMTPConfig) { c.User, c.Password = "mrci", "pw'; $(x)" })
	body := "Héllo ünïcode ✓\nline two\n"
	if err := s.Send(ctx(t), Message{To: "alice@example.com", Subject: "Überprüfung ✓", Body: body}); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	if m.From != "host@example.com" || len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Fatalf("envelope %q -> %q", m.From, m.To)
	}
	if m.Subject != "Überprüfung ✓" || m.Body != body {
		t.Fatalf("subject %q body %q", m.Subject, m.Body)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
		t.Fatalf("Content-Type %q", ct)
	}
	if id := m.Header.Get("Message-ID"); !regexp.MustCompile(`^<[^<>@\s]+@[^<>@\s]+>$`).MatchString(id) {
		t.Fatalf("Message-ID %q", id)
	}
	if d, err := m.Header.Date(); err != nil || time.Since(d).Abs() > time.Hour {
		t.Fatalf("Date %q: %v", m.Header.Get("Date"), err)
	}
	if from, err := mail.ParseAddress(m.Header.Get("From")); err != nil || from.Address != "host@example.com" {
		t.Fatalf("From %q", m.Header.Get("From"))
	}
	// A probe connects, negotiates and authenticates without sending.
	before := srv.Connections()
	if err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if srv.Connections() <= before || srv.Count() != 1 {
		t.Fatalf("probe: %d connections, %d messages", srv.Connections()-before, srv.Count())
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Implicit: true})
	if err := smtpFor(t, srv, TLSImplicit, nil).Send(ctx(t), Message{To: "a@example.com", Subject: "s", Body: "b\n"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.Next(t); m.Body != "b\n" {
		t.Fatalf("body %q", m.Body)
	}
}

// TestSMTPTLSFailures: an unknown CA is a permanent error, STARTTLS
// required against a server without it fails, nothing is delivered.
func TestSMTPTLSFailures(t *testing.T) {
	tlsSrv := mailtest.Start(t, mailtest.Options{StartTLS: true})
	err := smtpFor(t, tlsSrv, TLSStartTLS, func(c *SMTPConfig) { c.RootCAs = nil }).
		Send(ctx(t), Message{To: "a@example.com", Subject: "s", Body: "b"})
	if err == nil || !IsPermanent(err) {
		t.Fatalf("unknown CA: %v (permanent %v)", err, IsPermanent(err))
	}
	plain := mailtest.Start(t, mailtest.Options{})
	if err := smtpFor(t, plain, TLSStartTLS, nil).Send(ctx(t), Message{To: "a@example.com", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("STARTTLS required: sent in clear text")
	}
	if err := smtpFor(t, plain, TLSOpportunistic, nil).Send(ctx(t), Message{To: "a@example.com", Subject: "s", Body: "b"}); err != nil {
		t.Fatalf("opportunistic: %v", err)
	}
	if tlsSrv.Count() != 0 || plain.Count() != 1 {
		t.Fatalf("delivered %d / %d", tlsSrv.Count(), plain.Count())
	}
	if _, err := NewSMTP(SMTPConfig{Host: "mail.example.com", TLS: TLSNone, From: "a@example.com"}); err == nil {
		t.Fatal("TLS none accepted for a remote host")
	}
	// A 5xx reply is permanent, a 4xx one is not.
	plain.Fail(&smtp.SMTPError{Code: 550, Message: "no such mailbox"})
	if err := smtpFor(t, plain, TLSNone, nil).Send(ctx(t), Message{To: "a@example.com", Subject: "s", Body: "b"}); !IsPermanent(err) {
		t.Fatalf("550: %v", err)
	}
	plain.Fail(&smtp.SMTPError{Code: 451, Message: "try later"})
	if err := smtpFor(t, plain, TLSNone, nil).Send(ctx(t), Message{To: "a@example.com", Subject: "s", Body: "b"}); err == nil || IsPermanent(err) {
		t.Fatalf("451: %v", err)
	}
}

// TestSMTPHeaderInjection: CR/LF in a subject never makes a header, and a
// recipient with CR/LF or several addresses is refused.
func TestSMTPHeaderInjection(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	s := smtpFor(t, srv, TLSNone, nil)
	if err := s.Send(ctx(t), Message{To: "a@example.com", Subject: "hi\r\nBcc: evil@example.com\r\n\r\nbody", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	if m.Header.Get("Bcc") != "" || len(m.To) != 1 || strings.Contains(m.Subject, "\n") {
		t.Fatalf("injected: header %v, rcpt %q", m.Header, m.To)
	}
	for _, to := range []string{"a@example.com\r\nBcc: evil@example.com", "a@example.com, evil@example.com", "<evil@example.com>"} {
		if err := s.Send(ctx(t), Message{To: to, Subject: "s", Body: "b"}); !IsPermanent(err) {
			t.Fatalf("recipient %q: %v", to, err)
		}
	}
	if srv.Count() != 1 {
		t.Fatalf("%d messages delivered", srv.Count())
	}
}

// TestProgramNoShell runs a real child program with crafted values: they
// arrive as single argv elements, the body on stdin, and nothing runs.
func TestProgramNoShell(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "mailer")
	out := filepath.Join(dir, "out")
	pwned := filepath.Join(dir, "pwned")
	code := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > " + out + "\ncat > " + out + ".body\n"
	if err := os.WriteFile(script, []byte(code), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := NewProgram(script, `-s %subject% "%target_email%" %message_body%`)
	if err != nil {
		t.Fatal(err)
	}
	to := `"x;$(touch ` + pwned + `)"@example.com`
	subject := "it's `touch " + pwned + "`; $(touch " + pwned + ")\r\nBcc: evil"
	body := "body '$(touch " + pwned + ")'\n"
	if err := p.Send(ctx(t), Message{To: to, Subject: subject, Body: body}); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(out)
	want := "[-s]\n[" + HeaderSafe(subject) + "]\n[" + to + "]\n"
	if string(args) != want {
		t.Fatalf("argv:\n%s\nwant:\n%s", args, want)
	}
	if b, _ := os.ReadFile(out + ".body"); string(b) != body {
		t.Fatalf("stdin %q", b)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a shell ran")
	}
	if err := p.Send(ctx(t), Message{To: "-oQ/tmp@example.com", Subject: "s", Body: "b"}); !IsPermanent(err) {
		t.Fatalf("option-like address: %v", err)
	}
	for _, exe := range []string{"/bin/sh", "/usr/bin/env", "relative/mailer"} {
		if _, err := NewProgram(exe, "%target_email%"); err == nil {
			t.Fatalf("NewProgram(%q) accepted", exe)
		}
	}
	if _, err := NewProgram(script, "-s %subject%"); err == nil {
		t.Fatal("template without the target placeholder accepted")
	}
	if err := p.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// collector gathers debug lines.
type collector struct {
	mu    sync.Mutex
	lines []string
	ch    chan string
}

func newCollector() *collector { return &collector{ch: make(chan string, 100)} }

func (c *collector) add(s string) {
	c.mu.Lock()
	c.lines = append(c.lines, s)
	c.mu.Unlock()
	c.ch <- s
}

func (c *collector) waitFor(t *testing.T, sub string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-c.ch:
			if strings.Contains(l, sub) {
				return l
			}
		case <-timeout:
			t.Fatalf("no debug line with %q", sub)
		}
	}
}

// deadAddr returns a loopback port nobody listens on.
func deadAddr(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// TestQueueRetriesThenGivesUp: with the server down the first attempt
// fails (reported to the waiter), retries are logged, and the job is
// given up after the last attempt.
func TestQueueRetriesThenGivesUp(t *testing.T) {
	port := deadAddr(t)
	logs := newCollector()
	gaveUp := make(chan error, 1)
	q := NewQueue(QueueOptions{Attempts: 3, Backoff: time.Millisecond, Debug: logs.add,
		Transport: func(context.Context) (Transport, error) {
			return NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "h@example.com", ConnectTimeout: 5 * time.Second})
		}})
	defer q.Close()
	tk, err := q.Submit(Job{Msg: Message{To: "a@example.com", Subject: "s", Body: "b"}, Retry: true, Label: "test mail",
		GiveUp: func(err error) { gaveUp <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.Wait(ctx(t)); err == nil {
		t.Fatal("first attempt against a dead server succeeded")
	}
	logs.waitFor(t, "attempt 1 of 3 failed")
	logs.waitFor(t, "attempt 2 of 3 failed")
	logs.waitFor(t, "attempt 3 of 3 failed")
	logs.waitFor(t, "given up after 3 attempt(s)")
	select {
	case err := <-gaveUp:
		if err == nil {
			t.Fatal("GiveUp without error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("GiveUp not called")
	}
}

// TestQueueRetrySucceeds: a temporary 4xx failure is retried until the
// server accepts.
func TestQueueRetrySucceeds(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	srv.Fail(&smtp.SMTPError{Code: 451, Message: "greylisted"})
	logs := newCollector()
	q := NewQueue(QueueOptions{Attempts: 50, Backoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Debug: logs.add,
		Transport: func(context.Context) (Transport, error) {
			return NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: TLSNone, From: "h@example.com"})
		}})
	defer q.Close()
	tk, err := q.Submit(Job{Msg: Message{To: "a@example.com", Subject: "s", Body: "retried\n"}, Retry: true, Label: "greylisted"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.Wait(ctx(t)); err == nil {
		t.Fatal("first attempt succeeded despite 451")
	}
	logs.waitFor(t, "attempt 1 of 50 failed")
	srv.Fail(nil)
	if m := srv.Next(t); m.Body != "retried\n" {
		t.Fatalf("body %q", m.Body)
	}
}

// blocking is a transport that waits until released.
type blocking struct{ release chan struct{} }

func (b blocking) Send(ctx context.Context, _ Message) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (b blocking) Probe(ctx context.Context) error { return b.Send(ctx, Message{}) }

// TestQueueBounded: a full queue refuses jobs at once; Close gives up the
// rest and cancels deliveries in flight.
func TestQueueBounded(t *testing.T) {
	tr := blocking{release: make(chan struct{})}
	q := NewQueue(QueueOptions{MaxJobs: 2, MaxBytes: 100, Workers: 1,
		Transport: func(context.Context) (Transport, error) { return tr, nil }})
	if _, err := q.Submit(Job{Msg: Message{Body: strings.Repeat("x", 101)}}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("oversize job: %v", err)
	}
	t1, err := q.Submit(Job{Msg: Message{Body: "one"}})
	if err != nil {
		t.Fatal(err)
	}
	gaveUp := make(chan error, 1)
	t2, err := q.Submit(Job{Msg: Message{Body: "two"}, GiveUp: func(err error) { gaveUp <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Submit(Job{Msg: Message{Body: "three"}}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third job: %v", err)
	}
	q.Close()
	if err := t1.Wait(ctx(t)); err == nil {
		t.Fatal("in-flight job reported success after Close")
	}
	if err := t2.Wait(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting job: %v", err)
	}
	if err := <-gaveUp; !errors.Is(err, ErrClosed) {
		t.Fatalf("GiveUp: %v", err)
	}
	if _, err := q.Submit(Job{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
