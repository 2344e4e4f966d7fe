package cmds

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/mail"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// E-mail verification and password recovery (commands.md §5, issue 11).

// mailHost is what the e-mail commands need of the host beyond HostView
// (implemented by host.Host in internal/host/email.go).
type mailHost interface {
	// SendMail queues a job and waits, within a bounded time, for the
	// outcome of its first delivery attempt.
	SendMail(ctx context.Context, j mail.Job) error
	// EmailNow is the clock of expiries and rate limits (UTC).
	EmailNow() time.Time
	// AllowMail counts a request against n per window for key.
	AllowMail(key string, n uint32, window time.Duration) bool
	// NotifyUser tells every session of user (ASYNC_SYS_MSG) and
	// optionally logs them out.
	NotifyUser(user wire.UserID, text string, logout bool)
}

const (
	// codeAttempts is how many wrong answers a verification code survives.
	codeAttempts = 5
	// recoveryLifetime is how long a temporary password is valid.
	recoveryLifetime = time.Hour

	msgResetSent    = "If the account exists and has an e-mail address, a temporary password was sent to it; it expires in 1 hour.\n"
	msgResetFailed  = "the mail could not be sent now; the host retries in the background, or try again later"
	msgResetLimited = "too many password reset requests; try again later"
	msgNoMail       = "e-mail delivery is not available on this host"
	msgRecoverBad   = "access denied"
)

func emailCommands() []*module.Command {
	public := func(cat module.Category, s store.Settings) bool {
		return (cat == module.Public && s.EnablePwReset) || cat == module.User
	}
	return append(emailTemplateCommands(),
		&module.Command{
			Def: def("verify_email", "verify your e-mail address with a code sent to it.", "[text]/[text]",
				"Sends a 6-digit confirmation code to the address of your account and asks for it (hidden input). "+
					"A code is valid for a limited time (15 minutes by default) and for 5 wrong answers; "+
					"run the command again for a new code."),
			In:      func(cat module.Category, s store.Settings) bool { return cat == module.Exempt && s.EnableEmailVerify },
			MaxArgs: 0, Run: runVerifyEmail,
		},
		&module.Command{
			Def: def("request_pw_reset", "have a temporary password mailed to an account's address.",
				"[-email (text)] or [-user (text)]/[text]",
				"Mails a temporary password to the address of the account named by -user or -email. "+
					"It is valid for 1 hour and once; use it with recover_acct. The answer is the same whether "+
					"or not the account exists, and requests are limited per account and per client address."),
			In: public, MaxArgs: 2, Run: runRequestPwReset,
		},
		&module.Command{
			Def: def("recover_acct", "set a new password with a mailed temporary password.",
				"[-email (text)] or [-user (text)]/[text]",
				"Asks for the temporary password mailed by request_pw_reset and then for a new password "+
					"(hidden input). It does not log you in; log in with auth afterwards."),
			In: public, MaxArgs: 2, Run: runRecoverAcct,
		},
	)
}

func mailer(c *module.Call) (mailHost, error) {
	m, ok := c.Host().(mailHost)
	if !ok {
		return nil, module.Fail(msgNoMail)
	}
	return m, nil
}

// newCode returns a uniformly random 6-digit code (100000-999999).
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(900000))
	if err != nil {
		return "", fmt.Errorf("verification code: %w", err)
	}
	return fmt.Sprint(100000 + n.Int64()), nil
}

// hashCode returns "salt$digest": SHA-256 over a random salt, the account,
// the address the code was sent to and the code. The address is part of it
// so a code mailed to an old address cannot verify a new one.
func hashCode(id wire.UserID, email, code string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("verification code: %w", err)
	}
	return hex.EncodeToString(salt) + "$" + hex.EncodeToString(codeDigest(salt, id, email, code)), nil
}

func codeDigest(salt []byte, id wire.UserID, email, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(id[:])
	h.Write([]byte(strings.ToLower(email) + "\x00" + code))
	return h.Sum(nil)
}

// codeMatches compares in constant time.
func codeMatches(stored string, id wire.UserID, email, code string) bool {
	s, d, ok := strings.Cut(stored, "$")
	salt, err1 := hex.DecodeString(s)
	want, err2 := hex.DecodeString(d)
	if !ok || err1 != nil || err2 != nil {
		return false
	}
	return subtle.ConstantTimeCompare(codeDigest(salt, id, email, code), want) == 1
}

func runVerifyEmail(ctx context.Context, c *module.Call) error {
	m, err := mailer(c)
	if err != nil {
		return err
	}
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	if u.Email == "" {
		return module.Fail("the account has no email address, set one first")
	}
	if u.EmailVerified {
		c.Text("Your e-mail address is already verified.\n")
		return nil
	}
	st := c.Store()
	es, err := st.EmailSettings(ctx)
	if err != nil {
		return err
	}
	if !m.AllowMail("verify:"+u.ID.String(), es.ResetPerAccount, es.ResetWindow) {
		return module.Fail("too many verification mails requested; try again later")
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	hash, err := hashCode(u.ID, u.Email, code)
	if err != nil {
		return err
	}
	now := m.EmailNow()
	if err := st.PutEmailCode(ctx, store.EmailCode{UserID: u.ID, Hash: hash, Expires: now.Add(es.CodeExpiry)}); err != nil {
		return err
	}
	s, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	msg := mail.Message{To: u.Email, Subject: s.VerifyEmailSubject,
		Body: mail.Render(s.VerifyEmailTemplate, mail.Vars{Date: now, UserName: u.Name, Code: code})}
	// The code is only useful to this invocation's prompt: no retries.
	if err := m.SendMail(ctx, mail.Job{Msg: msg, Label: "verification code for " + u.Name}); err != nil {
		_ = st.DeleteEmailCode(context.WithoutCancel(ctx), u.ID, hash)
		c.Env().Log.Warn("verification mail failed", "user", u.Name, "err", err)
		return module.Fail("the verification mail could not be sent; try again later")
	}
	prompt := fmt.Sprintf("A confirmation code was sent to %s. Enter it (leave blank to cancel): ", u.Email)
	for {
		ans, err := c.PrivPrompt(ctx, prompt)
		if err != nil {
			return err
		}
		ans = strings.TrimSpace(ans)
		if ans == "" {
			return nil
		}
		stored, err := st.EmailCode(ctx, u.ID)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && stored.Hash != hash):
			return module.Fail("this code is no longer valid; run verify_email again for a new one")
		case err != nil:
			return err
		case !m.EmailNow().Before(stored.Expires):
			_ = st.DeleteEmailCode(ctx, u.ID, hash)
			return module.Fail("the code expired; run verify_email again for a new one")
		}
		if codeMatches(stored.Hash, u.ID, u.Email, ans) {
			return confirmEmail(ctx, c, u, hash)
		}
		n, err := st.AddEmailCodeAttempt(ctx, u.ID, hash)
		if err != nil {
			return notFound(err, "this code is no longer valid; run verify_email again for a new one")
		}
		if n >= codeAttempts {
			_ = st.DeleteEmailCode(ctx, u.ID, hash)
			return module.Fail("too many wrong codes; run verify_email again for a new one")
		}
		c.Err("code does not match")
		prompt = "Try again (leave blank to cancel): "
	}
}

// confirmEmail marks the address verified, if it is still the one the
// code was sent to, and refreshes every session of the account.
func confirmEmail(ctx context.Context, c *module.Call, u store.User, hash string) error {
	st := c.Store()
	if err := st.DeleteEmailCode(ctx, u.ID, hash); err != nil {
		return notFound(err, "this code is no longer valid; run verify_email again for a new one")
	}
	now, err := st.UserByID(ctx, u.ID)
	if err != nil {
		return notFound(err, "your account no longer exists")
	}
	if !strings.EqualFold(now.Email, u.Email) {
		return module.Fail("your e-mail address changed meanwhile; run verify_email again")
	}
	yes := true
	if err := st.UpdateUser(ctx, u.ID, store.UserUpdate{EmailVerified: &yes}); err != nil {
		return err
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRWMyInfo, u.ID[:])
	return nil
}

// accountArg resolves -user / -email as auth does (a valid -email wins).
// It returns the identifier used (for rate limits) and whether the
// account exists.
func accountArg(ctx context.Context, c *module.Call) (store.User, string, bool, error) {
	st := c.Store()
	var (
		u   store.User
		err error
		id  string
	)
	if email := c.Param("-email"); validate.Email(email) {
		id = email
		u, err = st.UserByEmail(ctx, email)
	} else {
		id = c.Param("-user")
		if id == "" || !validate.UserName(id) {
			return u, "", false, module.Fail("-user/-email missing, empty or invalid")
		}
		u, err = st.UserByName(ctx, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, id, false, nil
	case err != nil:
		return u, id, false, err
	}
	return u, id, true, nil
}

// runRequestPwReset mails a temporary password. Whether or not the account
// exists (or has an address), the caller sees the same text, after the
// same work: the same rate-limit accounting, one argon2id hash of a fresh
// temporary password, one write to the store, and one trip through the
// mail queue whose outcome decides the answer: a real delivery for an
// existing account, a probe (connect, TLS, authenticate, quit) otherwise.
func runRequestPwReset(ctx context.Context, c *module.Call) error {
	m, err := mailer(c)
	if err != nil {
		return err
	}
	u, id, found, err := accountArg(ctx, c)
	if err != nil {
		return err
	}
	found = found && u.Email != ""
	st := c.Store()
	es, err := st.EmailSettings(ctx)
	if err != nil {
		return err
	}
	acctKey := "reset-name:" + strings.ToLower(id)
	if found {
		acctKey = "reset-acct:" + u.ID.String()
	}
	ipOK := m.AllowMail("reset-ip:"+c.Session().IP, es.ResetPerIP, es.ResetWindow)
	acctOK := m.AllowMail(acctKey, es.ResetPerAccount, es.ResetWindow)
	if !ipOK || !acctOK {
		return module.Fail(msgResetLimited)
	}
	temp, err := password.Generate()
	if err != nil {
		return err
	}
	hash, err := c.Host().PasswordHash(temp)
	if err != nil {
		return err
	}
	now := m.EmailNow()
	job := mail.Job{Probe: true, Label: "password reset probe"}
	if found {
		if err := st.PutRecovery(ctx, store.Recovery{UserID: u.ID, Hash: hash, Issued: now}); err != nil {
			return err
		}
		s, err := c.Host().Settings(ctx)
		if err != nil {
			return err
		}
		job = mail.Job{
			Msg: mail.Message{To: u.Email, Subject: s.TempPwEmailSubject,
				Body: mail.Render(s.TempPwEmailTemplate, mail.Vars{Date: now, UserName: u.Name, TempPw: temp})},
			Retry: true, Label: "temporary password for " + u.Name,
			// A password whose mail was never delivered is not kept.
			GiveUp: func(error) { dropRecovery(st, u.ID, hash) },
		}
	} else if err := st.DeleteRecovery(ctx, wire.UserID{}, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err // the equal-work write of an unknown account
	}
	if err := m.SendMail(ctx, job); err != nil {
		if found && (errors.Is(err, mail.ErrQueueFull) || errors.Is(err, mail.ErrClosed)) {
			dropRecovery(st, u.ID, hash) // never queued: nothing will deliver it
		}
		c.Env().Log.Warn("password reset mail failed", "found", found, "err", err)
		return module.Fail(msgResetFailed)
	}
	c.Text(msgResetSent)
	return nil
}

func dropRecovery(st store.Store, id wire.UserID, hash string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = st.DeleteRecovery(ctx, id, hash)
}

// runRecoverAcct checks a temporary password and sets a new password.
// Unknown accounts, accounts without a temporary password and expired
// ones are prompted like the others and refused with the same answer, so
// the command tells nothing about which accounts exist.
func runRecoverAcct(ctx context.Context, c *module.Call) error {
	m, err := mailer(c)
	if err != nil {
		return err
	}
	u, _, found, err := accountArg(ctx, c)
	if err != nil {
		return err
	}
	st := c.Store()
	var rec store.Recovery
	valid := false
	if found {
		rec, err = st.Recovery(ctx, u.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case !m.EmailNow().Before(rec.Issued.Add(recoveryLifetime)):
			_ = st.DeleteRecovery(ctx, u.ID, rec.Hash) // expired (UTC on both sides)
		default:
			valid = rec.Hash != ""
		}
	}
	// Both paths hash once here and verify once per answer, so they cost
	// the same.
	dummy, err := c.Host().PasswordHash("Not-a-Temp-Pw-0")
	if err != nil {
		return err
	}
	target := dummy
	if valid {
		target = rec.Hash
	}
	settings, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	ip := c.Session().IP
	prompt := "Enter the temporary password (leave blank to cancel): "
	for {
		ans, err := c.PrivPrompt(ctx, prompt)
		if err != nil {
			return err
		}
		if ans == "" {
			return nil
		}
		ok, err := c.Host().VerifyPassword(ans, target)
		if err != nil && !errors.Is(err, password.ErrMalformed) {
			return err
		}
		if ok && valid {
			break
		}
		if found {
			if err := st.AddAuthAttempt(ctx, store.AuthAttempt{IP: ip, UserID: u.ID, RecoverAttempt: true, CountToThreshold: true}); err != nil {
				return err
			}
			n, err := st.CountFailedRecover(ctx, u.ID)
			if err != nil {
				return err
			}
			if uint32(n) > settings.AutoLockThreshold {
				// Too many wrong answers: the temporary password is void.
				_ = st.DeleteRecovery(ctx, u.ID, "")
				_ = st.ResetFailedRecover(ctx, u.ID)
				valid, target = false, dummy
			}
		}
		c.Err(msgRecoverBad)
		prompt = "Enter the temporary password (leave blank to cancel): "
	}
	pw, err := askNewPassword(ctx, c, "Enter a new password: ", false)
	if err != nil {
		return err
	}
	// Deleting the row is what spends the temporary password: of two
	// concurrent recoveries only one gets here without ErrNotFound.
	if err := st.DeleteRecovery(ctx, u.ID, rec.Hash); err != nil {
		return notFound(err, "the temporary password was already used or replaced; request a new one")
	}
	if err := setPassword(ctx, c, u, pw); err != nil {
		return err
	}
	if err := st.ResetFailedRecover(ctx, u.ID); err != nil {
		return err
	}
	if err := st.ResetFailedAuth(ctx, u.ID, ""); err != nil {
		return err
	}
	if err := st.AddAuthAttempt(ctx, store.AuthAttempt{IP: ip, UserID: u.ID, RecoverAttempt: true, Accepted: true}); err != nil {
		return err
	}
	es, err := st.EmailSettings(ctx)
	if err != nil {
		return err
	}
	note := "\nThe password of this account was replaced through account recovery (a temporary password sent by e-mail).\n"
	if es.LogoutOnRecovery {
		note += "You have been logged out; log in again with the new password.\n"
	}
	m.NotifyUser(u.ID, note, es.LogoutOnRecovery)
	return nil
}
