package cmds

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

func subChannelCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_sub_ch", "add a sub-channel to a channel.", "[-ch_name (text) -sub_name (text)]/[text]",
				"Creates the sub-channel -sub_name in the channel -ch_name with the smallest free sub id, "+
					"lowest access level 4 and active updates off. Admins (level 2) and above."),
			In: userOnly, MaxArgs: 4, Run: runAddSubCh,
		},
		{
			Def: def("rm_sub_ch", "delete a sub-channel.", "[-ch_name (text) -sub_name (text)]/[text]",
				"Deletes the sub-channel -sub_name of the channel -ch_name; sessions that have it open close "+
					"it. Read-only flags for its sub id stay. Admins (level 2) and above."),
			In: userOnly, MaxArgs: 4, Run: runRmSubCh,
		},
		{
			Def: def("rename_sub_ch", "rename a sub-channel.", "[-ch_name (text) -sub_name (text) -new_name (text)]/[text]",
				"Renames the sub-channel -sub_name of the channel -ch_name to -new_name, which must not be "+
					"used by another sub-channel of the channel. Admins (level 2) and above."),
			In: userOnly, MaxArgs: 6, Run: runRenameSubCh,
		},
		{
			Def: def("ls_sub_chs", "list the sub-channels of a channel.", "[-ch_name (text)]/[text]",
				"Lists the sub-channels of the channel -ch_name with their ids, lowest access levels and "+
					"active-update flags; non-members see only public (level 5) sub-channels."),
			In: userOnly, MaxArgs: 2, Run: runLsSubChs,
		},
		{
			Def: def("set_sub_ch_level", "set the lowest level that may open a sub-channel.", "[-ch_name (text) -sub_name (text) -level (int)]/[text]",
				"Sets the lowest access level (1-5) of the sub-channel -sub_name of the channel -ch_name; 5 "+
					"makes it public. Sessions that have it open close it. Admins (level 2) and above."),
			In: userOnly, MaxArgs: 6, Run: runSetSubChLevel,
		},
		{
			Def: def("set_active_flag", "turn active updates of a sub-channel on or off.", "[-ch_name (text) -sub_name (text) -state (1 or 0)]/[text]",
				"Sets the active-update flag of the sub-channel -sub_name of the channel -ch_name. Sessions "+
					"with an active-update sub-channel open exchange presence information (PEER_STAT, "+
					"PEER_INFO). Has no effect while the host's global active_updates setting is on. "+
					"Admins (level 2) and above."),
			In: userOnly, MaxArgs: 6, Run: runSetActiveFlag,
		},
		{
			Def: def("add_rdonly_flag", "make a sub-channel read-only for a level.", "[-ch_name (text) -sub_id (int) -level (int)]/[text]",
				"Sessions whose level in the channel -ch_name equals -level (1-5) may open the sub-channel "+
					"with id -sub_id (0-255) and receive casts on it but not cast to it. Sessions that have it "+
					"open close it. Admins (level 2) and above."),
			In: userOnly, MaxArgs: 6, Run: runRdonlyFlag(true),
		},
		{
			Def: def("rm_rdonly_flag", "remove a read-only flag.", "[-ch_name (text) -sub_id (int) -level (int)]/[text]",
				"Removes the read-only flag for sub id -sub_id and level -level from the channel -ch_name. "+
					"Sessions that have the sub-channel open close it. Admins (level 2) and above."),
			In: userOnly, MaxArgs: 6, Run: runRdonlyFlag(false),
		},
		{
			Def: def("ls_rdonly_flags", "list the read-only flags of a channel.", "[-ch_name (text)]/[text]",
				"Lists the read-only flags of the channel -ch_name; non-members see only the flags for "+
					"level 5."),
			In: userOnly, MaxArgs: 2, Run: runLsRdonlyFlags,
		},
		{
			Def: def("open_sub_ch", "open a sub-channel.", "[-ch_name (text) -sub_name (text)]/[text]",
				"Opens the sub-channel -sub_name of the channel -ch_name so this session receives its casts "+
					"(and may cast to it unless it is read-only for your level). At most 6 sub-channels can "+
					"be open at once; your level must be at or below its lowest access level."),
			In: userOnly, MaxArgs: 4, Run: runOpenSubCh,
		},
		{
			Def: def("close_sub_ch", "close a sub-channel.", "[-ch_name (text) -sub_name (text)]/[text]",
				"Closes the sub-channel -sub_name of the channel -ch_name in this session."),
			In: userOnly, MaxArgs: 4, Run: runCloseSubCh,
		},
		{
			Def: def("ls_open_chs", "list the sub-channels this session has open.", "[none]/[text]",
				"Lists the open sub-channels with channel and sub-channel names and ids; read_only is 1 when "+
					"you may receive but not cast on it."),
			In: userOnly, MaxArgs: 0, Run: runLsOpenChs,
		},
	}
}

// subChannelArgs reads and checks -ch_name and -sub_name (and, with extra,
// one more argument) in the order the sub-channel commands check them:
// missing arguments first, then name formats.
func subChannelArgs(c *module.Call, extra string) (ch, sub, value string, err error) {
	ch, sub = c.Param("-ch_name"), c.Param("-sub_name")
	if extra != "" {
		value = c.Param(extra)
	}
	switch {
	case ch == "":
		return "", "", "", module.Fail("-ch_name missing")
	case sub == "":
		return "", "", "", module.Fail("-sub_name missing")
	case extra != "" && value == "":
		return "", "", "", module.Fail("%s missing", extra)
	case !validate.ChannelName(ch):
		return "", "", "", module.Fail(msgInvalidChName)
	case !validate.ChannelName(sub):
		return "", "", "", module.Fail(msgInvalidSubName)
	}
	return ch, sub, value, nil
}

// subChannelNamed loads a sub-channel of a channel by name.
func subChannelNamed(ctx context.Context, c *module.Call, ch uint64, name string) (store.SubChannel, error) {
	sc, err := c.Store().SubChannelByName(ctx, ch, name)
	return sc, notFound(err, msgNoSubChannel)
}

// subPayload is [8 channel id][1 sub id] followed by extra bytes.
func subPayload(ch uint64, sub uint8, extra ...byte) []byte {
	return append(wire.AppendSubChannel(nil, wire.SubChannel{Channel: ch, Sub: sub}), extra...)
}

// adminTarget resolves the channel, checks level ≤ 2 and resolves the
// sub-channel, in the order of the sub-channel administration commands.
func adminTarget(ctx context.Context, c *module.Call, chName, subName string) (store.Channel, store.SubChannel, error) {
	ch, err := channelNamed(ctx, c, chName)
	if err != nil {
		return ch, store.SubChannel{}, err
	}
	if err := requireLevel(ctx, c, ch.ID, levelAdmin); err != nil {
		return ch, store.SubChannel{}, err
	}
	sc, err := subChannelNamed(ctx, c, ch.ID, subName)
	return ch, sc, err
}

func runAddSubCh(ctx context.Context, c *module.Call) error {
	chName, subName, _, err := subChannelArgs(c, "")
	if err != nil {
		return err
	}
	ch, err := channelNamed(ctx, c, chName)
	if err != nil {
		return err
	}
	if err := requireLevel(ctx, c, ch.ID, levelAdmin); err != nil {
		return err
	}
	st := c.Store()
	if _, err := st.SubChannelByName(ctx, ch.ID, subName); err == nil {
		return module.Fail(msgSubExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	settings, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	limit := store.SubChannelLimit(int(settings.MaxSubChannels))
	sc, err := st.CreateSubChannel(ctx, ch.ID, subName, limit)
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return module.Fail(msgSubExists)
	case errors.Is(err, store.ErrLimit):
		return module.Fail("channel reached its maximum of %d sub-channels", limit)
	case err != nil:
		return notFound(err, msgNoChannel)
	}
	active := byte(0)
	if sc.ActiveUpdates {
		active = 1
	}
	data := wire.AppendNullTerm(subPayload(ch.ID, sc.ID, sc.LowestLevel, active), sc.Name)
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncNewSubCh, data)
	return nil
}

func runRmSubCh(ctx context.Context, c *module.Call) error {
	chName, subName, _, err := subChannelArgs(c, "")
	if err != nil {
		return err
	}
	ch, sc, err := adminTarget(ctx, c, chName, subName)
	if err != nil {
		return err
	}
	if err := c.Store().DeleteSubChannel(ctx, ch.ID, sc.ID); err != nil {
		return notFound(err, msgNoSubChannel)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRmSubCh, subPayload(ch.ID, sc.ID))
	return nil
}

func runRenameSubCh(ctx context.Context, c *module.Call) error {
	chName, subName, newName, err := subChannelArgs(c, "-new_name")
	if err != nil {
		return err
	}
	if !validate.ChannelName(newName) {
		return module.Fail(msgInvalidNewName)
	}
	ch, sc, err := adminTarget(ctx, c, chName, subName)
	if err != nil {
		return err
	}
	st := c.Store()
	if other, err := st.SubChannelByName(ctx, ch.ID, newName); err == nil && other.ID != sc.ID {
		return module.Fail(msgSubExists)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := renameQuota(ctx, c, c.Session().UserID); err != nil {
		return err
	}
	sc.Name = newName
	err = st.UpdateSubChannel(ctx, sc)
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return module.Fail(msgSubExists)
	case err != nil:
		return notFound(err, msgNoSubChannel)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncRenameSubCh, wire.AppendNullTerm(subPayload(ch.ID, sc.ID), newName))
	return nil
}

// channelArg reads and checks the -ch_name of the listing commands and
// loads the channel.
func channelArg(ctx context.Context, c *module.Call) (store.Channel, error) {
	name := c.Param("-ch_name")
	switch {
	case name == "":
		return store.Channel{}, module.Fail("-ch_name missing")
	case !validate.ChannelName(name):
		return store.Channel{}, module.Fail(msgInvalidChName)
	}
	return channelNamed(ctx, c, name)
}

// channelListing lists a per-channel view: members (level ≤ 4) see every
// row of the channel, others only the rows whose levelColumn is 5.
func channelListing(ctx context.Context, c *module.Call, v store.View, levelColumn string) error {
	ch, err := channelArg(ctx, c)
	if err != nil {
		return err
	}
	lvl, err := callerLevel(ctx, c, ch.ID)
	if err != nil {
		return err
	}
	filters := []store.Filter{{Column: "channel_id", Value: strconv.FormatUint(ch.ID, 10), Exact: true}}
	if lvl > levelRegular {
		filters = append(filters, store.Filter{Column: levelColumn, Value: "5", Exact: true})
	}
	return showPages(ctx, c, v, filters, nil)
}

func runLsSubChs(ctx context.Context, c *module.Call) error {
	return channelListing(ctx, c, store.ViewSubChannels, "lowest_access_level")
}

func runLsRdonlyFlags(ctx context.Context, c *module.Call) error {
	return channelListing(ctx, c, store.ViewReadOnly, "access_level")
}

func runSetSubChLevel(ctx context.Context, c *module.Call) error {
	chName, subName, levelText, err := subChannelArgs(c, "-level")
	if err != nil {
		return err
	}
	level, ok := parseLevel(levelText, levelPublic)
	if !ok {
		return module.Fail(msgLevel15)
	}
	ch, sc, err := adminTarget(ctx, c, chName, subName)
	if err != nil {
		return err
	}
	sc.LowestLevel = level
	if err := c.Store().UpdateSubChannel(ctx, sc); err != nil {
		return notFound(err, msgNoSubChannel)
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncSubChLevelChg, subPayload(ch.ID, sc.ID, level))
	return nil
}

func runSetActiveFlag(ctx context.Context, c *module.Call) error {
	chName, subName, state, err := subChannelArgs(c, "-state")
	if err != nil {
		return err
	}
	on, ok := parseBool(state)
	if !ok {
		return module.Fail(msgState01)
	}
	ch, sc, err := adminTarget(ctx, c, chName, subName)
	if err != nil {
		return err
	}
	sc.ActiveUpdates = on
	if err := c.Store().UpdateSubChannel(ctx, sc); err != nil {
		return notFound(err, msgNoSubChannel)
	}
	settings, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	if settings.ActiveUpdates {
		c.Text("The flag was saved, but it has no effect while the host's global active_updates setting is on " +
			"(every sub-channel is then active).\n")
		return nil
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncChActFlag, subPayload(ch.ID, sc.ID))
	return nil
}

// runRdonlyFlag builds add_rdonly_flag (add) and rm_rdonly_flag.
func runRdonlyFlag(add bool) func(context.Context, *module.Call) error {
	return func(ctx context.Context, c *module.Call) error {
		chName, subText, levelText := c.Param("-ch_name"), c.Param("-sub_id"), c.Param("-level")
		switch {
		case chName == "":
			return module.Fail("-ch_name missing")
		case subText == "":
			return module.Fail("-sub_id missing")
		case levelText == "":
			return module.Fail("-level missing")
		case !validate.ChannelName(chName):
			return module.Fail(msgInvalidChName)
		}
		sub, ok := parseSubID(subText)
		if !ok {
			return module.Fail("sub id must be 0-255")
		}
		level, ok := parseLevel(levelText, levelPublic)
		if !ok {
			return module.Fail(msgLevel15)
		}
		ch, err := channelNamed(ctx, c, chName)
		if err != nil {
			return err
		}
		if err := requireLevel(ctx, c, ch.ID, levelAdmin); err != nil {
			return err
		}
		f := store.ReadOnlyFlag{ChannelID: ch.ID, SubID: sub, Level: level}
		id := wire.AsyncAddRdonly
		if add {
			err = c.Store().AddReadOnlyFlag(ctx, f)
			switch {
			case errors.Is(err, store.ErrExists):
				return module.Fail("read-only flag for that sub id and level already exists")
			case err != nil:
				return notFound(err, msgNoChannel)
			}
		} else {
			id = wire.AsyncRmRdonly
			if err := c.Store().RemoveReadOnlyFlag(ctx, f); err != nil {
				return notFound(err, "no such read-only flag")
			}
		}
		c.Emit(wire.TypePubIPCFeedback, id, subPayload(ch.ID, sub, level))
		return nil
	}
}

// openCloseTarget runs the checks shared by open_sub_ch and close_sub_ch.
func openCloseTarget(ctx context.Context, c *module.Call) (store.Channel, store.SubChannel, error) {
	chName, subName, _, err := subChannelArgs(c, "")
	if err != nil {
		return store.Channel{}, store.SubChannel{}, err
	}
	ch, err := channelNamed(ctx, c, chName)
	if err != nil {
		return ch, store.SubChannel{}, err
	}
	sc, err := subChannelNamed(ctx, c, ch.ID, subName)
	return ch, sc, err
}

func runOpenSubCh(ctx context.Context, c *module.Call) error {
	ch, sc, err := openCloseTarget(ctx, c)
	if err != nil {
		return err
	}
	if err := requireLevel(ctx, c, ch.ID, sc.LowestLevel); err != nil {
		return err
	}
	e := wire.SubChannel{Channel: ch.ID, Sub: sc.ID}
	s := c.Session()
	switch {
	case s.Open.Contains(e):
		return module.Fail("the sub-channel is already open")
	case s.Open.Len() >= wire.MaxOpenSubChannels:
		return module.Fail("cannot open more than %d sub-channels at once; close one first", wire.MaxOpenSubChannels)
	}
	c.Emit(wire.TypePrivIPC, wire.AsyncOpenSubCh, subPayload(ch.ID, sc.ID))
	return nil
}

func runCloseSubCh(ctx context.Context, c *module.Call) error {
	ch, sc, err := openCloseTarget(ctx, c)
	if err != nil {
		return err
	}
	c.Emit(wire.TypePrivIPC, wire.AsyncCloseSubCh, subPayload(ch.ID, sc.ID))
	return nil
}

// openTableMinWidth is the narrowest column of ls_open_chs (before the
// 4-space gap).
const openTableMinWidth = 14

func runLsOpenChs(ctx context.Context, c *module.Call) error {
	s := c.Session()
	st := c.Store()
	var rows [][]string
	for _, e := range s.Open.Entries() {
		chName, subName := "", ""
		if ch, err := st.ChannelByID(ctx, e.Channel); err == nil {
			chName = ch.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if sc, err := st.SubChannelByID(ctx, e.Channel, e.Sub); err == nil {
			subName = sc.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		readOnly := "0"
		if !s.Writable.Contains(e) {
			readOnly = "1"
		}
		rows = append(rows, []string{chName, subName, strconv.FormatUint(e.Channel, 10),
			strconv.FormatUint(uint64(e.Sub), 10), readOnly})
	}
	c.Text("\n" + fixedTable([]string{"channel_name", "sub_channel_name", "channel_id", "sub_channel_id", "read_only"},
		rows, openTableMinWidth))
	return nil
}

// fixedTable lays out a header, a separator row of "-------" and the rows,
// each column padded to (the larger of minWidth and its longest cell, header
// included) + 4 (ls_open_chs, ls_p2p).
func fixedTable(cols []string, rows [][]string, minWidth int) string {
	widths := make([]int, len(cols))
	for i, h := range cols {
		widths[i] = max(minWidth, wire.TextLen(h))
		for _, r := range rows {
			widths[i] = max(widths[i], wire.TextLen(r[i]))
		}
		widths[i] += 4
	}
	sep := make([]string, len(cols))
	for i := range sep {
		sep[i] = "-------"
	}
	var b strings.Builder
	for _, l := range append([][]string{cols, sep}, rows...) {
		for i, cell := range l {
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", widths[i]-wire.TextLen(cell)))
		}
		b.WriteString("\n")
	}
	return b.String()
}
