package importer

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// planner builds the import batch and the report.
type planner struct {
	src *source
	st  store.Store
	o   Options
	rep *Report
	b   store.OriginalImport

	target      store.Settings
	srcRootID   wire.UserID // zero when the source has no root
	sourceKey   string      // identity of the source for log marks
	applyConfig bool        // the original's settings replace ours

	// srcUserIDs holds every user id of the source; users the ids that
	// exist in the target after the import (imported or present).
	srcUserIDs map[wire.UserID]bool
	users      map[wire.UserID]bool
	// channels that exist after the import; srcChannels every source id.
	channels    map[uint64]bool
	srcChannels map[uint64]bool
	subs        map[[2]uint64]bool
}

func (p *planner) plan(ctx context.Context) error {
	var err error
	if p.target, err = p.st.Settings(ctx); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		p.planUsers, p.planChannels, p.planSubChannels, p.planMembers, p.planReadOnlyFlags,
		p.planCommandRanks, p.planBans, p.planCerts, p.planModules, p.planSettings, p.planLogs,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ---- users ----

func (p *planner) planUsers(ctx context.Context) error {
	src, err := p.src.users(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.UserList(ctx)
	if err != nil {
		return err
	}
	p.srcUserIDs = map[wire.UserID]bool{}
	for _, u := range src {
		if id, ok := toUserID(u.id); ok {
			p.srcUserIDs[id] = true
		}
		if strings.EqualFold(u.name.String, "root") && p.srcRootID.IsZero() {
			p.srcRootID, _ = toUserID(u.id)
		}
	}
	p.sourceKey = "no-root"
	if !p.srcRootID.IsZero() {
		p.sourceKey = p.srcRootID.String()
	}

	// Which accounts of the target are not from this source?
	fresh, err := p.freshRoot(ctx, existing)
	if err != nil {
		return err
	}
	var foreign []string
	for _, u := range existing {
		if !p.srcUserIDs[u.ID] && !(fresh && u.ID == p.target.RootUserID) {
			foreign = append(foreign, u.Name)
		}
	}
	if len(foreign) > 0 && !p.o.Merge {
		shown := foreign
		if len(shown) > 5 {
			shown = append(shown[:5:5], "...")
		}
		return fmt.Errorf("%w: the target already has %d account(s) that do not come from this database (%s); "+
			"use --merge to add the original's accounts to them (conflicts are reported, never overwritten)",
			ErrRefused, len(foreign), strings.Join(shown, ", "))
	}

	// The original's root becomes ours: it replaces a fresh root, is
	// already ours after an earlier import, or (merge into a host with an
	// established root of its own) is not imported.
	rootState := "none"
	switch {
	case p.srcRootID.IsZero():
		p.rep.Notes = append(p.rep.Notes, "the original has no account named root; our root account is unchanged")
	case p.target.RootUserID == p.srcRootID:
		rootState = "present"
	case p.target.RootUserID.IsZero():
		rootState = "import"
	case fresh:
		rootState = "import"
		p.b.ReplaceUser = p.target.RootUserID
	default:
		rootState = "keep ours"
	}
	p.applyConfig = rootState == "import"

	// Names and e-mail addresses in use in the target, except the fresh
	// root being replaced.
	taken := map[string]string{}
	takenEmail := map[string]string{}
	present := map[wire.UserID]bool{}
	for _, u := range existing {
		if u.ID == p.b.ReplaceUser && !p.b.ReplaceUser.IsZero() {
			continue
		}
		present[u.ID] = true
		taken[foldKey(u.Name)] = u.Name
		if u.Email != "" {
			takenEmail[foldKey(u.Email)] = u.Name
		}
	}
	p.users = map[wire.UserID]bool{}
	t := p.rep.table("users")
	names := map[string]string{}  // fold key → source name already accepted
	emails := map[string]string{} // fold key → user
	for _, su := range src {
		label := userLabel(su.name.String, su.id)
		id, ok := toUserID(su.id)
		switch {
		case !ok:
			t.skip(label, "user id has %d bytes, want 32", len(su.id))
			continue
		case present[id]:
			p.users[id] = true
			names[foldKey(su.name.String)] = su.name.String
			t.present()
			continue
		case id == p.srcRootID && rootState == "keep ours":
			t.skip(label, "this host already has its own root account; the original's root is not imported (--merge)")
			continue
		case !su.name.Valid || !validate.UserName(su.name.String):
			t.skip(label, "user name rejected by mrci's name rules (2-24 characters, no spaces or control characters)")
			continue
		case len(su.hash) != 64 || len(su.salt) == 0:
			t.skip(label, "password hash missing or malformed (want a 64-byte hash and a salt)")
			continue
		}
		name := su.name.String
		key := foldKey(name)
		if prev, ok := names[key]; ok {
			t.skip(label, "name differs only in case from %q (imported earlier); rename one in the original and import again", prev)
			continue
		}
		if prev, ok := taken[key]; ok {
			t.skip(label, "name conflicts with the existing account %q (not overwritten)", prev)
			continue
		}
		u := store.User{
			ID: id, Name: name, PasswordHash: password.EncodeLegacy(su.hash, su.salt),
			Locked: su.locked, NewPasswordReq: su.newPw, NewNameReq: su.newName, Created: su.created,
		}
		if su.email.Valid && su.email.String != "" {
			email := su.email.String
			ekey := foldKey(email)
			switch {
			case !validate.Email(email):
				t.warn(label, "e-mail %q does not validate; imported without an e-mail address", email)
			case emails[ekey] != "":
				t.warn(label, "e-mail %q differs only in case from that of %q; imported without an e-mail address", email, emails[ekey])
			case takenEmail[ekey] != "":
				t.skip(label, "e-mail %q conflicts with the existing account %q (not overwritten)", email, takenEmail[ekey])
				continue
			default:
				u.Email = email
				u.EmailVerified = su.verified
				emails[ekey] = name
			}
		}
		if d := su.display.String; d != "" {
			if validate.DisplayName(d) {
				u.DisplayName = d
			} else {
				t.warn(label, "display name %q does not validate; imported without one", d)
			}
		}
		switch {
		case id == p.srcRootID:
			if su.rank.Int64 != 1 {
				t.warn(label, "root had rank %d; imported with rank 1", su.rank.Int64)
			}
			u.Rank = 1
		case !su.rank.Valid || su.rank.Int64 < 1 || su.rank.Int64 > 0xFFFFFFFF:
			u.Rank = store.DefaultInitialHostRank
			t.warn(label, "rank %v is invalid; imported with rank %d", rankText(su.rank.Valid, su.rank.Int64), u.Rank)
		default:
			u.Rank = uint32(su.rank.Int64)
		}
		names[key] = name
		p.users[id] = true
		p.b.Users = append(p.b.Users, u)
		t.imported()
	}
	switch {
	case rootState != "import":
	case !p.users[p.srcRootID]:
		// Without the original's root there is no root to hand over: keep
		// ours (and our settings, which point at it).
		p.b.ReplaceUser = wire.UserID{}
		p.applyConfig = false
		p.rep.Notes = append(p.rep.Notes, "the original's root was not imported (see the skipped users); our root and settings are unchanged")
	case !p.b.ReplaceUser.IsZero():
		p.rep.Notes = append(p.rep.Notes, "the original's root replaces the fresh root account this host created at first start")
	}
	return nil
}

func rankText(valid bool, v int64) string {
	if !valid {
		return "NULL"
	}
	return strconv.FormatInt(v, 10)
}

// freshRoot reports whether the target's only own account is the root this
// host created at first start and never used for anything: root belongs to
// no channel and every channel comes from this database (an earlier,
// partial import).
func (p *planner) freshRoot(ctx context.Context, existing []store.User) (bool, error) {
	if p.target.RootUserID.IsZero() || p.srcUserIDs[p.target.RootUserID] {
		return false, nil
	}
	for _, u := range existing {
		if u.ID != p.target.RootUserID && !p.srcUserIDs[u.ID] {
			return false, nil
		}
	}
	// Channels an earlier import of this database brought do not count.
	srcChannels, err := p.src.channels(ctx)
	if err != nil {
		return false, err
	}
	fromSource := map[uint64]bool{}
	for _, c := range srcChannels {
		fromSource[uint64(c.id)] = true
	}
	have, err := p.targetChannels(ctx)
	if err != nil {
		return false, err
	}
	for id := range have {
		if !fromSource[id] {
			return false, nil
		}
	}
	ms, err := p.st.MembershipsOf(ctx, p.target.RootUserID)
	if err != nil {
		return false, err
	}
	return len(ms) == 0, nil
}

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
		if _, err := p.st.Member(ctx, ch, id); err == nil {
			t.present()
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
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

// ---- command ranks ----

func (p *planner) planCommandRanks(ctx context.Context) error {
	src, err := p.src.commandRanks(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.CommandRanks(ctx)
	if err != nil {
		return err
	}
	have := map[[2]string]uint32{}
	for _, r := range existing {
		have[[2]string{r.Module, store.CommandKey(r.Command)}] = r.Rank
	}
	t := p.rep.table("command_ranks")
	seen := map[[2]string]bool{}
	for _, r := range src {
		label := fmt.Sprintf("%q of %q", r.command.String, r.module.String)
		if !r.command.Valid || !validate.CommandName(r.command.String) {
			t.skip(label, "command name rejected by mrci's rules (1-64 characters, no spaces or control characters)")
			continue
		}
		if !r.module.Valid || r.module.String == "" {
			t.skip(label, "no module")
			continue
		}
		if !r.rank.Valid || r.rank.Int64 < 1 || r.rank.Int64 > 0xFFFFFFFF {
			t.skip(label, "rank %s is invalid", rankText(r.rank.Valid, r.rank.Int64))
			continue
		}
		module := r.module.String
		if module != store.InternalModule && filepath.Base(module) == "mrci" {
			// The original names its own commands by its executable's path.
			t.warn(label, "module %q is the original host itself; ranked as mrci's internal commands (%s)", module, store.InternalModule)
			module = store.InternalModule
		}
		key := [2]string{module, store.CommandKey(r.command.String)}
		if seen[key] {
			t.skip(label, "duplicate rank for the same command and module")
			continue
		}
		seen[key] = true
		if rank, ok := have[key]; ok {
			if rank == uint32(r.rank.Int64) {
				t.present()
			} else {
				t.skip(label, "ranked %d here, %d in the original (ours kept)", rank, r.rank.Int64)
			}
			continue
		}
		p.b.CommandRanks = append(p.b.CommandRanks, store.CommandRank{Module: module, Command: key[1], Rank: uint32(r.rank.Int64)})
		t.imported()
	}
	return nil
}

// ---- bans ----

func (p *planner) planBans(ctx context.Context) error {
	src, err := p.src.bans(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.Bans(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, ip := range existing {
		have[strings.ToLower(ip)] = true
	}
	t := p.rep.table("ban_list")
	for _, b := range src {
		label := fmt.Sprintf("%q", b.ip.String)
		addr, err := netip.ParseAddr(strings.TrimSpace(b.ip.String))
		if err != nil {
			t.skip(label, "not an IP address")
			continue
		}
		ip := addr.String()
		if have[strings.ToLower(ip)] {
			t.present()
			continue
		}
		have[strings.ToLower(ip)] = true
		p.b.Bans = append(p.b.Bans, store.ImportedBan{IP: ip, Time: b.time})
		t.imported()
	}
	return nil
}

// ---- certificates ----

func (p *planner) planCerts(ctx context.Context) error {
	src, err := p.src.certs(ctx)
	if err != nil {
		return err
	}
	t := p.rep.table("ssl_certs")
	seen := map[string]bool{}
	for _, c := range src {
		label := fmt.Sprintf("%q", c.cn.String)
		if !c.cn.Valid || !validate.CommonName(c.cn.String) {
			t.skip(label, "common name rejected by mrci's rules (1-136 characters, no spaces or control characters)")
			continue
		}
		certPEM, keyPEM, err := certPair(c.cert, c.key)
		if err != nil {
			t.skip(label, "invalid certificate: %v", err)
			continue
		}
		pair, err := tlscert.Parse(certPEM, keyPEM)
		if err != nil {
			t.skip(label, "invalid certificate: %v", err)
			continue
		}
		if !pair.Valid(time.Now()) {
			t.skip(label, "certificate is expired or not yet valid")
			continue
		}
		key := foldKey(c.cn.String)
		if seen[key] {
			t.skip(label, "duplicate common name")
			continue
		}
		seen[key] = true
		if have, err := p.st.Cert(ctx, c.cn.String); err == nil {
			if bytes.Equal(have.CertPEM, certPEM) && bytes.Equal(have.KeyPEM, keyPEM) {
				t.present()
			} else {
				t.skip(label, "another certificate is installed here for this name (not overwritten)")
			}
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		p.b.Certs = append(p.b.Certs, store.Cert{CommonName: c.cn.String, CertPEM: certPEM, KeyPEM: keyPEM})
		t.imported()
	}
	return nil
}

// certPair returns PEM forms of a certificate and key the original stored
// as PEM or DER (host.md §9).
func certPair(cert, key []byte) ([]byte, []byte, error) {
	if len(cert) == 0 || len(key) == 0 {
		return nil, nil, errors.New("empty certificate or key")
	}
	certPEM, keyPEM := cert, key
	if !bytes.Contains(cert, []byte("-----BEGIN")) {
		if _, err := x509.ParseCertificate(cert); err != nil {
			return nil, nil, fmt.Errorf("certificate: %w", err)
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
	}
	if !bytes.Contains(key, []byte("-----BEGIN")) {
		k, err := parseDERKey(key)
		if err != nil {
			return nil, nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("private key: %w", err)
		}
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return certPEM, keyPEM, nil
}

func parseDERKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("private key: not a PKCS#8, PKCS#1 or EC key")
}

// ---- modules ----

func (p *planner) planModules(ctx context.Context) error {
	src, err := p.src.modules(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.Modules(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, m := range existing {
		have[m] = true
	}
	t := p.rep.table("modules")
	for _, m := range src {
		label := fmt.Sprintf("%q", m.String)
		if !m.Valid || m.String == "" || len(m.String) > 4096 {
			t.skip(label, "empty or overlong path")
			continue
		}
		if have[m.String] {
			t.present()
			continue
		}
		have[m.String] = true
		if !p.o.FileExists(m.String) {
			t.warn(label, "file not found on this machine; imported, install the module there (or rm_mod it)")
		}
		p.b.Modules = append(p.b.Modules, m.String)
		t.imported()
	}
	return nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// ---- settings ----

func (p *planner) planSettings(ctx context.Context) error {
	src, err := p.src.settings(ctx)
	if err != nil {
		return err
	}
	if !src.found {
		p.rep.Notes = append(p.rep.Notes, "the original has no host_settings row; settings unchanged")
		if p.applyConfig {
			s := p.target
			s.RootUserID = p.srcRootID
			s.DefaultPassword = ""
			p.b.Settings = &s
		}
		return nil
	}
	cur := p.target
	next := cur
	action := "kept ours (the original's settings are applied only by the first import into a new host)"
	if p.applyConfig {
		action = "applied"
	}
	diff := func(name string, orig, ours string, set func()) {
		if orig == ours {
			return
		}
		p.rep.Settings = append(p.rep.Settings, SettingDiff{Setting: name, Original: orig, Current: ours, Action: action})
		if p.applyConfig {
			set()
		}
	}
	invalid := func(name, orig, ours, why string) {
		p.rep.Settings = append(p.rep.Settings, SettingDiff{Setting: name, Original: orig, Current: ours,
			Action: "kept ours (" + why + ")"})
	}
	// Text settings.
	texts := []struct {
		name string
		v    sql.NullString
		get  func(*store.Settings) *string
	}{
		{"mailer_executable", src.mailExe, func(s *store.Settings) *string { return &s.MailerExecutable }},
		{"mailer_send_command", src.mailCmd, func(s *store.Settings) *string { return &s.MailerSendCommand }},
		{"verify_email_subject", src.vSubj, func(s *store.Settings) *string { return &s.VerifyEmailSubject }},
		{"temp_pw_email_subject", src.tSubj, func(s *store.Settings) *string { return &s.TempPwEmailSubject }},
		{"verify_email_template", src.vTpl, func(s *store.Settings) *string { return &s.VerifyEmailTemplate }},
		{"temp_pw_email_template", src.tTpl, func(s *store.Settings) *string { return &s.TempPwEmailTemplate }},
	}
	if src.addr.Valid {
		if a, err := netip.ParseAddr(src.addr.String); err != nil {
			invalid("ip_address", strconv.Quote(src.addr.String), strconv.Quote(cur.ListenAddress), "not an IP address")
		} else {
			diff("ip_address", a.String(), cur.ListenAddress, func() { next.ListenAddress = a.String() })
		}
	}
	if src.port.Valid {
		if src.port.Int64 < 1 || src.port.Int64 > 65535 {
			invalid("port", strconv.FormatInt(src.port.Int64, 10), strconv.Itoa(int(cur.ListenPort)), "not a TCP port")
		} else {
			diff("port", strconv.FormatInt(src.port.Int64, 10), strconv.Itoa(int(cur.ListenPort)), func() { next.ListenPort = uint16(src.port.Int64) })
		}
	}
	u32 := func(name string, v sql.NullInt64, lo, hi int64, ours uint32, set func(uint32)) {
		if !v.Valid {
			return
		}
		if v.Int64 < lo || v.Int64 > hi {
			invalid(name, strconv.FormatInt(v.Int64, 10), strconv.FormatUint(uint64(ours), 10), fmt.Sprintf("not in %d-%d", lo, hi))
			return
		}
		diff(name, strconv.FormatInt(v.Int64, 10), strconv.FormatUint(uint64(ours), 10), func() { set(uint32(v.Int64)) })
	}
	u32("auto_ban_threshold", src.ban, 1, 0xFFFFFFFF, cur.AutoBanThreshold, func(v uint32) { next.AutoBanThreshold = v })
	u32("auto_lock_threshold", src.lock, 1, 0xFFFFFFFF, cur.AutoLockThreshold, func(v uint32) { next.AutoLockThreshold = v })
	u32("max_sessions", src.maxSes, 1, 0xFFFFFFFF, cur.MaxSessions, func(v uint32) { next.MaxSessions = v })
	u32("initial_host_rank", src.rank, 1, 0xFFFFFFFF, cur.InitialHostRank, func(v uint32) { next.InitialHostRank = v })
	u32("max_sub_channels", src.maxSub, 1, store.MaxSubChannelIDs, cur.MaxSubChannels, func(v uint32) { next.MaxSubChannels = v })
	boolean := func(name string, v sql.NullBool, ours bool, set func(bool)) {
		if v.Valid {
			diff(name, strconv.FormatBool(v.Bool), strconv.FormatBool(ours), func() { set(v.Bool) })
		}
	}
	boolean("allow_public_registrations", src.pubReg, cur.AllowPublicRegistrations, func(v bool) { next.AllowPublicRegistrations = v })
	boolean("eable_email_verify", src.emailVerify, cur.EnableEmailVerify, func(v bool) { next.EnableEmailVerify = v })
	boolean("enable_pw_reset", src.pwReset, cur.EnablePwReset, func(v bool) { next.EnablePwReset = v })
	boolean("active_updates", src.active, cur.ActiveUpdates, func(v bool) { next.ActiveUpdates = v })
	for _, tx := range texts {
		if tx.v.Valid {
			val := tx.v.String
			diff(tx.name, strconv.Quote(val), strconv.Quote(*tx.get(&cur)), func() { *tx.get(&next) = val })
		}
	}
	for _, u := range []struct {
		name string
		v    sql.NullString
	}{{"archiver_executable", src.archiver}, {"compress_command", src.compress}, {"extract_command", src.extract}} {
		if u.v.Valid && u.v.String != "" {
			p.rep.Settings = append(p.rep.Settings, SettingDiff{Setting: u.name, Original: strconv.Quote(u.v.String),
				Current: "(none)", Action: "not carried over (unused by the original and by mrci)"})
		}
	}
	// default_password: the original keeps root's generated password in
	// clear text forever; mrci keeps it only while root still uses it.
	next.DefaultPassword = cur.DefaultPassword
	if p.applyConfig {
		next.DefaultPassword = ""
		if src.defPw.Valid && src.defPw.String != "" {
			if p.rootStillUses(ctx, src.defPw.String) {
				next.DefaultPassword = src.defPw.String
				p.rep.Notes = append(p.rep.Notes, "root still has the original's generated password; `mrci about` shows it until root changes it")
			} else {
				p.rep.Settings = append(p.rep.Settings, SettingDiff{Setting: "default_password", Original: "(hidden)",
					Current: "(none)", Action: "not carried over (root no longer uses it; mrci keeps no clear-text password)"})
			}
		}
		next.RootUserID = p.srcRootID
	}
	if p.applyConfig && next != cur {
		p.b.Settings = &next
	}
	return nil
}

// rootStillUses reports whether the original's root (about to be imported)
// still has the generated default password.
func (p *planner) rootStillUses(_ context.Context, pw string) bool {
	for _, u := range p.b.Users {
		if u.ID == p.srcRootID {
			ok, err := password.Verify(pw, u.PasswordHash)
			return err == nil && ok
		}
	}
	return false
}

// ---- logs ----

// logNames are the log tables in report order.
var logNames = []string{"auth_log", "ip_history", "host_debug_messages"}

func (p *planner) planLogs(ctx context.Context) error {
	if p.src.hasRecovery {
		n, err := p.src.count(ctx, "pw_recovery", 0)
		if err != nil {
			return err
		}
		if n > 0 {
			t := p.rep.table("pw_recovery")
			for range n {
				t.skip("(temporary password)", "pending password resets are not carried over; request a new one")
			}
		}
	}
	if !p.o.WithLogs {
		for _, name := range logNames {
			cols, err := p.src.columns(ctx, name)
			if err != nil {
				return err
			}
			if cols == nil {
				continue
			}
			n, err := p.src.count(ctx, name, 0)
			if err != nil {
				return err
			}
			t := p.rep.table(name)
			t.Read, t.Skipped = n, n
			if n > 0 {
				t.Skips = append(t.Skips, Issue{Row: fmt.Sprintf("(%d rows)", n), Reason: "logs are imported only with --with-logs"})
			}
		}
		return nil
	}
	marks, err := p.st.ImportMarks(ctx, p.sourceKey)
	if err != nil {
		return err
	}
	for _, name := range logNames {
		t := p.rep.table(name)
		last := marks[name]
		if last > 0 {
			total, err := p.src.count(ctx, name, 0)
			if err != nil {
				return err
			}
			newer, err := p.src.count(ctx, name, last)
			if err != nil {
				return err
			}
			t.Read += total - newer
			t.Present += total - newer
		}
		upTo := last
		switch name {
		case "auth_log":
			rows, err := p.src.authLog(ctx, last)
			if err != nil {
				return err
			}
			for _, a := range rows {
				upTo = a.rowid
				id, ok := toUserID(a.user)
				if !ok {
					t.skip(fmt.Sprintf("(row %d)", a.rowid), "user id has %d bytes, want 32", len(a.user))
					continue
				}
				p.b.AuthLog = append(p.b.AuthLog, store.ImportedAuthAttempt{Time: a.time, AuthAttempt: store.AuthAttempt{
					IP: a.ip.String, UserID: id, AuthAttempt: a.auth, RecoverAttempt: a.recover,
					CountToThreshold: a.countToThreshold, Accepted: a.accepted}})
				t.imported()
			}
		case "ip_history":
			rows, err := p.src.activity(ctx, last)
			if err != nil {
				return err
			}
			for _, a := range rows {
				upTo = a.rowid
				var sid wire.SessionID
				if len(a.session) != len(sid) {
					t.skip(fmt.Sprintf("(row %d)", a.rowid), "session id has %d bytes, want %d", len(a.session), len(sid))
					continue
				}
				copy(sid[:], a.session)
				p.b.Activity = append(p.b.Activity, store.ImportedActivity{Time: a.time, Activity: store.Activity{
					IP: a.ip.String, SessionID: sid, ClientApp: a.app.String, Entry: a.entry.String}})
				t.imported()
			}
		case "host_debug_messages":
			rows, err := p.src.debug(ctx, last)
			if err != nil {
				return err
			}
			for _, d := range rows {
				upTo = d.rowid
				p.b.Debug = append(p.b.Debug, store.ImportedDebug{Entry: d.entry.String, Time: d.time})
				t.imported()
			}
		}
		if upTo > last {
			p.b.Marks = append(p.b.Marks, store.ImportMark{Source: p.sourceKey, Log: name, LastRowID: upTo})
		}
	}
	return nil
}
