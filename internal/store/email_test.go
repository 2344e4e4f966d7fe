package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
)

func TestEmailSettingsSetAndValidate(t *testing.T) {
	s := store.DefaultEmailSettings()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	good := map[string]string{
		store.KeyMailTransport: "PROGRAM", store.KeySMTPHost: "mail.example.com", store.KeySMTPPort: "465",
		store.KeySMTPTLS: "TLS", store.KeySMTPUser: "u", store.KeySMTPPassword: "p w'\"$",
		store.KeySMTPFrom: "Host <h@example.com>", store.KeySMTPConnTimeout: "5s", store.KeySMTPSendTimeout: "1m",
		store.KeyCodeExpiry: "20m", store.KeyResetPerAccount: "4", store.KeyResetPerIP: "9",
		store.KeyResetWindow: "2h", store.KeyLogoutOnRecovery: "false",
	}
	for k, v := range good {
		if err := s.Set(k, v); err != nil {
			t.Fatalf("Set(%s, %q): %v", k, v, err)
		}
	}
	if s.Transport != "program" || s.SMTPTLS != "tls" || s.SMTPPort != 465 || s.CodeExpiry != 20*time.Minute ||
		s.ResetPerIP != 9 || s.LogoutOnRecovery {
		t.Fatalf("settings %+v", s)
	}
	round, err := store.EmailSettingsFromValues(s.Values())
	if err != nil || round != s {
		t.Fatalf("round trip %+v %v", round, err)
	}
	bad := map[string]string{
		store.KeyMailTransport: "sendmail", store.KeySMTPHost: "mail example", store.KeySMTPPort: "70000",
		store.KeySMTPTLS: "ssl", store.KeySMTPUser: "a\nb", store.KeySMTPPassword: "a\rb",
		store.KeySMTPFrom: "x\r\nBcc: y@example.com", store.KeySMTPConnTimeout: "0s", store.KeyCodeExpiry: "10s",
		store.KeyResetPerAccount: "0", store.KeyResetWindow: "soon", store.KeyLogoutOnRecovery: "maybe", "nope": "1",
	}
	for k, v := range bad {
		before := s
		if err := s.Set(k, v); err == nil {
			t.Fatalf("Set(%s, %q) accepted", k, v)
		}
		if s != before {
			t.Fatalf("refused Set(%s) changed the settings", k)
		}
	}
	s.SMTPTLS, s.SMTPHost = "none", "mail.example.com"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("none to a remote host: %v", err)
	}
	for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
		s.SMTPHost = h
		if err := s.Validate(); err != nil {
			t.Fatalf("none to %s: %v", h, err)
		}
	}
}

func TestEmailSettingsStringHidesPassword(t *testing.T) {
	s := store.DefaultEmailSettings()
	s.SMTPPassword = "Very-Secret-9"
	out := s.String()
	if strings.Contains(out, "Very-Secret-9") || !strings.Contains(out, "(set)") {
		t.Fatalf("String:\n%s", out)
	}
	s.SMTPPassword = ""
	if !strings.Contains(s.String(), "(not set)") {
		t.Fatal("unset password not shown as such")
	}
	for _, k := range store.EmailSettingKeys {
		if !strings.Contains(out, k+":") {
			t.Fatalf("String lacks %s", k)
		}
	}
}

func TestSplitSMTPAddr(t *testing.T) {
	if h, p, err := store.SplitSMTPAddr("[::1]:587"); err != nil || h != "::1" || p != 587 {
		t.Fatalf("%q %d %v", h, p, err)
	}
	for _, a := range []string{"mail.example.com", ":25", "mail.example.com:0", "mail.example.com:x", "a b:25"} {
		if _, _, err := store.SplitSMTPAddr(a); err == nil {
			t.Fatalf("%q accepted", a)
		}
	}
}
