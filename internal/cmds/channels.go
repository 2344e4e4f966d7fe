package cmds

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// Member levels (host.md §6.2).
const (
	levelOwner   uint8 = 1
	levelAdmin   uint8 = 2
	levelOfficer uint8 = 3
	levelRegular uint8 = 4
	levelPublic  uint8 = 5
)

// Client error texts shared by the channel commands (commands.md §7-§8).
const (
	msgInvalidChName  = "invalid channel name (4-32 chars, no spaces)"
	msgInvalidSubName = "invalid sub-channel name (4-32 chars, no spaces)"
	msgInvalidNewName = "invalid new name (4-32 chars, no spaces)"
	msgNoChannel      = "no such channel"
	msgNoSubChannel   = "no such sub-channel"
	msgNoUser         = "no such user"
	msgAccessDenied   = "access denied"
	msgChExists       = "channel already exists"
	msgSubExists      = "sub-channel already exists"
	msgNotMember      = "target is not a member"
	msgOwnerCantLeave = "the owner cannot leave; assign a new owner first"
	msgNoInvite       = "you have no invitation to this channel"
	msgLevel14        = "level must be 1-4"
	msgLevel15        = "level must be 1-5"
	msgState01        = "-state must be 1 or 0"
)

// channelCommands returns the channel, sub-channel, cast and P2P commands
// (commands.md §7-§9).
func channelCommands() []*module.Command {
	return slices.Concat(memberCommands(), subChannelCommands(), castCommands(), p2pCommands())
}

func memberCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_ch", "create a new channel.", "[-ch_name (text)]/[text]",
				"Creates the channel -ch_name (4-32 characters, no spaces) with you as its owner (level 1). "+
					"A channel needs at least one sub-channel (add_sub_ch) before anything can be cast on it."),
			In: userOnly, MaxArgs: 2, Run: runAddCh,
		},
		{
			Def: def("rm_ch", "delete a channel.", "[-ch_name (text)]/[text]",
				"Deletes the channel -ch_name with its members, invitations, sub-channels and read-only flags. "+
					"Only the owner (or a session with owner override) can do this."),
			In: userOnly, MaxArgs: 2, Run: runRmCh,
		},
		{
			Def: def("rename_ch", "rename a channel.", "[-ch_name (text) -new_name (text)]/[text]",
				"Renames the channel -ch_name to -new_name; the channel id stays the same. Owner only."),
			In: userOnly, MaxArgs: 4, Run: runRenameCh,
		},
		{
			Def: def("find_ch", "search for channels.", "[-name (text)] or [-id (int)]/[text]",
				"Lists channels whose name contains -name, or the channel with the id -id, or every channel "+
					"when neither is given; 50 rows per page."),
			In: userOnly, MaxArgs: 4, Run: runFindCh,
		},
		{
			Def: def("ls_chs", "list your channels and invitations.", "[none]/[text]",
				"Lists the channels you are a member of and the invitations you have not answered yet, "+
					"with your level in each; 50 rows per page."),
			In: userOnly, MaxArgs: 0, Run: runLsChs,
		},
		{
			Def: def("invite_to_ch", "invite a user to a channel.", "[-ch_name (text) -user (text)]/[text]",
				"Invites -user to the channel -ch_name as a regular member (level 4). The user joins with "+
					"accept_ch. Officers (level 3) and above can invite."),
			In: userOnly, MaxArgs: 4, Run: runInviteToCh,
		},
		{
			Def: def("accept_ch", "accept a channel invitation.", "[-ch_name (text)]/[text]",
				"Accepts your pending invitation to the channel -ch_name; you become a regular member."),
			In: userOnly, MaxArgs: 2, Run: runAcceptCh,
		},
		{
			Def: def("decline_ch", "decline a channel invitation.", "[-ch_name (text)]/[text]",
				"Declines your pending invitation to the channel -ch_name."),
			In: userOnly, MaxArgs: 2, Run: runDeclineCh,
		},
		{
			Def: def("remove_ch_member", "remove a member from a channel.", "[-ch_name (text) -user (text)]/[text]",
				"Removes -user from the channel -ch_name. You can remove members of a lower level than yours "+
					"and leave a channel by naming yourself (not as its owner). Officers and above can also "+
					"cancel pending invitations this way."),
			In: userOnly, MaxArgs: 4, Run: runRemoveChMember,
		},
		{
			Def: def("ls_ch_members", "list the members of a channel.", "[-ch_name (text) {-user_name (text)} {-disp_name (text)}]/[text]",
				"Lists the members and pending invitations of the channel -ch_name, optionally only those whose "+
					"user name contains -user_name and/or display name contains -disp_name; members only."),
			In: userOnly, MaxArgs: 6, Run: runLsChMembers,
		},
		{
			Def: def("set_member_level", "change the level of a channel member.", "[-ch_name (text) -user (text) -level (int)]/[text]",
				"Sets the level of -user in the channel -ch_name to -level: 1 owner, 2 admin, 3 officer, "+
					"4 regular. You can only change members below your own level and only grant levels at or "+
					"below yours. Giving level 1 transfers ownership; the previous owner becomes an admin."),
			In: userOnly, MaxArgs: 6, Run: runSetMemberLevel,
		},
		{
			Def: def("ch_owner_override", "act as the owner of every channel.", "[-state (1 or 0)]/[text]",
				"With -state 1 this session has owner rights (level 1) in every channel, member or not, "+
					"until -state 0 or logout."),
			In: userOnly, MaxArgs: 2, Run: runChOwnerOverride,
		},
	}
}

// memberLevel is the effective level a membership lookup yields for a
// session without owner override: the stored level of an accepted
// membership, else 5 (host.md §6.2).
func memberLevel(m store.Member, err error) (uint8, error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return levelPublic, nil
	case err != nil:
		return 0, err
	case m.Pending:
		return levelPublic, nil
	}
	return m.Level, nil
}

// callerLevel is the calling session's effective level in a channel.
func callerLevel(ctx context.Context, c *module.Call, ch uint64) (uint8, error) {
	s := c.Session()
	if s.OwnerOverride {
		return levelOwner, nil
	}
	if !s.LoggedIn {
		return levelPublic, nil
	}
	return memberLevel(c.Store().Member(ctx, ch, s.UserID))
}

// requireLevel fails with "access denied" unless the caller's effective
// level in ch is at most max.
func requireLevel(ctx context.Context, c *module.Call, ch uint64, max uint8) error {
	lvl, err := callerLevel(ctx, c, ch)
	if err != nil {
		return err
	}
	if lvl > max {
		return module.Fail(msgAccessDenied)
	}
	return nil
}

// channelNamed loads a channel by name.
func channelNamed(ctx context.Context, c *module.Call, name string) (store.Channel, error) {
	ch, err := c.Store().ChannelByName(ctx, name)
	return ch, notFound(err, msgNoChannel)
}

// userNamed loads an account by name.
func userNamed(ctx context.Context, c *module.Call, name string) (store.User, error) {
	u, err := c.Store().UserByName(ctx, name)
	return u, notFound(err, msgNoUser)
}

// parseLevel parses an unsigned decimal level in 1..max.
func parseLevel(s string, max uint8) (uint8, bool) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n < 1 || n > uint64(max) {
		return 0, false
	}
	return uint8(n), true
}

// parseSubID parses an unsigned decimal sub-channel id in 0..255.
func parseSubID(s string) (uint8, bool) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, false
	}
	return uint8(n), true
}

// parseChannelID parses an unsigned decimal channel id (1 or more).
func parseChannelID(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n != 0
}

// removeDecision applies remove_ch_member's permission rules (host.md §6.2
// with the fixes). self: the caller names themselves; callerOwner:
// the caller's stored membership is the accepted owner row; caller: the
// caller's effective level; target/targetPending/targetRow: the target's
// stored membership (targetRow false when it has none). It returns the
// error texts to send, in order; none means allowed.
func removeDecision(self, callerOwner bool, caller uint8, targetRow, targetPending bool, target uint8) []string {
	switch {
	case self && callerOwner:
		return []string{msgOwnerCantLeave, msgAccessDenied}
	case !targetRow:
		return []string{msgNotMember, msgAccessDenied}
	case targetPending:
		// Cancelling an invitation: officers and above, or the invitee
		// (which is declining it).
		if self || caller <= levelOfficer {
			return nil
		}
		return []string{msgAccessDenied}
	case self:
		return nil
	case caller < target:
		return nil
	}
	return []string{msgAccessDenied}
}

// canSetLevel applies set_member_level's rule: the new level is not better
// than the caller's, and the target is strictly below the caller.
func canSetLevel(caller, target, newLevel uint8) bool {
	return newLevel >= caller && target > caller
}

func runAddCh(ctx context.Context, c *module.Call) error {
	name := c.Param("-ch_name")
	switch {
	case name == "":
		return module.Fail("-ch_name missing")
	case !validate.ChannelName(name):
		return module.Fail(msgInvalidChName)
	}
	u, err := caller(ctx, c)
	if err != nil {
		return err
	}
	st := c.Store()
	if _, err := st.ChannelByName(ctx, name); err == nil {
		return module.Fail(msgChExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := channelLimit(ctx, c, u.ID, 0); err != nil {
		return err
	}
	ch, err := st.CreateChannel(ctx, name, u.ID)
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return module.Fail(msgChExists)
	case errors.Is(err, store.ErrNotFound):
		return module.Fail("your account no longer exists")
	case err != nil:
		return err
	}
	if err := channelLimit(ctx, c, u.ID, 1); err != nil {
		return errors.Join(err, undoChannel(ctx, st, ch.ID))
	}
	info := wire.ChMemberInfo{ChannelID: ch.ID, UserID: u.ID, Level: levelOwner,
		UserName: u.Name, DisplayName: u.DisplayName, ChannelName: ch.Name}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncNewChMember, info.Marshal())
	return nil
}

func runRmCh(ctx context.Context, c *module.Call) error {
	ch, err := channelArg(ctx, c)
	if err != nil {
		return err
	}
	lvl, err := callerLevel(ctx, c, ch.ID)
	if err != nil {
		return err
	}
	if lvl != levelOwner {
		return module.Fail("only the owner can delete the channel")
	}
	if err := c.Store().DeleteChannel(ctx, ch.ID); err != nil {
		return notFound(err, msgNoChannel)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncDelCh, wire.EncodeChID(ch.ID))
	return nil
}

func runRenameCh(ctx context.Context, c *module.Call) error {
	name, newName := c.Param("-ch_name"), c.Param("-new_name")
	switch {
	case name == "":
		return module.Fail("-ch_name missing")
	case newName == "":
		return module.Fail("-new_name missing")
	case !validate.ChannelName(name):
		return module.Fail(msgInvalidChName)
	case !validate.ChannelName(newName):
		return module.Fail(msgInvalidNewName)
	}
	ch, err := channelNamed(ctx, c, name)
	if err != nil {
		return err
	}
	lvl, err := callerLevel(ctx, c, ch.ID)
	if err != nil {
		return err
	}
	if lvl != levelOwner {
		return module.Fail("only the owner can rename the channel")
	}
	// Another channel may not have the name; the channel itself may change
	// the case of its own name.
	if other, err := c.Store().ChannelByName(ctx, newName); err == nil && other.ID != ch.ID {
		return module.Fail(msgChExists)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := renameQuota(ctx, c, c.Session().UserID); err != nil {
		return err
	}
	err = c.Store().RenameChannel(ctx, ch.ID, newName)
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return module.Fail(msgChExists)
	case err != nil:
		return notFound(err, msgNoChannel)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRenameCh, wire.AppendNullTerm(wire.EncodeChID(ch.ID), newName))
	return nil
}

func runFindCh(ctx context.Context, c *module.Call) error {
	var filters []store.Filter
	if name := c.Param("-name"); name != "" {
		if !validate.ChannelName(name) {
			return module.Fail("not a valid channel name")
		}
		filters = append(filters, store.Filter{Column: "channel_name", Value: name})
	} else if id := c.Param("-id"); id != "" {
		n, ok := parseChannelID(id)
		if !ok {
			return module.Fail("not a valid channel id")
		}
		filters = append(filters, store.Filter{Column: "channel_id", Value: strconv.FormatUint(n, 10), Exact: true})
	}
	return showPages(ctx, c, store.ViewChannels, filters, nil)
}

func runLsChs(ctx context.Context, c *module.Call) error {
	s := c.Session()
	if !s.LoggedIn {
		return module.Fail("you are not logged in")
	}
	return showPages(ctx, c, store.ViewMyChannels, []store.Filter{{Column: "user_id", Value: s.UserID.String(), Exact: true}}, nil)
}

// channelAndUser checks and resolves the -ch_name and -user arguments in
// the spec's order: both present, both valid, the channel exists, the user
// exists.
func channelAndUser(ctx context.Context, c *module.Call) (store.Channel, store.User, error) {
	name, user := c.Param("-ch_name"), c.Param("-user")
	switch {
	case name == "":
		return store.Channel{}, store.User{}, module.Fail("-ch_name missing")
	case user == "":
		return store.Channel{}, store.User{}, module.Fail("-user missing")
	case !validate.ChannelName(name):
		return store.Channel{}, store.User{}, module.Fail(msgInvalidChName)
	case !validate.UserName(user):
		return store.Channel{}, store.User{}, module.Fail(msgInvalidUserName)
	}
	ch, err := channelNamed(ctx, c, name)
	if err != nil {
		return ch, store.User{}, err
	}
	u, err := userNamed(ctx, c, user)
	return ch, u, err
}

func runInviteToCh(ctx context.Context, c *module.Call) error {
	ch, u, err := channelAndUser(ctx, c)
	if err != nil {
		return err
	}
	if err := requireLevel(ctx, c, ch.ID, levelOfficer); err != nil {
		return err
	}
	st := c.Store()
	if m, err := st.Member(ctx, ch.ID, u.ID); err == nil {
		if m.Pending {
			return module.Fail("already invited")
		}
		return module.Fail("already a member")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := inviteLimit(ctx, c, ch.ID, 0); err != nil {
		return err
	}
	err = st.AddMember(ctx, store.Member{ChannelID: ch.ID, UserID: u.ID, Pending: true, Level: levelRegular})
	switch {
	case errors.Is(err, store.ErrExists):
		return module.Fail("already invited")
	case err != nil:
		return notFound(err, msgNoChannel)
	}
	if err := inviteLimit(ctx, c, ch.ID, 1); err != nil {
		return errors.Join(err, st.RemoveMember(context.WithoutCancel(ctx), ch.ID, u.ID))
	}
	info := wire.ChMemberInfo{ChannelID: ch.ID, UserID: u.ID, Pending: true, Level: levelRegular,
		UserName: u.Name, DisplayName: u.DisplayName, ChannelName: ch.Name}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncInvitedToCh, info.Marshal())
	return nil
}

// ownInvitation runs the checks of accept_ch / decline_ch and returns the
// channel, the caller's account and the pending membership.
func ownInvitation(ctx context.Context, c *module.Call) (store.Channel, store.User, error) {
	ch, err := channelArg(ctx, c)
	if err != nil {
		return ch, store.User{}, err
	}
	u, err := caller(ctx, c)
	if err != nil {
		return ch, u, err
	}
	m, err := c.Store().Member(ctx, ch.ID, u.ID)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && !m.Pending:
		return ch, u, module.Fail(msgNoInvite)
	case err != nil:
		return ch, u, err
	}
	return ch, u, nil
}

func runAcceptCh(ctx context.Context, c *module.Call) error {
	ch, u, err := ownInvitation(ctx, c)
	if err != nil {
		return err
	}
	err = c.Store().UpdateMember(ctx, store.Member{ChannelID: ch.ID, UserID: u.ID, Pending: false, Level: levelRegular})
	if err != nil {
		return notFound(err, msgNoInvite)
	}
	info := wire.ChMemberInfo{ChannelID: ch.ID, UserID: u.ID, Level: levelRegular,
		UserName: u.Name, DisplayName: u.DisplayName, ChannelName: ch.Name}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncInviteAccepted, info.Marshal())
	return nil
}

func runDeclineCh(ctx context.Context, c *module.Call) error {
	ch, u, err := ownInvitation(ctx, c)
	if err != nil {
		return err
	}
	if err := c.Store().RemoveMember(ctx, ch.ID, u.ID); err != nil {
		return notFound(err, msgNoInvite)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRmChMember, memberPayload(ch.ID, u.ID))
	return nil
}

// memberPayload is [8 channel id][32 user id].
func memberPayload(ch uint64, user wire.UserID) []byte {
	return append(wire.EncodeChID(ch), user[:]...)
}

func runRemoveChMember(ctx context.Context, c *module.Call) error {
	ch, u, err := channelAndUser(ctx, c)
	if err != nil {
		return err
	}
	st := c.Store()
	s := c.Session()
	self := s.LoggedIn && u.ID == s.UserID
	tm, err := st.Member(ctx, ch.ID, u.ID)
	targetRow := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	lvl, err := callerLevel(ctx, c, ch.ID)
	if err != nil {
		return err
	}
	callerOwner := self && targetRow && !tm.Pending && tm.Level == levelOwner
	if msgs := removeDecision(self, callerOwner, lvl, targetRow, tm.Pending, tm.Level); len(msgs) > 0 {
		for _, m := range msgs[:len(msgs)-1] {
			c.Err(m)
		}
		return module.Fail("%s", msgs[len(msgs)-1])
	}
	if err := st.RemoveMember(ctx, ch.ID, u.ID); err != nil {
		return notFound(err, msgNotMember)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRmChMember, memberPayload(ch.ID, u.ID))
	return nil
}

func runSetMemberLevel(ctx context.Context, c *module.Call) error {
	name, user, levelText := c.Param("-ch_name"), c.Param("-user"), c.Param("-level")
	switch {
	case name == "":
		return module.Fail("-ch_name missing")
	case user == "":
		return module.Fail("-user missing")
	case levelText == "":
		return module.Fail("-level missing")
	case !validate.ChannelName(name):
		return module.Fail(msgInvalidChName)
	case !validate.UserName(user):
		return module.Fail(msgInvalidUserName)
	}
	newLevel, ok := parseLevel(levelText, levelRegular)
	if !ok {
		return module.Fail(msgLevel14)
	}
	ch, err := channelNamed(ctx, c, name)
	if err != nil {
		return err
	}
	u, err := userNamed(ctx, c, user)
	if err != nil {
		return err
	}
	st := c.Store()
	tm, terr := st.Member(ctx, ch.ID, u.ID)
	target, err := memberLevel(tm, terr)
	if err != nil {
		return err
	}
	lvl, err := callerLevel(ctx, c, ch.ID)
	if err != nil {
		return err
	}
	if !canSetLevel(lvl, target, newLevel) {
		return module.Fail(msgAccessDenied)
	}
	if target == levelPublic { // no row, or a pending invitation
		return module.Fail(msgNotMember)
	}
	if newLevel == levelOwner {
		prev, err := st.TransferOwnership(ctx, ch.ID, u.ID)
		if err != nil {
			return notFound(err, msgNotMember)
		}
		c.Emit(wire.TypePubIPCFeedback, wire.AsyncMemLevelChanged, append(memberPayload(ch.ID, u.ID), levelOwner))
		if !prev.IsZero() && prev != u.ID {
			c.Emit(wire.TypePubIPCFeedback, wire.AsyncMemLevelChanged, append(memberPayload(ch.ID, prev), levelAdmin))
		}
		return nil
	}
	if err := st.UpdateMember(ctx, store.Member{ChannelID: ch.ID, UserID: u.ID, Level: newLevel}); err != nil {
		return notFound(err, msgNotMember)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncMemLevelChanged, append(memberPayload(ch.ID, u.ID), newLevel))
	return nil
}

func runLsChMembers(ctx context.Context, c *module.Call) error {
	ch, err := channelArg(ctx, c)
	if err != nil {
		return err
	}
	lvl, err := callerLevel(ctx, c, ch.ID)
	if err != nil {
		return err
	}
	if lvl > levelRegular {
		return module.Fail("you are not a member of this channel")
	}
	filters := []store.Filter{{Column: "channel_id", Value: strconv.FormatUint(ch.ID, 10), Exact: true}}
	if v := c.Param("-user_name"); v != "" {
		filters = append(filters, store.Filter{Column: "user_name", Value: v})
	}
	if v := c.Param("-disp_name"); v != "" {
		filters = append(filters, store.Filter{Column: "display_name", Value: v})
	}
	return showPages(ctx, c, store.ViewMembers, filters, nil)
}

func runChOwnerOverride(ctx context.Context, c *module.Call) error {
	state := c.Param("-state")
	if state == "" {
		return module.Fail("-state missing")
	}
	on, ok := parseBool(state)
	if !ok {
		return module.Fail(msgState01)
	}
	ctl, ok := c.Env().Session.(module.SessionControl)
	if !ok {
		return errors.New("ch_owner_override: the session does not support owner override")
	}
	ctl.SetOwnerOverride(on)
	return nil
}
