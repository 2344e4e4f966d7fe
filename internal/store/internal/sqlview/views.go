package sqlview

import "github.com/mrci/mrci/internal/store"

// Exprs are a backend's SQL expressions that render a column as display
// text; each yields text and never NULL.
type Exprs struct {
	Text    func(col string) string // a text column
	Int     func(col string) string // an integer column
	Hex     func(col string) string // a binary id, as lower-case hex
	Bool    func(col string) string // a boolean, as 1 or 0
	Time    func(col string) string // a time_stamp, as UTC "YYYY-MM-DD HH:MM:SS"
	Untyped func(col string) string // a column without a declared type, as text
}

// channelIDHidden is the hidden exact channel_id filter on alias a.
func channelIDHidden(e Exprs, a string) Hidden {
	return Hidden{Name: "channel_id", Expr: a + ".channel_id", Text: e.Int(a + ".channel_id"), Parse: ParseID}
}

// ViewDef describes a table viewer (commands.md §3) with a backend's
// expressions. Both backends share these definitions, so their viewers show
// the same columns, keys and filters.
func ViewDef(v store.View, e Exprs) (Def, bool) {
	col := func(name, expr string) Column { return Column{Name: name, Expr: expr} }
	switch v {
	case store.ViewUsers:
		return Def{From: "users t", Key: "t.id", Columns: []Column{
			col("time_stamp", e.Time("t.time_stamp")),
			col("user_name", e.Text("t.user_name")),
			col("host_rank", e.Int("t.host_rank")),
			col("user_id", e.Hex("t.user_id")),
		}}, true
	case store.ViewAuthLog:
		return Def{From: "auth_log t JOIN users u ON u.user_id = t.user_id", Key: "t.id", Columns: []Column{
			col("time_stamp", e.Time("t.time_stamp")),
			col("ip_address", e.Text("t.ip_address")),
			col("user_name", e.Text("u.user_name")),
			col("auth_attempt", e.Bool("t.auth_attempt")),
			col("recover_attempt", e.Bool("t.recover_attempt")),
			col("count_to_threshold", e.Bool("t.count_to_threshold")),
			col("accepted", e.Bool("t.accepted")),
		}}, true
	case store.ViewActLog:
		return Def{From: "ip_history t", Key: "t.id", Table: "ip_history", TableKey: "id", Columns: []Column{
			col("time_stamp", e.Time("t.time_stamp")),
			col("ip_address", e.Text("t.ip_address")),
			col("client_app", e.Text(e.Untyped("t.client_app"))),
			col("session_id", e.Hex("t.session_id")),
			col("log_entry", e.Text("t.log_entry")),
		}}, true
	case store.ViewDebug:
		return Def{From: "host_debug_messages t", Key: "t.id", Table: "host_debug_messages", TableKey: "id", Columns: []Column{
			col("time_stamp", e.Time("t.time_stamp")),
			col("log_entry", e.Text("t.log_entry")),
		}}, true
	case store.ViewBans:
		return Def{From: "ban_list t", Key: "t.id", Table: "ban_list", TableKey: "id", Columns: []Column{
			col("time_stamp", e.Time("t.time_stamp")),
			col("ip_address", e.Text("t.ip_address")),
		}}, true
	case store.ViewCerts:
		return Def{From: "ssl_certs t", Key: "t.id", Columns: []Column{
			col("common_name", e.Text("t.common_name")),
		}}, true
	case store.ViewMods:
		return Def{From: "modules t", Key: "t.id", Columns: []Column{
			col("module_executable", e.Text("t.module_executable")),
		}}, true
	case store.ViewRankedCmds:
		return Def{From: "command_ranks t", Key: "t.id", Columns: []Column{
			col("module_executable", e.Text("t.module_executable")),
			col("command_name", e.Text("t.command_name")),
			col("host_rank", e.Int("t.host_rank")),
		}}, true
	case store.ViewChannels:
		return Def{From: "channels t", Key: "t.channel_id", Columns: []Column{
			col("channel_id", e.Int("t.channel_id")),
			col("channel_name", e.Text("t.channel_name")),
		}}, true
	case store.ViewMyChannels:
		return Def{From: "channel_members t JOIN channels c ON c.channel_id = t.channel_id", Key: "t.id",
			Columns: []Column{
				col("channel_id", e.Int("t.channel_id")),
				col("channel_name", e.Text("c.channel_name")),
				col("pending_invite", e.Bool("t.pending_invite")),
				col("access_level", e.Int("t.access_level")),
			},
			Hidden: []Hidden{{Name: "user_id", Expr: "t.user_id", Text: e.Hex("t.user_id"), Parse: ParseUserID}},
		}, true
	case store.ViewSubChannels:
		return Def{From: "sub_channels t", Key: "(t.channel_id * 256 + t.sub_channel_id)",
			Columns: []Column{
				col("sub_channel_id", e.Int("t.sub_channel_id")),
				col("sub_channel_name", e.Text("t.sub_channel_name")),
				col("lowest_access_level", e.Int("t.lowest_access_level")),
				col("active_updates", e.Bool("t.active_updates")),
			},
			Hidden: []Hidden{channelIDHidden(e, "t")},
		}, true
	case store.ViewMembers:
		return Def{From: "channel_members t JOIN users u ON u.user_id = t.user_id", Key: "t.id",
			Columns: []Column{
				col("channel_id", e.Int("t.channel_id")),
				col("user_name", e.Text("u.user_name")),
				col("display_name", e.Text("u.display_name")),
				col("pending_invite", e.Bool("t.pending_invite")),
				col("access_level", e.Int("t.access_level")),
			},
			Hidden: []Hidden{channelIDHidden(e, "t")},
		}, true
	case store.ViewReadOnly:
		return Def{From: "read_only_flags t JOIN channels c ON c.channel_id = t.channel_id",
			Key: "(t.channel_id * 2048 + t.sub_channel_id * 8 + t.access_level)",
			Columns: []Column{
				col("channel_name", e.Text("c.channel_name")),
				col("channel_id", e.Int("t.channel_id")),
				col("sub_channel_id", e.Int("t.sub_channel_id")),
				col("access_level", e.Int("t.access_level")),
			},
			Hidden: []Hidden{channelIDHidden(e, "t")},
		}, true
	}
	return Def{}, false
}
