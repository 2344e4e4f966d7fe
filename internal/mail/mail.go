// Package mail delivers the host's e-mails (address verification codes and
// temporary passwords): message rendering with the template placeholders of
// host.md §4.11, an SMTP transport (github.com/wneessen/go-mail), the
// legacy "mail program" transport that runs a program without a shell, and
// a bounded queue that sends off the command's path with retries.
package mail

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
)

// Message is one plain-text mail. Subject and To never carry control
// characters into a header: transports pass them through HeaderSafe.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Size is the message's size in bytes, for the queue's byte limit.
func (m Message) Size() int { return len(m.To) + len(m.Subject) + len(m.Body) }

// Transport delivers messages.
type Transport interface {
	// Send delivers one message. Errors that retrying cannot fix are
	// marked with Permanent.
	Send(ctx context.Context, m Message) error
	// Probe does the work of a delivery without sending anything (for
	// SMTP: connect, greet, negotiate TLS, authenticate, quit). It lets
	// a caller spend the same time and report the same outcome whether
	// or not it has a message to send.
	Probe(ctx context.Context) error
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// HeaderSafe returns s with every control character (CR, LF, TAB, NUL...)
// replaced by a space and surrounding space trimmed, so that user-controlled
// text can never start a new header line.
func HeaderSafe(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s))
}

// DateLayout is the %date% format: yyyy-MM-dd HH:mm:ss (always UTC).
const DateLayout = "2006-01-02 15:04:05"

// The template placeholders.
const (
	PhDate     = "%date%"
	PhUserName = "%user_name%"
	PhTempPw   = "%temp_pw%"
	PhCode     = "%confirmation_code%"
)

// Vars are the values of the placeholders.
type Vars struct {
	Date     time.Time
	UserName string
	TempPw   string
	Code     string
}

// Render substitutes the placeholders (matched case-insensitively, as
// set_email_template checks them) in one left-to-right pass: substituted
// values are never scanned again, so a user name containing "%temp_pw%"
// stays literal.
func Render(tmpl string, v Vars) string {
	values := map[string]string{
		PhDate:     v.Date.UTC().Format(DateLayout),
		PhUserName: v.UserName,
		PhTempPw:   v.TempPw,
		PhCode:     v.Code,
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		if tmpl[i] == '%' {
			if ph, val, ok := placeholderAt(tmpl[i:], values); ok {
				b.WriteString(val)
				i += len(ph)
				continue
			}
		}
		b.WriteByte(tmpl[i])
		i++
	}
	return b.String()
}

func placeholderAt(s string, values map[string]string) (string, string, bool) {
	for ph, val := range values {
		if len(s) >= len(ph) && strings.EqualFold(s[:len(ph)], ph) {
			return ph, val, true
		}
	}
	return "", "", false
}

// HasPlaceholder reports whether tmpl contains ph, case-insensitively.
func HasPlaceholder(tmpl, ph string) bool { return indexFold(tmpl, ph) >= 0 }

// indexFold returns the byte index of the first case-insensitive
// occurrence of the ASCII string sub in s, or -1.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
