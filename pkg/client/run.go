package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mrci/mrci/pkg/mrciwire"
)

// ErrPrompt is wrapped by Run's error when the command asked for input
// (a PRIV_TEXT prompt) that a non-interactive run cannot give; Run then
// aborts the command with TERM_CMD.
var ErrPrompt = errors.New("client: command asked for input")

// Result holds the frames of one command round, in arrival order, up to and
// including the closing IDLE frame.
type Result struct {
	Frames []mrciwire.Frame // every frame of the round, IDLE last
}

// Text returns the concatenated decoded text of every TEXT and BIG_TEXT
// frame (prompts are PRIV_TEXT and are not included).
func (r *Result) Text() string {
	var sb strings.Builder
	for _, f := range r.Frames {
		if f.Type == mrciwire.TypeText || f.Type == mrciwire.TypeBigText {
			sb.WriteString(mrciwire.DecodeText(f.Payload))
		}
	}
	return sb.String()
}

// Errors returns the decoded text of every ERR frame.
func (r *Result) Errors() []string {
	var errs []string
	for _, f := range r.Frames {
		if f.Type == mrciwire.TypeErr {
			errs = append(errs, mrciwire.DecodeText(f.Payload))
		}
	}
	return errs
}

// Err returns a *CommandError when the command sent at least one ERR frame,
// otherwise nil.
func (r *Result) Err() error {
	if errs := r.Errors(); len(errs) > 0 {
		return &CommandError{Messages: errs}
	}
	return nil
}

// CommandError carries the ERR texts a command sent.
type CommandError struct {
	Messages []string // decoded ERR payloads, as sent
}

// Error joins the trimmed messages with "; ".
func (e *CommandError) Error() string {
	msgs := make([]string, len(e.Messages))
	for i, m := range e.Messages {
		msgs[i] = strings.TrimSpace(m)
	}
	return strings.Join(msgs, "; ")
}

// Prompter answers the prompts of an interactive command round.
type Prompter interface {
	// Answer returns the text to send back for prompt (a PRIV_TEXT frame,
	// or a TEXT frame a TextPrompter accepted). Returning an error aborts
	// the round: RunInteractive sends TERM_CMD and returns that error.
	Answer(ctx context.Context, prompt mrciwire.Frame) (string, error)
}

// TextPrompter is a Prompter that also answers TEXT prompts. The protocol
// does not distinguish a TEXT prompt from ordinary output, so RunInteractive
// asks IsTextPrompt about every TEXT frame and answers those it accepts.
type TextPrompter interface {
	Prompter
	// IsTextPrompt reports whether the TEXT frame f expects an answer.
	IsTextPrompt(f mrciwire.Frame) bool
}

// PromptFunc adapts a function to the Prompter interface; it answers
// PRIV_TEXT prompts only.
type PromptFunc func(ctx context.Context, prompt mrciwire.Frame) (string, error)

// Answer calls f.
func (f PromptFunc) Answer(ctx context.Context, prompt mrciwire.Frame) (string, error) {
	return f(ctx, prompt)
}

// TextPrompts returns a TextPrompter that answers PRIV_TEXT prompts and the
// TEXT frames for which match returns true with p.
func TextPrompts(p Prompter, match func(f mrciwire.Frame) bool) TextPrompter {
	return textPrompter{p, match}
}

type textPrompter struct {
	Prompter
	match func(mrciwire.Frame) bool
}

// IsTextPrompt calls the match function.
func (t textPrompter) IsTextPrompt(f mrciwire.Frame) bool { return t.match(f) }

// Run runs one non-interactive round of the command name: it opens a call,
// sends args as TEXT and collects every frame up to the IDLE. The returned
// error reports transport problems, an unknown command, ctx ending, or a
// PRIV_TEXT prompt (ErrPrompt, after aborting the command with TERM_CMD);
// errors the command itself reported are in Result.Err. On error the
// Result holds the frames received so far.
//
// A command that asks for input with a TEXT prompt (which cannot be told
// apart from output) waits for an answer that never comes: bound ctx, or
// use RunInteractive.
func (c *Client) Run(ctx context.Context, name, args string) (*Result, error) {
	return c.RunInteractive(ctx, name, args, nil)
}

// RunInteractive is Run with prompts answered by p: every PRIV_TEXT frame,
// and every TEXT frame accepted by p when it is a TextPrompter, is passed
// to p.Answer and the answer is sent back as TEXT. Prompt frames are part of
// the Result. A nil p behaves like Run.
func (c *Client) RunInteractive(ctx context.Context, name, args string, p Prompter) (*Result, error) {
	call, err := c.Start(ctx, name)
	if err != nil {
		return &Result{}, err
	}
	defer call.Close()
	return call.run(ctx, mrciwire.TypeText, mrciwire.EncodeText(args), p)
}

// Run sends one frame on the call (normally TEXT arguments) and collects the
// frames of the round up to IDLE, answering prompts with p (nil: none), with
// the semantics of Client.RunInteractive. The call stays open.
func (call *Call) Run(ctx context.Context, t mrciwire.TypeID, payload []byte, p Prompter) (*Result, error) {
	return call.run(ctx, t, payload, p)
}

func (call *Call) run(ctx context.Context, t mrciwire.TypeID, payload []byte, p Prompter) (*Result, error) {
	res := &Result{}
	if err := call.Send(t, payload); err != nil {
		return res, err
	}
	tp, _ := p.(TextPrompter)
	var failure error
	for {
		f, err := call.Next(ctx)
		if err != nil {
			if ctx.Err() != nil && call.Busy() {
				_ = call.Terminate()
			}
			return res, err
		}
		res.Frames = append(res.Frames, f)
		if f.Type == mrciwire.TypeIdle {
			return res, failure
		}
		if failure != nil {
			continue // aborted: drain up to IDLE
		}
		prompt := f.Type == mrciwire.TypePrivText || (f.Type == mrciwire.TypeText && tp != nil && tp.IsTextPrompt(f))
		if !prompt {
			continue
		}
		if p == nil {
			failure = fmt.Errorf("%w: %q", ErrPrompt, strings.TrimSpace(mrciwire.DecodeText(f.Payload)))
			if err := call.Terminate(); err != nil {
				return res, err
			}
			continue
		}
		ans, err := p.Answer(ctx, f)
		if err != nil {
			failure = err
			if err := call.Terminate(); err != nil {
				return res, err
			}
			continue
		}
		if err := call.SendText(ans); err != nil {
			return res, err
		}
	}
}
