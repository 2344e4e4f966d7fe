package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mrci/mrci/pkg/mrciwire"
)

var (
	// ErrLoginFailed is wrapped by every error Login returns after the auth
	// command ran (wrong password, unknown or locked user, the host unable
	// to load the account after granting access, ...); the error text
	// includes the host's ERR messages.
	ErrLoginFailed = errors.New("client: login failed")
	// ErrNewPasswordRequired is wrapped by Login's error when the account
	// must change its password and no WithNewPassword option was given.
	ErrNewPasswordRequired = errors.New("the host requires a new password (use WithNewPassword)")
	// ErrNewUserNameRequired is wrapped by Login's error when the account
	// must change its user name and no WithNewUserName option was given.
	ErrNewUserNameRequired = errors.New("the host requires a new user name (use WithNewUserName)")
)

// accessGranted is the TEXT the auth command prints on success.
const accessGranted = "Access granted."

// LoginOption modifies Login.
type LoginOption func(*loginOptions)

type loginOptions struct {
	newPassword string
	newUserName string
}

// WithNewPassword answers the host's forced password-change prompt (sent
// when the account is flagged to require a new password) with pw.
func WithNewPassword(pw string) LoginOption {
	return func(o *loginOptions) { o.newPassword = pw }
}

// WithNewUserName answers the host's forced user-name-change prompt (a TEXT
// prompt sent when the account is flagged to require a new name) with name.
func WithNewUserName(name string) LoginOption {
	return func(o *loginOptions) { o.newUserName = name }
}

// Login runs the host's auth command as "-user <user>" (quoted with
// QuoteArg), answers the password prompt and, with the options, the forced
// password and user-name change prompts. A rejected answer (the host sends
// ERR and asks again) aborts the command with TERM_CMD instead of retrying.
// Login succeeds only if auth printed "Access granted."; it then waits until
// the host's MY_INFO for the new login has arrived (see MyInfo). Errors
// after the command ran wrap ErrLoginFailed and contain the ERR texts.
func (c *Client) Login(ctx context.Context, user, password string, opts ...LoginOption) error {
	var o loginOptions
	for _, opt := range opts {
		opt(&o)
	}
	gen, errGen := c.myInfoGen()
	call, err := c.Start(ctx, "auth")
	if err != nil {
		return fmt.Errorf("client: login: %w", err)
	}
	defer call.Close()
	if err := call.SendText("-user " + QuoteArg(user)); err != nil {
		return fmt.Errorf("client: login: %w", err)
	}

	const (
		awaitPassword = iota // nothing answered yet
		sentPassword
		sentNewPassword
		sentNewName
	)
	var (
		stage     = awaitPassword
		errs      []string
		rejected  bool // an ERR arrived since the last answer
		granted   bool
		aborted   bool
		failure   error
		terminate = func(why error) error {
			failure, aborted = why, true
			return call.Terminate()
		}
	)
	for {
		f, err := call.Next(ctx)
		if err != nil {
			if ctx.Err() != nil && call.Busy() {
				_ = call.Terminate()
			}
			return fmt.Errorf("client: login: %w", err)
		}
		var serr error
		switch f.Type {
		case mrciwire.TypeErr:
			errs = append(errs, strings.TrimSpace(mrciwire.DecodeText(f.Payload)))
			rejected = true
		case mrciwire.TypePrivText:
			switch {
			case aborted:
			case stage == awaitPassword:
				serr = call.SendText(password)
				stage = sentPassword
			case rejected:
				serr = terminate(nil)
			case stage == sentPassword:
				if o.newPassword == "" {
					serr = terminate(ErrNewPasswordRequired)
				} else {
					serr = call.SendText(o.newPassword)
					stage = sentNewPassword
				}
			default:
				serr = terminate(fmt.Errorf("unexpected prompt %q", strings.TrimSpace(mrciwire.DecodeText(f.Payload))))
			}
			rejected = false
		case mrciwire.TypeText:
			text := mrciwire.DecodeText(f.Payload)
			switch {
			case strings.Contains(text, accessGranted):
				granted = true
			case aborted || granted || stage == awaitPassword || strings.TrimSpace(text) == "":
				// ordinary output
			case rejected || stage == sentNewName:
				serr = terminate(nil)
			case o.newUserName == "":
				serr = terminate(ErrNewUserNameRequired)
			default:
				serr = call.SendText(o.newUserName)
				stage = sentNewName
			}
			rejected = false
		}
		if serr != nil {
			return fmt.Errorf("client: login: %w", serr)
		}
		if f.Type == mrciwire.TypeIdle {
			break
		}
	}

	if !granted || aborted {
		msg := strings.Join(errs, "; ")
		switch {
		case failure != nil && msg != "":
			return fmt.Errorf("%w as %q: %w: %s", ErrLoginFailed, user, failure, msg)
		case failure != nil:
			return fmt.Errorf("%w as %q: %w", ErrLoginFailed, user, failure)
		case msg != "":
			return fmt.Errorf("%w as %q: %s", ErrLoginFailed, user, msg)
		default:
			return fmt.Errorf("%w as %q: auth ended without %q", ErrLoginFailed, user, accessGranted)
		}
	}
	if err := c.waitMyInfo(ctx, gen, errGen); err != nil {
		var refused *loginRefused
		if errors.As(err, &refused) {
			return fmt.Errorf("%w as %q: %s", ErrLoginFailed, user, refused.text)
		}
		return fmt.Errorf("client: login: waiting for MY_INFO: %w", err)
	}
	return nil
}
