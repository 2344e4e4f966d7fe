package store

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// E-mail verification and password recovery (issue 11).

// Mail transports of EmailSettings.Transport.
const (
	TransportSMTP    = "smtp"    // deliver over SMTP (the default)
	TransportProgram = "program" // the legacy mailer_executable/mailer_send_command
)

// EmailSettings are the settings of mail delivery, verification codes and
// password recovery. They live in their own key/value table
// (email_settings); the keys are EmailSettingKeys.
type EmailSettings struct {
	Transport    string // TransportSMTP or TransportProgram
	SMTPHost     string
	SMTPPort     uint16 // 0: 465 for TLS mode "tls", else 587
	SMTPTLS      string // none, starttls, opportunistic or tls
	SMTPUser     string // empty: no authentication
	SMTPPassword string // stored, never shown (see String)
	SMTPFrom     string
	// ConnectTimeout bounds connecting, greeting, TLS and authentication;
	// SendTimeout bounds one whole delivery attempt.
	ConnectTimeout time.Duration
	SendTimeout    time.Duration
	// CodeExpiry is how long a verification code is valid.
	CodeExpiry time.Duration
	// ResetPerAccount and ResetPerIP limit request_pw_reset calls per
	// account (or unknown name) and per client address within ResetWindow.
	ResetPerAccount uint32
	ResetPerIP      uint32
	ResetWindow     time.Duration
	// LogoutOnRecovery logs out the sessions of an account whose password
	// was replaced by recover_acct.
	LogoutOnRecovery bool
}

// DefaultEmailSettings returns the settings of a new host: SMTP with
// STARTTLS required, no server configured yet.
func DefaultEmailSettings() EmailSettings {
	return EmailSettings{
		Transport: TransportSMTP, SMTPTLS: "starttls",
		ConnectTimeout: 10 * time.Second, SendTimeout: 30 * time.Second,
		CodeExpiry: 15 * time.Minute, ResetPerAccount: 3, ResetPerIP: 10, ResetWindow: time.Hour,
		LogoutOnRecovery: true,
	}
}

// The keys of the email_settings table (also the names host_config and
// the configuration file use).
const (
	KeyMailTransport    = "mail_transport"
	KeySMTPHost         = "smtp_host"
	KeySMTPPort         = "smtp_port"
	KeySMTPTLS          = "smtp_tls"
	KeySMTPUser         = "smtp_user"
	KeySMTPPassword     = "smtp_password"
	KeySMTPFrom         = "smtp_from"
	KeySMTPConnTimeout  = "smtp_connect_timeout"
	KeySMTPSendTimeout  = "smtp_send_timeout"
	KeyCodeExpiry       = "email_code_expiry"
	KeyResetPerAccount  = "pw_reset_per_account"
	KeyResetPerIP       = "pw_reset_per_ip"
	KeyResetWindow      = "pw_reset_window"
	KeyLogoutOnRecovery = "logout_on_recovery"
)

// EmailSettingKeys lists the keys in display order.
var EmailSettingKeys = []string{
	KeyMailTransport, KeySMTPHost, KeySMTPPort, KeySMTPTLS, KeySMTPUser, KeySMTPPassword, KeySMTPFrom,
	KeySMTPConnTimeout, KeySMTPSendTimeout, KeyCodeExpiry, KeyResetPerAccount, KeyResetPerIP,
	KeyResetWindow, KeyLogoutOnRecovery,
}

// Values returns the settings as key/value text (durations in Go syntax,
// e.g. "15m0s"), as stored.
func (s EmailSettings) Values() map[string]string {
	return map[string]string{
		KeyMailTransport: s.Transport, KeySMTPHost: s.SMTPHost, KeySMTPPort: strconv.Itoa(int(s.SMTPPort)),
		KeySMTPTLS: s.SMTPTLS, KeySMTPUser: s.SMTPUser, KeySMTPPassword: s.SMTPPassword, KeySMTPFrom: s.SMTPFrom,
		KeySMTPConnTimeout: s.ConnectTimeout.String(), KeySMTPSendTimeout: s.SendTimeout.String(),
		KeyCodeExpiry: s.CodeExpiry.String(), KeyResetPerAccount: strconv.FormatUint(uint64(s.ResetPerAccount), 10),
		KeyResetPerIP: strconv.FormatUint(uint64(s.ResetPerIP), 10), KeyResetWindow: s.ResetWindow.String(),
		KeyLogoutOnRecovery: strconv.FormatBool(s.LogoutOnRecovery),
	}
}

// Set validates and assigns one setting by key.
func (s *EmailSettings) Set(key, value string) error {
	value = strings.TrimSpace(value)
	var err error
	switch key {
	case KeyMailTransport:
		if err = ValidateMailTransport(value); err == nil {
			s.Transport = strings.ToLower(value)
		}
	case KeySMTPHost:
		if err = ValidateSMTPHost(value); err == nil {
			s.SMTPHost = value
		}
	case KeySMTPPort:
		var p uint64
		if p, err = strconv.ParseUint(value, 10, 16); err == nil {
			s.SMTPPort = uint16(p) // 0: the TLS mode's default port
		}
	case KeySMTPTLS:
		if err = ValidateSMTPTLS(value); err == nil {
			s.SMTPTLS = strings.ToLower(value)
		}
	case KeySMTPUser:
		if err = ValidateHeaderText(value); err == nil {
			s.SMTPUser = value
		}
	case KeySMTPPassword:
		if err = ValidateHeaderText(value); err == nil {
			s.SMTPPassword = value
		}
	case KeySMTPFrom:
		if err = ValidateSMTPFrom(value); err == nil {
			s.SMTPFrom = value
		}
	case KeySMTPConnTimeout:
		err = setDuration(&s.ConnectTimeout, value, time.Second, 10*time.Minute)
	case KeySMTPSendTimeout:
		err = setDuration(&s.SendTimeout, value, time.Second, 30*time.Minute)
	case KeyCodeExpiry:
		err = setDuration(&s.CodeExpiry, value, time.Minute, 24*time.Hour)
	case KeyResetPerAccount:
		err = setCount(&s.ResetPerAccount, value)
	case KeyResetPerIP:
		err = setCount(&s.ResetPerIP, value)
	case KeyResetWindow:
		err = setDuration(&s.ResetWindow, value, time.Minute, 7*24*time.Hour)
	case KeyLogoutOnRecovery:
		var b bool
		if b, err = strconv.ParseBool(value); err == nil {
			s.LogoutOnRecovery = b
		}
	default:
		return fmt.Errorf("unknown e-mail setting %q", key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// EmailSettingsFromValues builds settings from stored key/value rows;
// missing keys keep their defaults, unknown keys are ignored.
func EmailSettingsFromValues(kv map[string]string) (EmailSettings, error) {
	s := DefaultEmailSettings()
	for _, k := range EmailSettingKeys {
		if v, ok := kv[k]; ok {
			if v == "" && k != KeySMTPHost && k != KeySMTPUser && k != KeySMTPPassword && k != KeySMTPFrom {
				continue // typed settings keep their default
			}
			if err := s.Set(k, v); err != nil {
				return s, fmt.Errorf("store: e-mail settings: %w", err)
			}
		}
	}
	return s, nil
}

// Validate checks the settings as a whole: each field, and TLS mode
// "none" only for a loopback SMTP host.
func (s EmailSettings) Validate() error {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	check(ValidateMailTransport(s.Transport))
	check(ValidateSMTPHost(s.SMTPHost))
	check(ValidateSMTPTLS(s.SMTPTLS))
	check(ValidateHeaderText(s.SMTPUser))
	check(ValidateHeaderText(s.SMTPPassword))
	check(ValidateSMTPFrom(s.SMTPFrom))
	if strings.EqualFold(s.SMTPTLS, "none") && s.SMTPHost != "" && !loopbackHost(s.SMTPHost) {
		errs = append(errs, fmt.Errorf("smtp_tls none is only allowed for a loopback SMTP host, not %q", s.SMTPHost))
	}
	for _, d := range []time.Duration{s.ConnectTimeout, s.SendTimeout, s.CodeExpiry, s.ResetWindow} {
		if d <= 0 {
			errs = append(errs, errors.New("timeouts, expiry and window must be positive"))
			break
		}
	}
	return errors.Join(errs...)
}

// String shows the settings one per line; the SMTP password is never
// shown, only whether one is set.
func (s EmailSettings) String() string {
	v := s.Values()
	if s.SMTPPassword != "" {
		v[KeySMTPPassword] = "(set)"
	} else {
		v[KeySMTPPassword] = "(not set)"
	}
	var b strings.Builder
	for _, k := range EmailSettingKeys {
		fmt.Fprintf(&b, "%-22s %s\n", k+":", v[k])
	}
	return b.String()
}

// ValidateMailTransport accepts "smtp" and "program".
func ValidateMailTransport(v string) error {
	switch strings.ToLower(v) {
	case TransportSMTP, TransportProgram:
		return nil
	}
	return fmt.Errorf("transport %q: want smtp or program", v)
}

// ValidateSMTPHost accepts an empty host (not configured) or a host name
// or IP address without port, spaces or control characters.
func ValidateSMTPHost(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 253 || strings.ContainsAny(v, " /@:") || ValidateHeaderText(v) != nil {
		if _, err := netip.ParseAddr(v); err != nil {
			return fmt.Errorf("invalid SMTP host %q", v)
		}
	}
	return nil
}

// ValidateSMTPTLS accepts none, starttls, opportunistic and tls.
func ValidateSMTPTLS(v string) error {
	switch strings.ToLower(v) {
	case "none", "starttls", "opportunistic", "tls":
		return nil
	}
	return fmt.Errorf("TLS mode %q: want none, starttls, opportunistic or tls", v)
}

// ValidateSMTPFrom accepts an empty sender or one RFC 5322 address.
func ValidateSMTPFrom(v string) error {
	if v == "" {
		return nil
	}
	if err := ValidateHeaderText(v); err != nil {
		return err
	}
	if _, err := mail.ParseAddress(v); err != nil {
		return fmt.Errorf("invalid sender address %q: %w", v, err)
	}
	return nil
}

// ValidateHeaderText refuses control characters (CR/LF header injection).
func ValidateHeaderText(v string) error {
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return errors.New("control characters are not allowed")
		}
	}
	return nil
}

// SplitSMTPAddr parses "host:port" for the SMTP settings.
func SplitSMTPAddr(addr string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("SMTP address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("SMTP address %q: invalid port", addr)
	}
	if err := ValidateSMTPHost(host); err != nil || host == "" {
		return "", 0, fmt.Errorf("SMTP address %q: invalid host", addr)
	}
	return host, uint16(p), nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// setDuration assigns a Go duration ("90s", "15m") within lo..hi.
func setDuration(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d < lo || d > hi {
		return fmt.Errorf("%v is outside %v..%v", d, lo, hi)
	}
	*dst = d
	return nil
}

// setCount assigns a count from 1 to 4294967295.
func setCount(dst *uint32, v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return fmt.Errorf("%q is not a count from 1 to 4294967295", v)
	}
	*dst = uint32(n)
	return nil
}

// EmailCode is a pending address-verification code of one account.
type EmailCode struct {
	UserID   wire.UserID
	Hash     string    // see cmds: salted SHA-256 of the code, hex
	Expires  time.Time // UTC
	Attempts int       // wrong answers so far
}

// Recovery is a pending temporary password (pw_recovery row).
type Recovery struct {
	UserID wire.UserID
	Hash   string    // argon2id PHC string (package password)
	Issued time.Time // UTC; the password expires an hour later
}
