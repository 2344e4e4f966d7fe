package postgres

import (
	"strconv"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/internal/sqlview"
)

// dialect returns PostgreSQL's flavour of the view SQL: $n placeholders,
// ILIKE and lower(); the escape character is written as E'\\' so that it
// does not depend on standard_conforming_strings.
func dialect() sqlview.Dialect {
	return sqlview.Dialect{
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Like:        `ILIKE %s ESCAPE E'\\'`,
		Fold:        func(e string) string { return "lower((" + e + ")::text)" },
	}
}

// Display-text expressions; each yields text and never NULL.

func textExpr(col string) string { return "COALESCE(" + col + ", '')" }
func intExpr(col string) string  { return "COALESCE((" + col + ")::text, '')" }
func hexExpr(col string) string  { return "COALESCE(encode(" + col + ", 'hex'), '')" }
func boolExpr(col string) string { return "CASE WHEN " + col + " THEN '1' ELSE '0' END" }

// channelIDHidden is the hidden exact channel_id filter on alias a.
func channelIDHidden(a string) sqlview.Hidden {
	return sqlview.Hidden{Name: "channel_id", Expr: a + ".channel_id", Text: intExpr(a + ".channel_id"), Parse: sqlview.ParseID}
}

// viewDef describes the table viewers in PostgreSQL SQL.
func viewDef(v store.View) (sqlview.Def, bool) {
	col := func(name, expr string) sqlview.Column { return sqlview.Column{Name: name, Expr: expr} }
	switch v {
	case store.ViewUsers:
		return sqlview.Def{From: "users t", Key: "t.id", Columns: []sqlview.Column{
			col("time_stamp", tsExpr("t.time_stamp")),
			col("user_name", textExpr("t.user_name")),
			col("host_rank", intExpr("t.host_rank")),
			col("user_id", hexExpr("t.user_id")),
		}}, true
	case store.ViewAuthLog:
		return sqlview.Def{From: "auth_log t JOIN users u ON u.user_id = t.user_id", Key: "t.id", Columns: []sqlview.Column{
			col("time_stamp", tsExpr("t.time_stamp")),
			col("ip_address", textExpr("t.ip_address")),
			col("user_name", textExpr("u.user_name")),
			col("auth_attempt", boolExpr("t.auth_attempt")),
			col("recover_attempt", boolExpr("t.recover_attempt")),
			col("count_to_threshold", boolExpr("t.count_to_threshold")),
			col("accepted", boolExpr("t.accepted")),
		}}, true
	case store.ViewActLog:
		return sqlview.Def{From: "ip_history t", Key: "t.id", Table: "ip_history", TableKey: "id", Columns: []sqlview.Column{
			col("time_stamp", tsExpr("t.time_stamp")),
			col("ip_address", textExpr("t.ip_address")),
			col("client_app", textExpr("t.client_app")),
			col("session_id", hexExpr("t.session_id")),
			col("log_entry", textExpr("t.log_entry")),
		}}, true
	case store.ViewDebug:
		return sqlview.Def{From: "host_debug_messages t", Key: "t.id", Table: "host_debug_messages", TableKey: "id", Columns: []sqlview.Column{
			col("time_stamp", tsExpr("t.time_stamp")),
			col("log_entry", textExpr("t.log_entry")),
		}}, true
	case store.ViewBans:
		return sqlview.Def{From: "ban_list t", Key: "t.id", Table: "ban_list", TableKey: "id", Columns: []sqlview.Column{
			col("time_stamp", tsExpr("t.time_stamp")),
			col("ip_address", textExpr("t.ip_address")),
		}}, true
	case store.ViewCerts:
		return sqlview.Def{From: "ssl_certs t", Key: "t.id", Columns: []sqlview.Column{
			col("common_name", textExpr("t.common_name")),
		}}, true
	case store.ViewMods:
		return sqlview.Def{From: "modules t", Key: "t.id", Columns: []sqlview.Column{
			col("module_executable", textExpr("t.module_executable")),
		}}, true
	case store.ViewRankedCmds:
		return sqlview.Def{From: "command_ranks t", Key: "t.id", Columns: []sqlview.Column{
			col("module_executable", textExpr("t.module_executable")),
			col("command_name", textExpr("t.command_name")),
			col("host_rank", intExpr("t.host_rank")),
		}}, true
	case store.ViewChannels:
		return sqlview.Def{From: "channels t", Key: "t.channel_id", Columns: []sqlview.Column{
			col("channel_id", intExpr("t.channel_id")),
			col("channel_name", textExpr("t.channel_name")),
		}}, true
	case store.ViewMyChannels:
		return sqlview.Def{From: "channel_members t JOIN channels c ON c.channel_id = t.channel_id", Key: "t.id",
			Columns: []sqlview.Column{
				col("channel_id", intExpr("t.channel_id")),
				col("channel_name", textExpr("c.channel_name")),
				col("pending_invite", boolExpr("t.pending_invite")),
				col("access_level", intExpr("t.access_level")),
			},
			Hidden: []sqlview.Hidden{{Name: "user_id", Expr: "t.user_id", Text: hexExpr("t.user_id"), Parse: sqlview.ParseUserID}},
		}, true
	case store.ViewSubChannels:
		return sqlview.Def{From: "sub_channels t", Key: "(t.channel_id * 256 + t.sub_channel_id)",
			Columns: []sqlview.Column{
				col("sub_channel_id", intExpr("t.sub_channel_id")),
				col("sub_channel_name", textExpr("t.sub_channel_name")),
				col("lowest_access_level", intExpr("t.lowest_access_level")),
				col("active_updates", boolExpr("t.active_updates")),
			},
			Hidden: []sqlview.Hidden{channelIDHidden("t")},
		}, true
	case store.ViewMembers:
		return sqlview.Def{From: "channel_members t JOIN users u ON u.user_id = t.user_id", Key: "t.id",
			Columns: []sqlview.Column{
				col("channel_id", intExpr("t.channel_id")),
				col("user_name", textExpr("u.user_name")),
				col("display_name", textExpr("u.display_name")),
				col("pending_invite", boolExpr("t.pending_invite")),
				col("access_level", intExpr("t.access_level")),
			},
			Hidden: []sqlview.Hidden{channelIDHidden("t")},
		}, true
	case store.ViewReadOnly:
		return sqlview.Def{From: "read_only_flags t JOIN channels c ON c.channel_id = t.channel_id",
			Key: "(t.channel_id * 2048 + t.sub_channel_id * 8 + t.access_level)",
			Columns: []sqlview.Column{
				col("channel_name", textExpr("c.channel_name")),
				col("channel_id", intExpr("t.channel_id")),
				col("sub_channel_id", intExpr("t.sub_channel_id")),
				col("access_level", intExpr("t.access_level")),
			},
			Hidden: []sqlview.Hidden{channelIDHidden("t")},
		}, true
	}
	return sqlview.Def{}, false
}

// tsExpr renders a time_stamp column as UTC "YYYY-MM-DD HH:MM:SS" text.
func tsExpr(col string) string {
	return "COALESCE(to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')"
}
