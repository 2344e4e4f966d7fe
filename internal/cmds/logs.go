package cmds

import (
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
)

func logCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("ls_dbg", "list the host debug log.", "[{search_terms} {-delete}]/[text]",
				"Lists the host debug log 50 per page (module failures, refused asyncs, errors modules reported). "+
					"Filter with -time_stamp or -log_entry followed by text the column must contain. With -delete "+
					"the matching rows are deleted after a confirmation."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewDebug, true),
		},
	}
}
