package cmds

import (
	"context"
	"time"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Per-account creation limits (issue 8, defect 9). The limits are the
// store.AccountLimits row; 0 disables a limit.
//
// Channels and invitations are counted before the insert and again after
// it: when parallel commands of one account raced past the limit, the
// insert is undone, so the limit holds under concurrency (at worst every
// racing command is refused). Renames take a unit of a per-account quota
// in one transaction (store.TakeQuota).

// quotaRename is the TakeQuota kind shared by rename_ch, rename_sub_ch and
// set_user_name.
const quotaRename = "rename"

// channelLimit returns a module.Fail when the user owns MaxChannelsPerUser
// channels or more (extra: channels counted that are not to be created).
func channelLimit(ctx context.Context, c *module.Call, user wire.UserID, extra int) error {
	l, err := c.Store().AccountLimits(ctx)
	if err != nil || l.MaxChannelsPerUser == 0 {
		return err
	}
	n, err := c.Store().CountOwnedChannels(ctx, user)
	if err != nil {
		return err
	}
	if n-extra >= int(l.MaxChannelsPerUser) {
		return module.Fail("you already own the maximum of %d channels", l.MaxChannelsPerUser)
	}
	return nil
}

// inviteLimit returns a module.Fail when a channel has MaxPendingInvites
// pending invitations or more (extra: invitations counted that are not to
// be added).
func inviteLimit(ctx context.Context, c *module.Call, channel uint64, extra int) error {
	l, err := c.Store().AccountLimits(ctx)
	if err != nil || l.MaxPendingInvites == 0 {
		return err
	}
	n, err := c.Store().CountPendingInvites(ctx, channel)
	if err != nil {
		return err
	}
	if n-extra >= int(l.MaxPendingInvites) {
		return module.Fail("the channel already has the maximum of %d pending invitations", l.MaxPendingInvites)
	}
	return nil
}

// renameQuota takes one rename of the calling account's quota, or returns
// a module.Fail when MaxRenames were made in the current window.
func renameQuota(ctx context.Context, c *module.Call, user wire.UserID) error {
	l, err := c.Store().AccountLimits(ctx)
	if err != nil || l.MaxRenames == 0 {
		return err
	}
	ok, err := c.Store().TakeQuota(ctx, user, quotaRename, l.MaxRenames, l.RenameWindow, time.Now())
	switch {
	case err != nil:
		return notFound(err, "your account no longer exists")
	case !ok:
		return module.Fail("too many renames: at most %d per %v", l.MaxRenames, l.RenameWindow)
	}
	return nil
}

// undoChannel deletes a channel created past the limit.
func undoChannel(ctx context.Context, st store.Store, id uint64) error {
	return st.DeleteChannel(context.WithoutCancel(ctx), id)
}
