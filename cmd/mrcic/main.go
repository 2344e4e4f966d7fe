// Command mrcic is a terminal client for MRCI hosts, built on pkg/client:
// a command shell and chat client in one (docs/mrcic.md).
//
// Scripting mode runs the commands given with -c and exits:
//
//	mrcic --user root --password-file pw.txt -c 'my_info' -c 'host_info'
//
// Each -c value is split at the first whitespace into the command name and
// its argument text, which is sent verbatim. TEXT and BIG_TEXT output goes
// to stdout, ERR output to stderr (--json prints JSON lines instead).
// Questions are answered by --answer values, --yes and lines of standard
// input; with no answer left the command is aborted, so -c never hangs.
// Exit status: 0 success; 1 a command sent ERR, was not available, had an
// unanswered question or timed out; 2 connecting, logging in or the
// connection failed; 3 the host certificate does not match the pinned or
// recorded one.
//
// Without -c, mrcic starts an interactive session: output and events are
// printed above the prompt, `help` lists the commands, Tab completes,
// `/join CHANNEL SUB` opens a sub-channel and turns plain lines into casts,
// and a lost connection is re-established with back-off.
//
// Host certificates are checked like ssh host keys: --cert-pin, --ca or
// --system-ca if given, otherwise the known-hosts file records each host's
// certificate on first use and refuses a changed one.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
