package cmds

import (
	"context"
	"errors"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// Messages of the name checks (issue 8, defect 7). The specification's
// texts are kept where it has one (msgInvalidUserName and the display
// name's length text); these are for the new refusals.
const (
	msgUserNameInvisible  = "invalid user name (invisible or bidirectional control characters)"
	msgUserNameChars      = "invalid user name (letters, digits and punctuation only, no spaces or symbols)"
	msgUserNameConfusable = "user name too similar to an existing user name"
	msgDispNameInvisible  = "display name contains invisible or bidirectional control characters"
	msgDispNameChars      = "display name contains characters that are not allowed"
	msgDispNameConfusable = "display name too similar to another user's name"
)

// newUserName checks a user name about to be stored for the account self
// (zero for a new account) and returns its stored form, or a module.Fail
// with the message to show: invalid (validate.NewUserName), taken by any
// account (the caller's included, commands.md §4) or looking like another
// account's name (validate.NameKey).
func newUserName(ctx context.Context, c *module.Call, name string, self wire.UserID) (string, error) {
	n, err := validate.NewUserName(name)
	switch {
	case errors.Is(err, validate.ErrNameInvisible):
		return "", module.Fail(msgUserNameInvisible)
	case errors.Is(err, validate.ErrNameChars) && !strings.ContainsRune(name, ' '):
		return "", module.Fail(msgUserNameChars)
	case err != nil:
		return "", module.Fail(msgInvalidUserName)
	}
	st := c.Store()
	if _, err := st.UserByName(ctx, n); err == nil {
		return "", module.Fail("user name already exists")
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if u, err := st.UserByNameKey(ctx, validate.NameKey(n)); err == nil && u.ID != self {
		return "", module.Fail(msgUserNameConfusable)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	return n, nil
}

// nameTakenMsg is the message for a name conflict the store reported
// (a concurrent creation or rename won the race).
func nameTakenMsg(err error) string {
	if errors.Is(err, store.ErrNameConfusable) {
		return msgUserNameConfusable
	}
	return "user name already exists"
}

// newDisplayName checks a display name about to be stored for the account
// self and returns its stored form: validate.NewDisplayName, and it must
// not look like the user name of another account. lengthMsg is the
// command's text for a name that is too long or holds a line break.
func newDisplayName(ctx context.Context, c *module.Call, name string, self wire.UserID, lengthMsg string) (string, error) {
	if strings.ContainsAny(name, "\r\n") {
		return "", module.Fail("%s", lengthMsg)
	}
	n, err := validate.NewDisplayName(name)
	switch {
	case errors.Is(err, validate.ErrNameInvisible):
		return "", module.Fail(msgDispNameInvisible)
	case errors.Is(err, validate.ErrNameChars):
		return "", module.Fail(msgDispNameChars)
	case err != nil:
		return "", module.Fail("%s", lengthMsg)
	}
	if n == "" {
		return n, nil
	}
	if u, err := c.Store().UserByNameKey(ctx, validate.NameKey(n)); err == nil && u.ID != self {
		return "", module.Fail(msgDispNameConfusable)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	return n, nil
}
