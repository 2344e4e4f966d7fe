package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how the SMTP connection is protected.
type TLSMode string

// The TLS modes.
const (
	// TLSImplicit connects with TLS from the first byte (port 465).
	TLSImplicit TLSMode = "tls"
	// TLSStartTLS requires STARTTLS; a server without it is an error.
	TLSStartTLS TLSMode = "starttls"
	// TLSOpportunistic uses STARTTLS when the server offers it.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSNone sends in clear text; allowed only to a loopback server.
	TLSNone TLSMode = "none"
)

// ParseTLSMode checks a TLS mode name (case-insensitive).
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case TLSImplicit, TLSStartTLS, TLSOpportunistic, TLSNone:
		return m, nil
	}
	return "", fmt.Errorf("mail: unknown TLS mode %q (want none, starttls, opportunistic or tls)", s)
}

// IsLoopbackHost reports whether host names the local machine
// ("localhost" or a loopback address).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// SMTPConfig configures the SMTP transport.
type SMTPConfig struct {
	Host     string
	Port     int // 0: 465 for TLSImplicit, else 587
	TLS      TLSMode
	User     string // empty: no authentication
	Password string
	From     string
	// ConnectTimeout bounds connecting, greeting, TLS and authentication;
	// SendTimeout bounds a whole delivery.
	ConnectTimeout time.Duration
	SendTimeout    time.Duration
	// RootCAs verifies the server's certificate (nil: the system roots).
	RootCAs *x509.CertPool
}

// SMTP delivers over SMTP with github.com/wneessen/go-mail.
type SMTP struct{ cfg SMTPConfig }

// NewSMTP checks the configuration and returns the transport.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	switch {
	case cfg.Host == "":
		return nil, errors.New("mail: no SMTP host configured")
	case cfg.From == "":
		return nil, errors.New("mail: no sender (From) address configured")
	case cfg.TLS == "":
		cfg.TLS = TLSStartTLS
	}
	if _, err := ParseTLSMode(string(cfg.TLS)); err != nil {
		return nil, err
	}
	if cfg.TLS == TLSNone && !IsLoopbackHost(cfg.Host) {
		return nil, fmt.Errorf("mail: TLS mode none is only allowed for a loopback SMTP server, not %q", cfg.Host)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}, nil
}

func (s *SMTP) client() (*gomail.Client, error) {
	c := s.cfg
	opts := []gomail.Option{
		gomail.WithPort(c.Port),
		gomail.WithTimeout(c.ConnectTimeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch c.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.User != "" {
		// Auto-discovery picks the strongest mechanism the server offers;
		// go-mail refuses plain-text mechanisms over an unencrypted link.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(c.User), gomail.WithPassword(c.Password))
	}
	cl, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, Permanent(fmt.Errorf("mail: smtp client: %w", err))
	}
	return cl, nil
}

// Send delivers m: a plain-text UTF-8 message with Message-ID and Date
// headers. The subject passes through HeaderSafe; the address must be a
// single valid address.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	if err := msg.From(s.cfg.From); err != nil {
		return Permanent(fmt.Errorf("mail: sender address: %w", err))
	}
	if err := singleAddress(m.To); err != nil {
		return Permanent(err)
	}
	if err := msg.To(m.To); err != nil {
		return Permanent(fmt.Errorf("mail: recipient address: %w", err))
	}
	msg.Subject(HeaderSafe(m.Subject))
	msg.SetMessageID()
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	cl, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	if err := cl.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(fmt.Errorf("mail: smtp %s: %w", s.addr(), err))
	}
	return nil
}

// Probe connects, greets, negotiates TLS, authenticates and quits.
func (s *SMTP) Probe(ctx context.Context) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	if err := cl.DialWithContext(ctx); err != nil {
		return classify(fmt.Errorf("mail: smtp %s: %w", s.addr(), err))
	}
	if err := cl.Close(); err != nil {
		return fmt.Errorf("mail: smtp %s: quit: %w", s.addr(), err)
	}
	return nil
}

// singleAddress accepts exactly one bare address (a quoted local part is
// fine): no display name, no list, no control characters.
func singleAddress(to string) error {
	if strings.ContainsFunc(to, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("mail: refusing recipient address %q", to)
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.String() != "<"+to+">" {
		return fmt.Errorf("mail: refusing recipient address %q", to)
	}
	return nil
}

func (s *SMTP) addr() string { return net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)) }

// classify marks the SMTP errors that retrying cannot fix: 5xx replies
// and certificate verification failures.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return Permanent(err)
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
		return Permanent(err)
	}
	return err
}
