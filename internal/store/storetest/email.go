package storetest

import (
	"testing"
	"time"

	"github.com/mrci/mrci/internal/store"
)

// E-mail verification and password recovery (issue 11).

func emailTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"EmailSettings", testEmailSettings},
		{"EmailCodes", testEmailCodes},
		{"Recovery", testRecovery},
		{"RecoverAttempts", testRecoverAttempts},
	}
}

func testEmailSettings(t *testing.T, s store.Store) {
	got, err := s.EmailSettings(ctx(t))
	ok(t, err, "default email settings")
	eq(t, got, store.DefaultEmailSettings(), "default email settings")
	want := store.DefaultEmailSettings()
	want.SMTPHost, want.SMTPPort, want.SMTPTLS = "mail.example.com", 2525, "tls"
	want.SMTPUser, want.SMTPPassword, want.SMTPFrom = "mrci", "s3cret 'pw'", "MRCI Host <mrci@example.com>"
	want.ConnectTimeout, want.SendTimeout, want.CodeExpiry = 3*time.Second, time.Minute, 20*time.Minute
	want.ResetPerAccount, want.ResetPerIP, want.ResetWindow = 5, 7, 2*time.Hour
	want.LogoutOnRecovery, want.Transport = false, store.TransportProgram
	ok(t, s.SaveEmailSettings(ctx(t), want), "save email settings")
	got, err = s.EmailSettings(ctx(t))
	ok(t, err, "reload email settings")
	eq(t, got, want, "reloaded email settings")
	want.SMTPPassword = ""
	ok(t, s.SaveEmailSettings(ctx(t), want), "save again")
	got, err = s.EmailSettings(ctx(t))
	ok(t, err, "reload email settings")
	eq(t, got, want, "settings after clearing the password")
}

func testEmailCodes(t *testing.T, s store.Store) {
	u := mustUser(t, s, 1, "alice", "alice@example.com")
	_, err := s.EmailCode(ctx(t), u.ID)
	is(t, err, store.ErrNotFound, "code before any")
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := store.EmailCode{UserID: u.ID, Hash: "h1", Expires: exp}
	ok(t, s.PutEmailCode(ctx(t), c), "put code")
	got, err := s.EmailCode(ctx(t), u.ID)
	ok(t, err, "get code")
	eq(t, got, c, "stored code")
	n, err := s.AddEmailCodeAttempt(ctx(t), u.ID, "h1")
	ok(t, err, "attempt")
	eq(t, n, 1, "attempts")
	n, err = s.AddEmailCodeAttempt(ctx(t), u.ID, "h1")
	ok(t, err, "attempt")
	eq(t, n, 2, "attempts")
	_, err = s.AddEmailCodeAttempt(ctx(t), u.ID, "other")
	is(t, err, store.ErrNotFound, "attempt on a replaced code")
	// A new code replaces the old one and its attempts.
	c2 := store.EmailCode{UserID: u.ID, Hash: "h2", Expires: exp.Add(time.Hour)}
	ok(t, s.PutEmailCode(ctx(t), c2), "replace code")
	got, err = s.EmailCode(ctx(t), u.ID)
	ok(t, err, "get code")
	eq(t, got, c2, "replaced code")
	is(t, s.DeleteEmailCode(ctx(t), u.ID, "h1"), store.ErrNotFound, "delete with a stale hash")
	ok(t, s.DeleteEmailCode(ctx(t), u.ID, "h2"), "delete with the hash")
	is(t, s.DeleteEmailCode(ctx(t), u.ID, ""), store.ErrNotFound, "delete twice")
	// Codes go with their account.
	ok(t, s.PutEmailCode(ctx(t), c), "put code")
	ok(t, s.DeleteUser(ctx(t), u.ID), "delete user")
	_, err = s.EmailCode(ctx(t), u.ID)
	is(t, err, store.ErrNotFound, "code of a deleted account")
}

func testRecovery(t *testing.T, s store.Store) {
	u := mustUser(t, s, 1, "alice", "alice@example.com")
	_, err := s.Recovery(ctx(t), u.ID)
	is(t, err, store.ErrNotFound, "recovery before any")
	r := store.Recovery{UserID: u.ID, Hash: "$argon2id$a", Issued: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	ok(t, s.PutRecovery(ctx(t), r), "put recovery")
	got, err := s.Recovery(ctx(t), u.ID)
	ok(t, err, "get recovery")
	eq(t, got, r, "stored recovery")
	// A new request replaces the hash AND refreshes the issue time.
	r2 := store.Recovery{UserID: u.ID, Hash: "$argon2id$b", Issued: r.Issued.Add(50 * time.Minute)}
	ok(t, s.PutRecovery(ctx(t), r2), "refresh recovery")
	got, err = s.Recovery(ctx(t), u.ID)
	ok(t, err, "get recovery")
	eq(t, got, r2, "refreshed recovery")
	// Single use: only one delete with the hash succeeds.
	is(t, s.DeleteRecovery(ctx(t), u.ID, r.Hash), store.ErrNotFound, "delete with a stale hash")
	ok(t, s.DeleteRecovery(ctx(t), u.ID, r2.Hash), "consume")
	is(t, s.DeleteRecovery(ctx(t), u.ID, r2.Hash), store.ErrNotFound, "consume twice")
	ok(t, s.PutRecovery(ctx(t), r), "put recovery")
	ok(t, s.DeleteUser(ctx(t), u.ID), "delete user")
	_, err = s.Recovery(ctx(t), u.ID)
	is(t, err, store.ErrNotFound, "recovery of a deleted account")
}

func testRecoverAttempts(t *testing.T, s store.Store) {
	u := mustUser(t, s, 1, "alice", "alice@example.com")
	for range 3 {
		ok(t, s.AddAuthAttempt(ctx(t), store.AuthAttempt{IP: "10.0.0.1", UserID: u.ID, RecoverAttempt: true, CountToThreshold: true}), "failed recover")
	}
	ok(t, s.AddAuthAttempt(ctx(t), store.AuthAttempt{IP: "10.0.0.1", UserID: u.ID, AuthAttempt: true, CountToThreshold: true}), "failed auth")
	n, err := s.CountFailedRecover(ctx(t), u.ID)
	ok(t, err, "count")
	eq(t, n, 3, "failed recover attempts (auth attempts not counted)")
	ok(t, s.ResetFailedRecover(ctx(t), u.ID), "reset")
	n, err = s.CountFailedRecover(ctx(t), u.ID)
	ok(t, err, "count")
	eq(t, n, 0, "failed recover attempts after reset")
	n, err = s.CountFailedAuth(ctx(t), u.ID, "")
	ok(t, err, "count auth")
	eq(t, n, 1, "failed auth attempts untouched")
}
