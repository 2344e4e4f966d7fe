package importer

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

// rootPlan is what happens to the original's root account.
type rootPlan int

const (
	rootNone     rootPlan = iota // the original has no root
	rootPresent                  // an earlier import made it ours
	rootImport                   // it becomes our root (replacing a fresh one)
	rootKeepOurs                 // merge into a host with its own root: not imported
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
	// channels that exist after the import, presentChannels those that
	// existed before, srcChannels every source id.
	channels        map[uint64]bool
	presentChannels map[uint64]bool
	srcChannels     map[uint64]bool
	subs            map[[2]uint64]bool
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
	rootState := rootNone
	switch {
	case p.srcRootID.IsZero():
		p.rep.Notes = append(p.rep.Notes, "the original has no account named root; our root account is unchanged")
	case p.target.RootUserID == p.srcRootID:
		rootState = rootPresent
	case p.target.RootUserID.IsZero():
		rootState = rootImport
	case fresh:
		rootState = rootImport
		p.b.ReplaceUser = p.target.RootUserID
	default:
		rootState = rootKeepOurs
	}
	p.applyConfig = rootState == rootImport

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
		for _, k := range userNameKeys(u.Name) {
			taken[k] = u.Name
		}
		if u.Email != "" {
			takenEmail[foldKey(u.Email)] = u.Name
		}
	}
	p.users = map[wire.UserID]bool{}
	t := p.rep.table("users")
	names := map[string]string{}  // userNameKeys → source name already accepted
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
			for _, k := range userNameKeys(su.name.String) {
				names[k] = su.name.String
			}
			t.present()
			continue
		case id == p.srcRootID && rootState == rootKeepOurs:
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
		keys := userNameKeys(name)
		if prev, ok := lookup(names, keys); ok {
			t.skip(label, "name differs only in case or look-alike characters from %q (imported earlier); rename one in the original and import again", prev)
			continue
		}
		if prev, ok := lookup(taken, keys); ok {
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
		for _, k := range keys {
			names[k] = name
		}
		p.users[id] = true
		p.b.Users = append(p.b.Users, u)
		t.imported()
	}
	switch {
	case rootState != rootImport:
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

// userNameKeys returns the keys under which two user names collide: the
// same up to case (the store's unique name), or look-alike (the store's
// unique validate.NameKey).
func userNameKeys(name string) []string {
	return []string{"case:" + foldKey(name), "look:" + validate.NameKey(name)}
}

// lookup returns the value of the first of keys present in m.
func lookup(m map[string]string, keys []string) (string, bool) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	return "", false
}
