package main

import (
	"github.com/spf13/cobra"
)

// Extending mrcic
//
// A feature adds itself to mrcic from a new file of its own plus ONE line
// in one of the two lists below:
//
//   - a shell command, typed at the interactive prompt as /NAME ARGS:
//     write `func myShell() shellCommand { return shellCommand{name: "upload",
//     usage: "FILE", summary: "...", run: func(r *repl, args string) bool {...}} }`
//     and add `myShell(),` to shellCommands. run gets the interactive
//     session (r.client() is the connection, r.println prints above the
//     prompt, r.runLine runs a host command line as if typed) and returns
//     true to leave mrcic. Help and Tab completion list it automatically.
//   - a sub-command, run as `mrcic NAME ...` instead of a session: write
//     `func myCmd(e *env, f *flags) *cobra.Command` and add `myCmd,` to
//     subCommands. It inherits the connection flags (--addr, --user,
//     --password-file, --cert-pin, --ca, --known-hosts, ...) in f; e.connect
//     dials and logs in with them exactly as a session does.

// shellCommands lists the interactive /commands.
func shellCommands() []shellCommand {
	return []shellCommand{
		joinShell(),
		partShell(),
		cmdShell(),
		helpShell(),
		quitShell(),
	}
}

// subCommands lists mrcic's sub-commands.
var subCommands = []func(e *env, f *flags) *cobra.Command{}

// shellCommand is one /command of the interactive prompt.
type shellCommand struct {
	name    string // typed as /name
	usage   string // argument synopsis for help
	summary string
	run     func(r *repl, args string) (quit bool)
}

func findShell(list []shellCommand, name string) (shellCommand, bool) {
	for _, s := range list {
		if s.name == name {
			return s, true
		}
	}
	return shellCommand{}, false
}
