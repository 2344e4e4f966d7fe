package cmds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

const (
	msgInvalidPassword = "invalid password (8-200 chars with digits, mixed case letters and special characters)"
	msgInvalidUserName = "invalid user name (2-24 chars, no spaces)"
)

func accountCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("auth", "log in to a user account.", "[-user (text)] or [-email (text)]/[text]",
				"Log in with -user NAME or -email ADDRESS. The host then asks for the password (hidden input), "+
					"and for a new password and/or user name when the account requires a change."),
			In: func(cat module.Category, _ store.Settings) bool { return true }, MaxArgs: 2, Run: runAuth,
		},
		{
			Def: def("my_info", "show information about this session and account.", "[none]/[text]",
				"Prints the session id, your IP address and client app; when logged in, also your account data."),
			In: func(cat module.Category, _ store.Settings) bool { return true }, MaxArgs: 0, Run: runMyInfo, Inline: true,
		},
		{
			Def: def("set_pw", "change your password.", "[none]/[text]",
				"Asks for a new password (hidden input) and replaces yours with it."),
			In: exemptOnly, MaxArgs: 0, Run: runSetPw,
		},
		{
			Def: def("set_user_name", "change your user name.", "[-new_name (text)]/[text]",
				"Changes the user name of your account to -new_name (2-24 characters, no spaces)."),
			In: exemptOnly, MaxArgs: 2, Run: runSetUserName,
		},
		{
			Def: def("set_disp_name", "change your display name.", "[-new_name (text)]/[text]",
				"Changes your display name (0-32 characters, no line breaks); -new_name with no value clears it."),
			In: exemptOnly, MaxArgs: 2, Run: runSetDispName,
		},
		{
			Def: def("set_email", "change your e-mail address.", "[-new_email (text)]/[text]",
				"Changes the e-mail address of your account; the address must be verified again."),
			In: exemptOnly, MaxArgs: 2, Run: runSetEmail,
		},
		{
			Def: def("is_email_verified", "show whether your e-mail address is verified.", "[none]/[text]",
				"Prints true or false."),
			In: exemptOnly, MaxArgs: 0, Run: runIsEmailVerified,
		},
	}
}

// ipOf returns the session's IP as an address, for loopback checks.
func isLoopback(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Unmap().IsLoopback()
}

// isRoot reports whether an account is the protected root account: the
// one whose id the settings record (host.md §2.6: by id, not by name).
func isRoot(ctx context.Context, c *module.Call, u store.User) (bool, error) {
	s, err := c.Host().Settings(ctx)
	if err != nil {
		return false, err
	}
	if s.RootUserID.IsZero() {
		return strings.EqualFold(u.Name, "root"), nil
	}
	return u.ID == s.RootUserID, nil
}

// settleTimeout bounds FailAuth and PassAuth of a claimed answer, which
// run even after the session's context ended.
const settleTimeout = 30 * time.Second

func runAuth(ctx context.Context, c *module.Call) error {
	st := c.Store()
	name := c.Param("-user")
	if email := c.Param("-email"); validate.Email(email) {
		name = ""
		if u, err := st.UserByEmail(ctx, email); err == nil {
			name = u.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if name == "" || !validate.UserName(name) {
		return module.Fail("-user/-email missing, empty or invalid")
	}
	u, err := st.UserByName(ctx, name)
	if err != nil {
		return notFound(err, "no such user")
	}
	if u.Locked {
		return module.Fail("the account is locked")
	}
	settings, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	limits, err := st.AccountLimits(ctx)
	if err != nil {
		return err
	}
	ip := c.Session().IP
	root, err := isRoot(ctx, c, u)
	if err != nil {
		return err
	}
	// Every answer is claimed in the store before it is verified: the claim
	// re-reads the lock flag and the counters in one transaction and counts
	// the answer as pending, so answers given on many prompts at once count
	// against one threshold (issue 8, defect 2), while the growing delay of
	// the account and of the address (loopback too, defect 8) counts
	// confirmed failures only: right answers given at once do not refuse
	// each other. Root is never locked; its failures count per address
	// toward the ban threshold (host.md §4.6), which bounds its pending
	// answers from a non-loopback address the same way.
	claim := store.AuthClaim{User: u.ID, IP: ip, PerIP: root, Limits: limits}
	switch {
	case !root:
		claim.LockAbove = settings.AutoLockThreshold
	case !isLoopback(ip):
		claim.BanAbove = settings.AutoBanThreshold
	}
	// A claimed answer is always settled (FailAuth or PassAuth), even when
	// the session ends while it is verified: otherwise it would count as
	// pending until store.PendingClaimTTL.
	settleCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	}
	prompt := "Enter password (leave blank to cancel): "
	for {
		pw, err := c.PrivPrompt(ctx, prompt)
		if err != nil {
			return err
		}
		if pw == "" {
			c.Text("\n")
			return nil
		}
		claim.Now = time.Now()
		t, err := st.BeginAuth(ctx, claim)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return module.Fail("no such user")
		case err != nil:
			return err
		case t.Verdict == store.AuthLocked:
			return module.Fail("the account is locked")
		case t.Verdict == store.AuthDelayed:
			c.Err(fmt.Sprintf("too many failed logins; try again in %d seconds", int64(math.Ceil(t.RetryAfter.Seconds()))))
			continue
		case t.Verdict == store.AuthBusy:
			c.Err("too many logins in progress for this account or address; try again")
			continue
		}
		ok := false
		if validate.Password(pw) {
			if ok, err = c.Host().VerifyPassword(pw, u.PasswordHash); err != nil && !errors.Is(err, password.ErrMalformed) {
				return err
			}
		}
		sctx, cancel := settleCtx()
		if ok {
			err := st.PassAuth(sctx, claim)
			cancel()
			if err != nil {
				if errors.Is(err, store.ErrLocked) {
					return module.Fail("the account is locked")
				}
				return notFound(err, "no such user")
			}
			if password.NeedsRehash(u.PasswordHash, password.DefaultParams) && !u.NewPasswordReq {
				if h, err := c.Host().PasswordHash(pw); err == nil {
					_ = st.UpdateUser(ctx, u.ID, store.UserUpdate{PasswordHash: &h})
				}
			}
			break
		}
		r, err := st.FailAuth(sctx, claim)
		cancel()
		if err != nil {
			return err
		}
		switch {
		case root && r.Failures > settings.AutoBanThreshold:
			if !isLoopback(ip) {
				if err := st.AddBan(ctx, ip); err != nil {
					return err
				}
				c.Emit(wire.TypePrivIPC, wire.AsyncUpdateBans, nil)
				c.Emit(wire.TypePrivIPC, wire.AsyncEndSession, nil)
			}
			return nil
		case r.Locked:
			return nil
		}
		c.Err("access denied")
	}
	if u.NewPasswordReq {
		pw, err := askNewPassword(ctx, c, "Enter a new password (leave blank to cancel): ", true)
		if err != nil || pw == "" {
			return err
		}
		if err := setPassword(ctx, c, u, pw); err != nil {
			return err
		}
	}
	if u.NewNameReq {
		newName, err := askNewUserName(ctx, c, u.ID)
		if err != nil || newName == "" {
			return err
		}
		no := false
		if err := st.UpdateUser(ctx, u.ID, store.UserUpdate{Name: &newName, NewNameReq: &no}); err != nil {
			if errors.Is(err, store.ErrNameTaken) {
				return module.Fail("%s", nameTakenMsg(err))
			}
			return err
		}
		c.Emit(wire.TypePubIPC, wire.AsyncUserRenamed, renamePayload(u.ID, newName, wire.UserNameWidth))
	}
	// The account may have been locked (or deleted) while the forced
	// changes were asked for: a locked account never logs in.
	if now, err := st.UserByID(ctx, u.ID); err != nil {
		return notFound(err, "no such user")
	} else if now.Locked {
		return module.Fail("the account is locked")
	}
	c.Emit(wire.TypePrivIPC, wire.AsyncUserLogin, u.ID[:])
	c.Text("Access granted.\n")
	return nil
}

// askNewPassword prompts until a valid password or (if cancelable) a blank
// answer, which prints a newline and returns "".
func askNewPassword(ctx context.Context, c *module.Call, prompt string, cancelable bool) (string, error) {
	for {
		pw, err := c.PrivPrompt(ctx, prompt)
		if err != nil {
			return "", err
		}
		if pw == "" && cancelable {
			c.Text("\n")
			return "", nil
		}
		if validate.Password(pw) {
			return pw, nil
		}
		c.Err(msgInvalidPassword)
	}
}

// askNewUserName runs auth's forced rename prompt: only free, valid names
// are accepted (the original's inverted check is fixed).
func askNewUserName(ctx context.Context, c *module.Call, self wire.UserID) (string, error) {
	for {
		name, err := c.Prompt(ctx, "Enter a new user name (leave blank to cancel): ")
		if err != nil {
			return "", err
		}
		if name == "" {
			c.Text("\n")
			return "", nil
		}
		n, err := newUserName(ctx, c, name, self)
		if ue := (*module.UserError)(nil); errors.As(err, &ue) {
			c.Err(ue.Msg)
			continue
		} else if err != nil {
			return "", err
		}
		return n, nil
	}
}

// setPassword stores a new password, clears the change request and, for
// root, forgets the generated default password.
func setPassword(ctx context.Context, c *module.Call, u store.User, pw string) error {
	h, err := c.Host().PasswordHash(pw)
	if err != nil {
		return err
	}
	no := false
	if err := c.Store().UpdateUser(ctx, u.ID, store.UserUpdate{PasswordHash: &h, NewPasswordReq: &no}); err != nil {
		return err
	}
	s, err := c.Store().Settings(ctx)
	if err == nil && s.DefaultPassword != "" && u.ID == s.RootUserID {
		s.DefaultPassword = ""
		return c.Store().SaveSettings(ctx, s)
	}
	return err
}

// renamePayload builds [32 user id][fixed-width name].
func renamePayload(id wire.UserID, name string, width int) []byte {
	return wire.AppendFixed(append([]byte(nil), id[:]...), name, width)
}

func runMyInfo(ctx context.Context, c *module.Call) error {
	s := c.Session()
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%-16s%s\n", label, value) }
	line("Session id:", s.SessionID.String())
	line("IP Address:", s.IP)
	line("App Name:", s.AppName)
	if s.LoggedIn {
		line("User Name:", s.UserName)
		line("Display Name:", s.DisplayName)
		line("User id:", s.UserID.String())
		line("Email:", s.Email)
		line("Register Date:", s.Registered)
		line("Email Verified:", fmt.Sprint(s.EmailVerified))
		line("Owner Override:", fmt.Sprint(s.OwnerOverride))
		line("Host Rank:", fmt.Sprint(s.Rank))
	}
	c.Text(b.String())
	return nil
}

// caller loads the calling session's account.
func caller(ctx context.Context, c *module.Call) (store.User, error) {
	s := c.Session()
	if !s.LoggedIn {
		return store.User{}, module.Fail("you are not logged in")
	}
	u, err := c.Store().UserByID(ctx, s.UserID)
	return u, notFound(err, "your account no longer exists")
}

func runSetPw(ctx context.Context, c *module.Call) error {
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	pw, err := askNewPassword(ctx, c, "Enter a new password (leave blank to cancel): ", true)
	if err != nil || pw == "" {
		return err
	}
	return setPassword(ctx, c, u, pw)
}

func runSetUserName(ctx context.Context, c *module.Call) error {
	name := c.Param("-new_name")
	switch {
	case name == "":
		return module.Fail("-new_name missing")
	case !validate.UserName(name):
		return module.Fail(msgInvalidUserName)
	}
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	if name, err = newUserName(ctx, c, name, u.ID); err != nil {
		return err
	}
	if err := renameQuota(ctx, c, u.ID); err != nil {
		return err
	}
	no := false
	if err := c.Store().UpdateUser(ctx, u.ID, store.UserUpdate{Name: &name, NewNameReq: &no}); err != nil {
		if errors.Is(err, store.ErrNameTaken) {
			return module.Fail("%s", nameTakenMsg(err))
		}
		return err
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncUserRenamed, renamePayload(u.ID, name, wire.UserNameWidth))
	return nil
}

func runSetDispName(ctx context.Context, c *module.Call) error {
	if !c.Has("-new_name") {
		return module.Fail("-new_name missing")
	}
	const lengthMsg = "display name too long or contains a line break (limit 32)"
	name := strings.TrimSpace(c.Param("-new_name"))
	if !validate.DisplayName(name) {
		return module.Fail(lengthMsg)
	}
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	if name, err = newDisplayName(ctx, c, name, u.ID, lengthMsg); err != nil {
		return err
	}
	if err := c.Store().UpdateUser(ctx, u.ID, store.UserUpdate{DisplayName: &name}); err != nil {
		return err
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncDispRenamed, renamePayload(u.ID, name, wire.DisplayNameWidth))
	return nil
}

func runSetEmail(ctx context.Context, c *module.Call) error {
	email := c.Param("-new_email")
	if email == "" {
		return module.Fail("-new_email missing")
	}
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	if !validate.Email(email) {
		return module.Fail("invalid email address")
	}
	return changeEmail(ctx, c, u.ID, email)
}

// changeEmail stores an unused address, clears verification and tells the
// account's sessions (RW_MY_INFO).
func changeEmail(ctx context.Context, c *module.Call, id wire.UserID, email string) error {
	if _, err := c.Store().UserByEmail(ctx, email); err == nil {
		return module.Fail("email already in use")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	no := false
	err := c.Store().UpdateUser(ctx, id, store.UserUpdate{Email: &email, EmailVerified: &no})
	switch {
	case errors.Is(err, store.ErrEmailTaken):
		return module.Fail("email already in use")
	case err != nil:
		return notFound(err, "no such user")
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRWMyInfo, id[:])
	return nil
}

func runIsEmailVerified(ctx context.Context, c *module.Call) error {
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	c.Text(fmt.Sprintf("%v\n", u.EmailVerified))
	return nil
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
