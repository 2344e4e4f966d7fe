package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// script runs every -c command in order and returns the exit status.
func (e *env) script(ctx context.Context, c *client.Client, f *flags) int {
	code := exitOK
	for _, line := range f.commands {
		switch e.runOne(ctx, c, line, f) {
		case exitConnErr:
			return exitConnErr
		case exitCmdErr:
			code = exitCmdErr
		}
	}
	return code
}

// runOne runs one command line, streaming its output.
func (e *env) runOne(ctx context.Context, c *client.Client, line string, f *flags) int {
	name, args := splitCommandLine(line)
	if name == "" {
		e.errorf("empty command")
		return exitCmdErr
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	call, err := c.Start(ctx, name)
	if err != nil {
		return e.callFailed(c, name, err)
	}
	defer call.Close()
	if err := call.SendText(args); err != nil {
		return e.callFailed(c, name, err)
	}
	code := exitOK
	aborted := false
	for {
		fr, err := call.Next(ctx)
		if err != nil {
			return e.callFailed(c, name, err) // Close sends TERM_CMD if needed
		}
		switch fr.Type {
		case wire.TypeIdle:
			return code
		case wire.TypeText, wire.TypeBigText:
			_, _ = io.WriteString(e.stdout, wire.DecodeText(fr.Payload))
		case wire.TypeErr:
			_, _ = io.WriteString(e.stderr, ensureNewline(wire.DecodeText(fr.Payload)))
			code = exitCmdErr
		case wire.TypePrivText:
			_, _ = io.WriteString(e.stderr, ensureNewline(wire.DecodeText(fr.Payload)))
			if aborted {
				break
			}
			ans, err := e.readLine()
			if err != nil {
				e.errorf("%s: no input left to answer the prompt; aborting the command", name)
				code, aborted = exitCmdErr, true
				if err := call.Terminate(); err != nil {
					return e.callFailed(c, name, err)
				}
				break
			}
			if err := call.SendText(ans); err != nil {
				return e.callFailed(c, name, err)
			}
		default:
			fmt.Fprintf(e.stderr, "[%s] %d bytes\n", fr.Type, len(fr.Payload))
		}
	}
}

// callFailed reports err and maps it to an exit status.
func (e *env) callFailed(c *client.Client, name string, err error) int {
	switch {
	case errors.Is(err, client.ErrUnknownCommand):
		e.errorf("%s: unknown command", name)
		return exitCmdErr
	case c.Err() != nil:
		e.errorf("%s: %v", name, c.Err())
		return exitConnErr
	case errors.Is(err, context.Canceled):
		e.errorf("%s: interrupted", name)
		return exitConnErr
	case errors.Is(err, context.DeadlineExceeded):
		e.errorf("%s: timed out", name)
		return exitCmdErr
	default:
		e.errorf("%s: %v", name, err)
		return exitCmdErr
	}
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}
