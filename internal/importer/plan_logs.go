package importer

import (
	"context"
	"fmt"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

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
