package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// promptSettle is how long a command must stay silent after a TEXT frame
// that does not end a line before mrcic takes that text for a question
// (the host's "next page (y/n)? " and other TEXT prompts carry no marker).
const promptSettle = 250 * time.Millisecond

// answers supplies the answers to prompts in scripting mode: the --answer
// values in order, then "y" to y/n questions with --yes, then lines of
// standard input.
type answers struct {
	given  []string
	yes    bool
	stdin  func() (string, error)
	secret func(prompt string) (string, error) // hidden answers on a terminal; nil: stdin
}

// next returns the answer to the prompt text, or ok false when none is
// left.
func (a *answers) next(prompt string, hidden bool) (string, bool) {
	if len(a.given) > 0 {
		s := a.given[0]
		a.given = a.given[1:]
		return s, true
	}
	if a.yes && !hidden && isYesNo(prompt) {
		return "y", true
	}
	if hidden && a.secret != nil {
		s, err := a.secret(prompt)
		return s, err == nil
	}
	s, err := a.stdin()
	return s, err == nil
}

// isYesNo reports whether a prompt asks a y/n question.
func isYesNo(prompt string) bool {
	p := strings.ToLower(prompt)
	return strings.Contains(p, "(y/n)") || strings.Contains(p, "[y/n]")
}

// jsonFrame is one line of --json output.
type jsonFrame struct {
	Type    string `json:"type"`
	Command string `json:"command"`
	Text    string `json:"text,omitempty"`
	Size    *int   `json:"size,omitempty"`
	Data    []byte `json:"data,omitempty"`
	Exit    *int   `json:"exit,omitempty"`
}

// script runs every -c command in order and returns the exit status.
func (e *env) script(ctx context.Context, c *client.Client, f *flags) int {
	ans := &answers{given: f.answers, yes: f.yes, stdin: e.readLine}
	if e.isTTY() {
		ans.secret = e.readSecretLine
	}
	code := exitOK
	for _, line := range f.commands {
		switch e.runOne(ctx, c, line, f, ans) {
		case exitConnErr:
			return exitConnErr
		case exitCmdErr:
			code = exitCmdErr
		}
	}
	return code
}

// runOne runs one command line, streaming its output.
func (e *env) runOne(ctx context.Context, c *client.Client, line string, f *flags, ans *answers) int {
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
	emit := func(fr wire.Frame) {
		if !f.json {
			return
		}
		j := jsonFrame{Type: fr.Type.String(), Command: name}
		switch fr.Type {
		case wire.TypeText, wire.TypeBigText, wire.TypeErr, wire.TypePrivText:
			j.Text = wire.DecodeText(fr.Payload)
		case wire.TypeIdle:
		default:
			n := len(fr.Payload)
			j.Size, j.Data = &n, fr.Payload
		}
		b, _ := json.Marshal(j)
		_, _ = e.stdout.Write(append(b, '\n'))
	}
	code := exitOK
	aborted := false
	// pending is a TEXT frame without a final newline: a question, if the
	// command then stays silent.
	pending := ""
	ask := func(prompt string, hidden bool) error {
		if aborted {
			return nil
		}
		a, ok := ans.next(prompt, hidden)
		if !ok {
			e.errorf("%s: the command asks %q and no answer is left (give answers with --answer TEXT, --yes or lines on standard input); aborting it", name, strings.TrimSpace(prompt))
			code, aborted = exitCmdErr, true
			return call.Terminate()
		}
		return call.SendText(a)
	}
	for {
		nctx, cancel := ctx, context.CancelFunc(func() {})
		if pending != "" {
			nctx, cancel = context.WithTimeout(ctx, promptSettle)
		}
		fr, err := call.Next(nctx)
		cancel()
		if err != nil && pending != "" && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			p := pending
			pending = ""
			if err := ask(p, false); err != nil {
				return e.callFailed(c, name, err)
			}
			continue
		}
		if err != nil {
			return e.callFailed(c, name, err) // Close sends TERM_CMD if needed
		}
		emit(fr)
		pending = ""
		switch fr.Type {
		case wire.TypeIdle:
			if f.json {
				b, _ := json.Marshal(jsonFrame{Type: "EXIT", Command: name, Exit: &code})
				_, _ = e.stdout.Write(append(b, '\n'))
			}
			return code
		case wire.TypeText, wire.TypeBigText:
			text := wire.DecodeText(fr.Payload)
			if !f.json {
				_, _ = io.WriteString(e.stdout, text)
			}
			if fr.Type == wire.TypeText && text != "" && !strings.HasSuffix(text, "\n") {
				pending = text
			}
		case wire.TypeErr:
			if !f.json {
				_, _ = io.WriteString(e.stderr, ensureNewline(wire.DecodeText(fr.Payload)))
			}
			code = exitCmdErr
		case wire.TypePrivText:
			prompt := wire.DecodeText(fr.Payload)
			if !f.json && ans.secret == nil {
				_, _ = io.WriteString(e.stderr, ensureNewline(prompt))
			}
			if err := ask(prompt, true); err != nil {
				return e.callFailed(c, name, err)
			}
		default:
			if !f.json {
				fmt.Fprintf(e.stderr, "[%s] %d bytes %s\n", fr.Type, len(fr.Payload), hexPreview(fr.Payload))
			}
		}
	}
}

// callFailed reports err and maps it to an exit status.
func (e *env) callFailed(c *client.Client, name string, err error) int {
	switch {
	case errors.Is(err, client.ErrUnknownCommand):
		e.errorf("%s", unavailable(c, name))
		return exitCmdErr
	case c.Err() != nil:
		e.hostNotices(c)
		e.errorf("%s: %v", name, lostReason(c))
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

// hostNotices prints the system messages (TEXT and ERR on ASYNC_SYS_MSG)
// the host sent before the connection ended: its reason, when it gave one.
func (e *env) hostNotices(c *client.Client) {
	for {
		select {
		case f, ok := <-c.Async():
			if !ok {
				return
			}
			if wire.AsyncID(f.Cmd) == wire.AsyncSysMsg && (f.Type == wire.TypeText || f.Type == wire.TypeErr) {
				e.errorf("host: %s", strings.TrimSpace(wire.DecodeText(f.Payload)))
			}
		default:
			return
		}
	}
}

// unavailable explains a command the session does not have: the host did
// not give it to this account (or to sessions that are not logged in).
func unavailable(c *client.Client, name string) string {
	mi, ok := c.MyInfo()
	if !ok || mi.Peer.UserID.IsZero() {
		return fmt.Sprintf("%s: not available before login (log in with --user, or run auth -user NAME)", name)
	}
	if mi.Rank == 1 {
		return fmt.Sprintf("%s: no such command on this host (help lists the commands)", name)
	}
	return fmt.Sprintf("%s: not available to this account (your rank is %d; the host gives it to better ranks only, or not at all — an administrator can open it with add_ranked_cmd)", name, mi.Rank)
}

// lostReason describes why the connection ended.
func lostReason(c *client.Client) string {
	err := c.Err()
	if err == nil {
		return "connection lost"
	}
	if errors.Is(err, io.EOF) {
		return "connection lost: the host closed the connection"
	}
	return err.Error()
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}
