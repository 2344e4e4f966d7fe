package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// recoverCmd is `mrcic --user NAME recover [--request]`: account recovery
// with a temporary password mailed by the host. With --request it first
// asks the host to mail one (request_pw_reset); then it runs recover_acct,
// reading the temporary password and the new password (twice) without
// echo from the terminal, or as lines of standard input otherwise.
func recoverCmd(f *flags, stdin io.Reader, stdout, stderr io.Writer, code *int) *cobra.Command {
	var request bool
	c := &cobra.Command{
		Use:   "recover",
		Short: "set a new password with a temporary password mailed by the host (--user NAME)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.user == "" {
				return errors.New("recover needs --user NAME (or an e-mail address)")
			}
			e := &env{stdin: stdin, stdout: stdout, stderr: stderr, lines: bufio.NewReader(stdin)}
			*code = e.recover(cmd.Context(), f, request)
			return nil
		},
	}
	c.Flags().BoolVar(&request, "request", false, "first ask the host to mail a temporary password")
	return c
}

// recover connects without logging in and runs the recovery commands.
func (e *env) recover(ctx context.Context, f *flags, request bool) int {
	opts, err := f.clientOptions()
	if err != nil {
		e.errorf("%v", err)
		return exitConnErr
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, f.connectTimeout)
	c, err := client.Dial(dctx, f.addr, opts)
	cancel()
	if err != nil {
		e.errorf("connecting to %s: %v", f.addr, err)
		return exitConnErr
	}
	defer c.Close()
	who := "-user " + quoteArg(f.user)
	if strings.Contains(f.user, "@") {
		who = "-email " + quoteArg(f.user)
	}
	if request {
		res, err := c.Run(ctx, "request_pw_reset", who)
		if code := e.report(res, err); code != exitOK {
			return code
		}
	}
	fd, term := e.terminal()
	ask := func(prompt string) (string, error) {
		if term {
			return e.readHidden(fd, prompt)
		}
		return e.readLine()
	}
	newAsked := false
	p := client.PromptFunc(func(ctx context.Context, fr wire.Frame) (string, error) {
		text := strings.ToLower(wire.DecodeText(fr.Payload))
		if strings.Contains(text, "temporary password") {
			return ask("Temporary password (from the mail): ")
		}
		newAsked = true
		for {
			a, err := ask("New password: ")
			if err != nil {
				return "", err
			}
			b, err := ask("Repeat new password: ")
			if err != nil {
				return "", err
			}
			if a == b {
				return a, nil
			}
			e.errorf("the passwords do not match; try again")
		}
	})
	res, err := c.RunInteractive(ctx, "recover_acct", who, p)
	// Wrong answers before the last prompt were repeated; what counts is
	// that the new password was asked for and no error followed.
	code := e.report(res, err)
	if code == exitConnErr || (code == exitCmdErr && !(newAsked && !errAfterLastPrompt(res))) {
		return code
	}
	if !newAsked {
		return exitCmdErr // cancelled
	}
	fmt.Fprintf(e.stdout, "Password of %s changed; log in with the new password.\n", f.user)
	return exitOK
}

// report prints a command's output and errors and returns the exit status.
func (e *env) report(res *client.Result, err error) int {
	if res != nil {
		for _, fr := range res.Frames {
			switch fr.Type {
			case wire.TypeText, wire.TypeBigText:
				fmt.Fprint(e.stdout, wire.DecodeText(fr.Payload))
			case wire.TypeErr:
				fmt.Fprint(e.stderr, wire.DecodeText(fr.Payload))
			}
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		e.errorf("no more input: cancelled")
		return exitCmdErr
	case err != nil:
		e.errorf("%v", err)
		return exitConnErr
	case res != nil && res.Err() != nil:
		return exitCmdErr
	}
	return exitOK
}

// errAfterLastPrompt reports whether an ERR frame follows the last prompt.
func errAfterLastPrompt(res *client.Result) bool {
	failed := false
	for _, fr := range res.Frames {
		switch fr.Type {
		case wire.TypePrivText:
			failed = false
		case wire.TypeErr:
			failed = true
		}
	}
	return failed
}

// quoteArg quotes a value for the host's argument parser.
func quoteArg(s string) string {
	if !strings.ContainsAny(s, " \t'\"") {
		return s
	}
	q := `"`
	if strings.Contains(s, `"`) {
		q = `'`
	}
	return q + strings.ReplaceAll(s, q, `\`+q) + q
}
