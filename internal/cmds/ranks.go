package cmds

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/validate"
	"github.com/mrci/mrci/internal/wire"
)

const msgInvalidCmdName = "invalid command name (1-64 chars, no spaces)"

func rankCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_ranked_cmd", "assign a host rank to a command.", "[-mod (text) -command (text) -rank (int)]/[text]",
				"Lets accounts of host rank -rank or better (1 is the best) run the command -command of module -mod. "+
					"Use -mod "+store.InternalModule+" for the host's own commands, or the module's path. "+
					"Unranked commands are for rank 1 only."),
			In: userOnly, MaxArgs: 6, Run: runAddRankedCmd,
		},
		{
			Def: def("rm_ranked_cmd", "remove the host rank of a command.", "[-command (text) -mod (text)]/[text]",
				"Removes the rank assigned to the command -command of module -mod; it is then for rank 1 only."),
			In: userOnly, MaxArgs: 4, Run: runRmRankedCmd,
		},
		{
			Def: def("ls_ranked_cmds", "list the command ranks.", "[{search_terms}]/[text]",
				"Lists the assigned command ranks 50 per page. Filter with -module_executable, -command_name or "+
					"-host_rank followed by text the column must contain."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewRankedCmds, false),
		},
	}
}

// rankModule returns the command_ranks identity of a -mod value:
// store.InternalModule for the host's own commands, otherwise the module
// path in the form add_mod stores (expanded, absolute, links resolved).
func rankModule(mod string) (string, bool) {
	if strings.EqualFold(mod, store.InternalModule) {
		return store.InternalModule, true
	}
	if !validModulePath(mod) {
		return "", false
	}
	p, err := module.CleanPath(mod)
	return p, err == nil
}

func runAddRankedCmd(ctx context.Context, c *module.Call) error {
	name, rankText, mod := c.Param("-command"), c.Param("-rank"), c.Param("-mod")
	switch {
	case name == "":
		return module.Fail("-command missing")
	case rankText == "":
		return module.Fail("-rank missing")
	case mod == "":
		return module.Fail("-mod missing")
	}
	rank, err := strconv.ParseUint(rankText, 10, 64)
	if err != nil || rank == 0 || rank > math.MaxUint32 {
		return module.Fail("invalid 32-bit unsigned rank (1-4294967295)")
	}
	name = strings.ToLower(name)
	if !validate.CommandName(name) {
		return module.Fail(msgInvalidCmdName)
	}
	modID, ok := rankModule(mod)
	if !ok {
		return module.Fail(msgInvalidModPath)
	}
	err = c.Store().AddCommandRank(ctx, store.CommandRank{Module: modID, Command: name, Rank: uint32(rank)})
	switch {
	case errors.Is(err, store.ErrExists):
		return module.Fail("already ranked")
	case err != nil:
		return err
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncCmdRanksChanged, nil)
	return nil
}

func runRmRankedCmd(ctx context.Context, c *module.Call) error {
	name, mod := c.Param("-command"), c.Param("-mod")
	switch {
	case name == "":
		return module.Fail("-command missing")
	case mod == "":
		return module.Fail("-mod missing")
	}
	name = strings.ToLower(name)
	if !validate.CommandName(name) {
		return module.Fail(msgInvalidCmdName)
	}
	modID, ok := rankModule(mod)
	if !ok {
		return module.Fail(msgInvalidModPath)
	}
	if err := c.Store().RemoveCommandRank(ctx, modID, name); err != nil {
		return notFound(err, "pair has no assigned rank")
	}
	c.Emit(wire.TypePubIPCFeedback, wire.AsyncCmdRanksChanged, nil)
	return nil
}
