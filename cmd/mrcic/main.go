// Command mrcic is a terminal client for MRCI hosts, built on pkg/client.
//
// Scripting mode runs the commands given with -c and exits:
//
//	mrcic --addr 127.0.0.1:35516 --user root --password-file pw.txt -c 'my_info' -c 'host_info'
//
// Each -c value is split at the first whitespace into the command name and
// its argument text, which is sent verbatim. TEXT and BIG_TEXT output goes
// to stdout, ERR output to stderr. PRIV_TEXT prompts are answered with the
// next line of standard input (no more input aborts the command). The exit
// status is 0 on success, 1 if any command sent an ERR, was unknown or
// could not be completed, and 2 if the connection could not be set up, the
// login failed or the connection was lost.
//
// Without -c, mrcic starts an interactive prompt with line editing and
// history. Lines starting with '#' are local commands (#help lists them);
// other lines are sent to the host as "command arguments". While a command
// runs, async messages and output are printed as they arrive, PRIV_TEXT
// prompts are read without echo and a line typed while the command is
// waiting is sent to it as the answer to a TEXT prompt.
//
// Host certificates: with --cert-pin FILE (a PEM certificate or a SHA-256
// fingerprint) exactly that certificate is trusted; with --ca FILE the
// certificate must be signed by one of the CAs in FILE and match the common
// name; otherwise the certificate the host sends is trusted on first use
// and its SHA-256 fingerprint is printed on stderr so that it can be pinned
// next time.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
