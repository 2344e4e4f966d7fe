package importer

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// ---- channels ----

// targetChannels returns every channel of the target by id.
func (p *planner) targetChannels(ctx context.Context) (map[uint64]string, error) {
	out := map[uint64]string{}
	after := int64(0)
	for {
		rows, err := p.st.ListView(ctx, store.ViewChannels, nil, store.Page{After: after, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			id, err := strconv.ParseUint(r.Cells[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("target channel id %q: %w", r.Cells[0], err)
			}
			out[id] = r.Cells[1]
			after = r.Key
		}
		if len(rows) < 500 {
			return out, nil
		}
	}
}

func (p *planner) planChannels(ctx context.Context) error {
	src, err := p.src.channels(ctx)
	if err != nil {
		return err
	}
	have, err := p.targetChannels(ctx)
	if err != nil {
		return err
	}
	// Names in use (case-folded): the target's and those imported so far.
	names := map[string]string{}
	for _, name := range have {
		names[foldKey(name)] = name
	}
	p.channels = map[uint64]bool{}
	p.presentChannels = map[uint64]bool{}
	p.srcChannels = map[uint64]bool{}
	t := p.rep.table("channels")
	for _, c := range src {
		if c.id > 0 {
			p.srcChannels[uint64(c.id)] = true
		}
		label := fmt.Sprintf("%q (id %d)", c.name.String, c.id)
		if c.id <= 0 {
			t.skip(label, "channel id %d is invalid (ids start at 1)", c.id)
			continue
		}
		id := uint64(c.id)
		if name, ok := have[id]; ok {
			if foldKey(name) == foldKey(c.name.String) {
				p.channels[id] = true
				p.presentChannels[id] = true
				t.present()
			} else {
				t.skip(label, "channel id %d is used here by %q (not overwritten)", id, name)
			}
			continue
		}
		if !c.name.Valid || !validate.ChannelName(c.name.String) {
			t.skip(label, "channel name rejected by mrci's rules (4-32 characters, no spaces or control characters)")
			continue
		}
		if prev, ok := names[foldKey(c.name.String)]; ok {
			t.skip(label, "name differs at most in case from channel %q (not overwritten)", prev)
			continue
		}
		names[foldKey(c.name.String)] = c.name.String
		p.channels[id] = true
		p.b.Channels = append(p.b.Channels, store.Channel{ID: id, Name: c.name.String})
		t.imported()
	}
	return nil
}

// channelMissing explains why a channel id referenced by another row is not
// available, or returns "".
func (p *planner) channelMissing(valid bool, id int64) string {
	switch {
	case !valid || id <= 0:
		return "orphaned: no channel id"
	case p.channels[uint64(id)]:
		return ""
	case p.srcChannels[uint64(id)]:
		return fmt.Sprintf("channel %d was not imported", id)
	}
	return fmt.Sprintf("orphaned: channel %d does not exist in the original", id)
}

// ---- sub-channels ----

func (p *planner) planSubChannels(ctx context.Context) error {
	src, err := p.src.subChannels(ctx)
	if err != nil {
		return err
	}
	p.subs = map[[2]uint64]bool{}
	t := p.rep.table("sub_channels")
	// Per channel: ids in use and names in use (case-folded), the
	// target's and those imported so far.
	type chState struct {
		ids   map[uint8]string
		names map[string]string
	}
	state := map[uint64]*chState{}
	seen := map[[2]uint64]bool{} // source rows by (channel, id)
	load := func(ch uint64) (*chState, error) {
		if cs := state[ch]; cs != nil {
			return cs, nil
		}
		cs := &chState{ids: map[uint8]string{}, names: map[string]string{}}
		list, err := p.st.SubChannels(ctx, ch)
		if err != nil {
			return nil, err
		}
		for _, sc := range list {
			cs.ids[sc.ID] = sc.Name
			cs.names[foldKey(sc.Name)] = sc.Name
		}
		state[ch] = cs
		return cs, nil
	}
	for _, s := range src {
		label := fmt.Sprintf("%q (channel %d, id %d)", s.name.String, s.channel, s.id.Int64)
		if why := p.channelMissing(true, s.channel); why != "" {
			t.skip(label, "%s", why)
			continue
		}
		ch := uint64(s.channel)
		if !s.id.Valid || s.id.Int64 < 0 || s.id.Int64 > 255 {
			t.skip(label, "sub-channel id %s is beyond 255 (mrci addresses sub-channels with one byte)", rankText(s.id.Valid, s.id.Int64))
			continue
		}
		sid := uint8(s.id.Int64)
		cs, err := load(ch)
		if err != nil {
			return err
		}
		key := [2]uint64{ch, uint64(sid)}
		if seen[key] {
			t.skip(label, "duplicate sub-channel id %d in channel %d", sid, ch)
			continue
		}
		seen[key] = true
		if name, ok := cs.ids[sid]; ok {
			switch {
			case foldKey(name) == foldKey(s.name.String):
				p.subs[key] = true
				t.present()
			default:
				t.skip(label, "sub-channel id %d of channel %d is used by %q (not overwritten)", sid, ch, name)
			}
			continue
		}
		if !s.name.Valid || !validate.ChannelName(s.name.String) {
			t.skip(label, "sub-channel name rejected by mrci's rules (4-32 characters, no spaces or control characters)")
			continue
		}
		level := int64(4)
		if s.level.Valid {
			level = s.level.Int64
		}
		if level < 1 || level > 5 {
			t.skip(label, "lowest access level %d is not 1-5", level)
			continue
		}
		if prev, ok := cs.names[foldKey(s.name.String)]; ok {
			t.skip(label, "name differs at most in case from sub-channel %q of the same channel (not overwritten)", prev)
			continue
		}
		cs.ids[sid] = s.name.String
		cs.names[foldKey(s.name.String)] = s.name.String
		p.subs[key] = true
		p.b.SubChannels = append(p.b.SubChannels, store.SubChannel{
			ChannelID: ch, ID: sid, Name: s.name.String, LowestLevel: uint8(level), ActiveUpdates: s.active,
		})
		t.imported()
	}
	return nil
}

// ---- memberships ----

func (p *planner) planMembers(ctx context.Context) error {
	src, err := p.src.members(ctx)
	if err != nil {
		return err
	}
	t := p.rep.table("channel_members")
	// The target's members, loaded once per channel that existed before.
	cache := map[uint64]map[wire.UserID]bool{}
	targetMembers := func(ch uint64) (map[wire.UserID]bool, error) {
		if m, ok := cache[ch]; ok {
			return m, nil
		}
		m := map[wire.UserID]bool{}
		if p.presentChannels[ch] {
			list, err := p.st.Members(ctx, ch)
			if err != nil {
				return nil, err
			}
			for _, mem := range list {
				m[mem.UserID] = true
			}
		}
		cache[ch] = m
		return m, nil
	}
	seen := map[string]bool{}
	owners := map[uint64]bool{}
	for _, m := range src {
		label := fmt.Sprintf("(channel %d, user %x)", m.channel.Int64, m.user)
		if why := p.channelMissing(m.channel.Valid, m.channel.Int64); why != "" {
			t.skip(label, "%s", why)
			continue
		}
		ch := uint64(m.channel.Int64)
		id, ok := toUserID(m.user)
		switch {
		case !ok || !p.srcUserIDs[id]:
			t.skip(label, "orphaned: the user does not exist in the original")
			continue
		case !p.users[id]:
			t.skip(label, "the user was not imported")
			continue
		}
		level := m.level.Int64
		if !m.level.Valid || level < 1 || level > 4 {
			t.skip(label, "member level %s is not 1-4", rankText(m.level.Valid, level))
			continue
		}
		key := fmt.Sprintf("%d/%x", ch, id)
		if seen[key] {
			t.skip(label, "duplicate membership")
			continue
		}
		seen[key] = true
		if level == 1 && !m.pending {
			owners[ch] = true
		}
		have, err := targetMembers(ch)
		if err != nil {
			return err
		}
		if have[id] {
			t.present()
			continue
		}
		p.b.Members = append(p.b.Members, store.Member{ChannelID: ch, UserID: id, Pending: m.pending, Level: uint8(level)})
		t.imported()
	}
	// The original's add_ch never stored the owner row (host.md §6.8), so
	// its channels usually have no owner; say so.
	ct := p.rep.table("channels")
	for _, c := range p.b.Channels {
		if !owners[c.ID] {
			ct.warn(fmt.Sprintf("%q (id %d)", c.Name, c.ID), "has no owner (the original's add_ch never stored one); "+
				"root can give it one with ch_owner_override and set_member_level")
		}
	}
	return nil
}

// ---- read-only flags ----

func (p *planner) planReadOnlyFlags(ctx context.Context) error {
	src, err := p.src.readOnlyFlags(ctx)
	if err != nil || !p.src.hasReadOnlyFlags {
		return err
	}
	t := p.rep.table("read_only_flags")
	have := map[uint64]map[store.ReadOnlyFlag]bool{}
	seen := map[store.ReadOnlyFlag]bool{}
	for _, f := range src {
		label := fmt.Sprintf("(channel %d, sub-channel %d, level %d)", f.channel.Int64, f.sub.Int64, f.level.Int64)
		if why := p.channelMissing(f.channel.Valid, f.channel.Int64); why != "" {
			t.skip(label, "%s", why)
			continue
		}
		if !f.sub.Valid || f.sub.Int64 < 0 || f.sub.Int64 > 255 {
			t.skip(label, "sub-channel id is beyond 255")
			continue
		}
		if !f.level.Valid || f.level.Int64 < 1 || f.level.Int64 > 5 {
			t.skip(label, "level is not 1-5")
			continue
		}
		flag := store.ReadOnlyFlag{ChannelID: uint64(f.channel.Int64), SubID: uint8(f.sub.Int64), Level: uint8(f.level.Int64)}
		if seen[flag] {
			t.skip(label, "duplicate flag")
			continue
		}
		seen[flag] = true
		if have[flag.ChannelID] == nil {
			list, err := p.st.ReadOnlyFlags(ctx, flag.ChannelID)
			if err != nil {
				return err
			}
			have[flag.ChannelID] = map[store.ReadOnlyFlag]bool{}
			for _, f := range list {
				have[flag.ChannelID][f] = true
			}
		}
		if have[flag.ChannelID][flag] {
			t.present()
			continue
		}
		p.b.ReadOnlyFlags = append(p.b.ReadOnlyFlags, flag)
		t.imported()
	}
	return nil
}
