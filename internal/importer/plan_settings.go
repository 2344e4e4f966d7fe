package importer

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
)

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
	switch {
	case p.applyConfig && p.o.DryRun:
		action = "would be applied"
	case p.applyConfig:
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
