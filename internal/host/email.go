package host

import (
	"context"
	"crypto/x509"
	"strings"
	"sync"
	"time"

	"github.com/mrci/mrci/internal/bus"
	"github.com/mrci/mrci/internal/mail"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// EmailConfig configures mail delivery and the e-mail commands (issue 11).
// The delivery settings themselves (server, TLS, sender...) are
// store.EmailSettings, read for every attempt so changes apply at once.
type EmailConfig struct {
	// Now is the clock of code and temporary-password expiry and of the
	// rate limits (nil: time.Now). Tests inject one.
	Now func() time.Time
	// RootCAs verifies the SMTP server's certificate (nil: system roots).
	RootCAs *x509.CertPool
	// Queue tunes the delivery queue (zero values: the defaults of
	// mail.QueueOptions); the host sets Transport and Log, and sends the
	// Debug lines to its debug log (and to Queue.Debug too, if set).
	Queue mail.QueueOptions
	// FirstAttemptWait bounds how long a command waits for the result of
	// a mail's first delivery attempt (0: the configured connect and send
	// timeouts plus 5 s). A command that waited in vain reports failure;
	// the queue keeps retrying.
	FirstAttemptWait time.Duration
}

// mailer is the host's mail delivery: one queue, one rate limiter.
type mailer struct {
	h       *Host
	q       *mail.Queue
	limiter *rateLimiter
}

func newMailer(h *Host) *mailer {
	m := &mailer{h: h, limiter: newRateLimiter(100_000)}
	o := h.cfg.Email.Queue
	o.Transport = m.transport
	o.Log = h.log.With("component", "mail")
	o.Debug = h.Debug
	if extra := h.cfg.Email.Queue.Debug; extra != nil {
		o.Debug = func(msg string) { h.Debug(msg); extra(msg) }
	}
	m.q = mail.NewQueue(o)
	return m
}

func (m *mailer) close() { m.q.Close() }

// transport builds the transport the current settings name.
func (m *mailer) transport(ctx context.Context) (mail.Transport, error) {
	es, err := m.h.cfg.Store.EmailSettings(ctx)
	if err != nil {
		return nil, err
	}
	if es.Transport == store.TransportProgram {
		s, err := m.h.Settings(ctx)
		if err != nil {
			return nil, err
		}
		return mail.NewProgram(s.MailerExecutable, s.MailerSendCommand)
	}
	tls, err := mail.ParseTLSMode(es.SMTPTLS)
	if err != nil {
		return nil, err
	}
	return mail.NewSMTP(mail.SMTPConfig{
		Host: es.SMTPHost, Port: int(es.SMTPPort), TLS: tls, User: es.SMTPUser, Password: es.SMTPPassword,
		From: es.SMTPFrom, ConnectTimeout: es.ConnectTimeout, SendTimeout: es.SendTimeout,
		RootCAs: m.h.cfg.Email.RootCAs,
	})
}

// EmailNow is the clock of the e-mail commands (UTC).
func (h *Host) EmailNow() time.Time {
	if h.cfg.Email.Now != nil {
		return h.cfg.Email.Now().UTC()
	}
	return time.Now().UTC()
}

// SendMail queues a job and waits, within a bounded time, for its first
// delivery attempt: nil means the mail (or probe) went through. A failed
// first attempt is reported even when the queue goes on retrying.
func (h *Host) SendMail(ctx context.Context, j mail.Job) error {
	wait := h.cfg.Email.FirstAttemptWait
	if wait <= 0 {
		es, err := h.cfg.Store.EmailSettings(ctx)
		if err != nil {
			return err
		}
		wait = es.ConnectTimeout + es.SendTimeout + 5*time.Second
	}
	t, err := h.mail.q.Submit(j)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return t.Wait(ctx)
}

// AllowMail counts one request against a limit of n per window for key
// and reports whether it is allowed. Refused requests count too.
func (h *Host) AllowMail(key string, n uint32, window time.Duration) bool {
	return h.mail.limiter.allow(key, n, window, h.EmailNow())
}

// NotifyUser sends text on ASYNC_SYS_MSG to every session logged in as
// user and, if logout is set, logs those sessions out; in a cluster on
// every node.
func (h *Host) NotifyUser(user wire.UserID, text string, logout bool) {
	h.notifyUser(user, text, logout)
	h.broadcastNotifyUser(user, text, logout)
}

// notifyUser is NotifyUser on this node only.
func (h *Host) notifyUser(user wire.UserID, text string, logout bool) {
	frame := wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: uint16(wire.AsyncSysMsg), Payload: wire.EncodeText(text)})
	for _, id := range h.bus.SessionsOf(user) {
		h.mu.Lock()
		s := h.sessions[id]
		h.mu.Unlock()
		if s == nil {
			continue
		}
		s.DeliverFrame(frame)
		if logout {
			h.bus.SendTo(id, &bus.Message{ID: wire.AsyncLogout})
		}
	}
}

// rateLimiter counts events per key in fixed windows. It holds at most
// max keys: expired windows are dropped when it is full, and if it is
// still full every new key is refused (it fails closed, never grows).
type rateLimiter struct {
	mu   sync.Mutex
	max  int
	keys map[string]*rateWindow
}

type rateWindow struct {
	start time.Time
	end   time.Time
	n     uint32
}

func newRateLimiter(max int) *rateLimiter {
	return &rateLimiter{max: max, keys: make(map[string]*rateWindow)}
}

func (l *rateLimiter) allow(key string, n uint32, window time.Duration, now time.Time) bool {
	key = strings.ToLower(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.keys[key]
	if ok && !now.Before(w.end) {
		ok = false
	}
	if !ok {
		if len(l.keys) >= l.max {
			for k, w := range l.keys {
				if !now.Before(w.end) {
					delete(l.keys, k)
				}
			}
			if len(l.keys) >= l.max {
				return false
			}
		}
		w = &rateWindow{start: now, end: now.Add(window)}
		l.keys[key] = w
	}
	if w.n < ^uint32(0) {
		w.n++
	}
	return w.n <= n
}
