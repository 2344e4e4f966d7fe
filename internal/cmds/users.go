package cmds

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"strconv"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

func userAdminCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_acct", "create a new user account.", "[-name (text) -email (text) {-disp (text)}]/[text]",
				"Creates an account with user name -name, address -email and optional display name -disp; "+
					"the host then asks for its password (hidden input)."),
			In: func(cat module.Category, s store.Settings) bool {
				return cat == module.User || (cat == module.Public && s.AllowPublicRegistrations)
			},
			MaxArgs: 6, Run: runAddAcct,
		},
		{
			Def: def("rm_acct", "delete a user account.", "[-name (text) {-force}]/[text]",
				"Deletes the account -name after a y/n confirmation (skipped with -force). Accounts that own "+
					"channels and the root account cannot be deleted; deleting another account needs a better rank."),
			In: userOnly, MaxArgs: 3, Run: runRmAcct,
		},
		{
			Def: def("lock_acct", "lock or unlock a user account.", "[-user (text) -state (0 or 1)]/[text]",
				"Locks (-state 1) or unlocks (-state 0) the account -user; locked accounts cannot log in. "+
					"Unlocking also forgets the account's counted failed logins."),
			In: userOnly, MaxArgs: 4, Run: runLockAcct,
		},
		{
			Def: def("set_user_rank", "change the host rank of a user account.", "[-user (text) -rank (int)]/[text]",
				"Sets the host rank of -user to -rank. 1 is the most privileged rank; you cannot grant a rank "+
					"better than your own nor change accounts that out-rank or equal you."),
			In: userOnly, MaxArgs: 4, Run: runSetUserRank,
		},
		{
			Def: def("force_set_email", "change the e-mail address of another account.", "[-user (text) -new_email (text)]/[text]",
				"Sets the e-mail address of -user to -new_email; the address must be verified again."),
			In: userOnly, MaxArgs: 4, Run: runForceSetEmail,
		},
		{
			Def: def("request_new_pw", "require a password change at next login.", "[-user (text) -req (0 or 1)]/[text]",
				"With -req 1 the account -user must choose a new password at its next login; -req 0 cancels."),
			In: userOnly, MaxArgs: 4, Run: requestFlag(func(u *store.UserUpdate, v bool) { u.NewPasswordReq = &v }),
		},
		{
			Def: def("request_new_user_name", "require a user name change at next login.", "[-user (text) -req (0 or 1)]/[text]",
				"With -req 1 the account -user must choose a new user name at its next login; -req 0 cancels."),
			In: userOnly, MaxArgs: 4, Run: requestFlag(func(u *store.UserUpdate, v bool) { u.NewNameReq = &v }),
		},
		{
			Def: def("ls_users", "list user accounts.", "[{search_terms}]/[text]",
				"Lists accounts 50 per page. Filter with -time_stamp, -user_name, -host_rank or -user_id followed "+
					"by text the column must contain."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewUsers, false),
		},
	}
}

func runAddAcct(ctx context.Context, c *module.Call) error {
	name, email, disp := c.Param("-name"), c.Param("-email"), c.Param("-disp")
	switch {
	case name == "":
		return module.Fail("-name missing")
	case email == "":
		return module.Fail("-email missing")
	case !validate.UserName(name):
		return module.Fail(msgInvalidUserName)
	case !validate.Email(email):
		return module.Fail("invalid email (needs '@', a host with a '.', no spaces, at most 64 chars)")
	case !validate.DisplayName(disp):
		return module.Fail("display name too long or contains a line break")
	}
	name, err := newUserName(ctx, c, name, wire.UserID{})
	if err != nil {
		return err
	}
	if disp, err = newDisplayName(ctx, c, disp, wire.UserID{}, "display name too long or contains a line break"); err != nil {
		return err
	}
	st := c.Store()
	if _, err := st.UserByEmail(ctx, email); err == nil {
		return module.Fail("email already in use")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	pw, err := askNewPassword(ctx, c, "Enter a new password (leave blank to cancel): ", true)
	if err != nil || pw == "" {
		return err
	}
	settings, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	hash, err := c.Host().PasswordHash(pw)
	if err != nil {
		return err
	}
	u := store.User{Name: name, Email: email, DisplayName: disp, PasswordHash: hash,
		Rank: createdRank(settings.InitialHostRank, c.Session())}
	if _, err := rand.Read(u.ID[:]); err != nil {
		return err
	}
	err = st.CreateUser(ctx, u)
	switch {
	case errors.Is(err, store.ErrNameConfusable):
		return module.Fail(msgUserNameConfusable)
	case errors.Is(err, store.ErrNameTaken), errors.Is(err, store.ErrEmailTaken):
		return module.Fail("user name already exists")
	case err != nil:
		return err
	}
	return nil
}

// createdRank is the host rank of an account created by the session s
// (issue 8, defect 6): never more privileged than its creator, so
// max(initial_host_rank, creator's rank) numerically (1 is the most
// privileged). Public registrations (no login) get initial_host_rank.
func createdRank(initial uint32, s *module.SessionInfo) uint32 {
	if s.LoggedIn {
		return max(initial, s.Rank)
	}
	return initial
}

// target loads the account an administration command names and applies the
// strict rank rule: the caller must out-rank it (host.md §2.2).
func target(ctx context.Context, c *module.Call, name, deniedMsg string) (store.User, error) {
	u, err := c.Store().UserByName(ctx, name)
	if err != nil {
		return u, notFound(err, "no such user")
	}
	if s := c.Session(); !s.LoggedIn || s.Rank >= u.Rank {
		return u, module.Fail("%s", deniedMsg)
	}
	return u, nil
}

func runRmAcct(ctx context.Context, c *module.Call) error {
	name := c.Param("-name")
	switch {
	case name == "":
		return module.Fail("-name missing")
	case !validate.UserName(name):
		return module.Fail("invalid user name")
	}
	st := c.Store()
	u, err := st.UserByName(ctx, name)
	if err != nil {
		return notFound(err, "no such user")
	}
	if root, err := isRoot(ctx, c, u); err != nil || root {
		return cmp.Or(err, module.Fail("cannot delete protected user root"))
	}
	owns, err := st.OwnsChannels(ctx, u.ID)
	if err != nil {
		return err
	}
	if owns {
		return module.Fail("target owns channels; transfer ownership or delete them first")
	}
	if s := c.Session(); u.ID != s.UserID && s.Rank >= u.Rank {
		return module.Fail("target out-ranks you")
	}
	if !c.Flag("-force") {
		ok, err := c.Confirm(ctx, "Permanently remove this account? (y/n): ")
		if err != nil || !ok {
			return err
		}
	}
	if err := st.DeleteUser(ctx, u.ID); err != nil {
		return notFound(err, "no such user")
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncUserDeleted, u.ID[:])
	return nil
}

// parseBool parses an exact 0 or 1.
func parseBool(s string) (bool, bool) {
	switch s {
	case "0":
		return false, true
	case "1":
		return true, true
	}
	return false, false
}

func runLockAcct(ctx context.Context, c *module.Call) error {
	name, state := c.Param("-user"), c.Param("-state")
	switch {
	case name == "":
		return module.Fail("-user missing")
	case state == "":
		return module.Fail("-state missing")
	case !validate.UserName(name):
		return module.Fail("invalid user name")
	}
	locked, ok := parseBool(state)
	if !ok {
		return module.Fail("-state must be 0 or 1")
	}
	u, err := target(ctx, c, name, "target out-ranks or equals you")
	if err != nil {
		return err
	}
	if err := c.Store().UpdateUser(ctx, u.ID, store.UserUpdate{Locked: &locked}); err != nil {
		return err
	}
	if !locked {
		return c.Store().ResetAuthFailures(ctx, u.ID)
	}
	return nil
}

func runSetUserRank(ctx context.Context, c *module.Call) error {
	name, rankText := c.Param("-user"), c.Param("-rank")
	switch {
	case name == "":
		return module.Fail("-user missing")
	case rankText == "":
		return module.Fail("-rank missing")
	case !validate.UserName(name):
		return module.Fail("invalid user name")
	}
	if u, err := c.Store().UserByName(ctx, name); err == nil {
		if root, err := isRoot(ctx, c, u); err != nil || root {
			return cmp.Or(err, module.Fail("cannot change the rank of protected user root"))
		}
	}
	n, err := strconv.ParseUint(rankText, 10, 32)
	if err != nil {
		return module.Fail("invalid 32-bit unsigned rank")
	}
	rank := uint32(n)
	switch {
	case rank == 0:
		return module.Fail("rank 0 is invalid")
	case rank < c.Session().Rank:
		return module.Fail("cannot assign a rank higher than your own")
	}
	u, err := target(ctx, c, name, "target out-ranks or equals you")
	if err != nil {
		return err
	}
	if err := c.Store().UpdateUser(ctx, u.ID, store.UserUpdate{Rank: &rank}); err != nil {
		return err
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncUserRankChanged, append(append([]byte(nil), u.ID[:]...), le32(rank)...))
	return nil
}

func runForceSetEmail(ctx context.Context, c *module.Call) error {
	email, name := c.Param("-new_email"), c.Param("-user")
	switch {
	case email == "":
		return module.Fail("-new_email missing")
	case name == "":
		return module.Fail("-user missing")
	case !validate.UserName(name):
		return module.Fail("invalid user name")
	case !validate.Email(email):
		return module.Fail("invalid email address")
	}
	if _, err := c.Store().UserByEmail(ctx, email); err == nil {
		return module.Fail("email already in use")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u, err := target(ctx, c, name, "access denied")
	if err != nil {
		return err
	}
	return changeEmail(ctx, c, u.ID, email)
}

// requestFlag builds request_new_pw / request_new_user_name.
func requestFlag(set func(*store.UserUpdate, bool)) func(context.Context, *module.Call) error {
	return func(ctx context.Context, c *module.Call) error {
		name, req := c.Param("-user"), c.Param("-req")
		switch {
		case name == "":
			return module.Fail("-user missing")
		case req == "":
			return module.Fail("-req missing")
		}
		v, ok := parseBool(req)
		switch {
		case !ok:
			return module.Fail("-req must be 0 or 1")
		case !validate.UserName(name):
			return module.Fail("invalid user name")
		}
		u, err := target(ctx, c, name, "target out-ranks or equals you")
		if err != nil {
			return err
		}
		var upd store.UserUpdate
		set(&upd, v)
		return c.Store().UpdateUser(ctx, u.ID, upd)
	}
}
