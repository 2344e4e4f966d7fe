package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chzyer/readline"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

const (
	idlePrompt   = "mrci> "
	answerPrompt = "> "
	// quietDelay is how long a running command must stay silent after a
	// TEXT frame before mrcic assumes it waits for a typed answer.
	quietDelay = 300 * time.Millisecond
)

// repl is the interactive mode.
type repl struct {
	c       *client.Client
	rl      *readline.Instance
	out     io.Writer // readline-aware: redraws the prompt after printing
	errw    io.Writer
	sigint  chan os.Signal
	closeRL func()
}

// interactive runs the prompt until #quit, end of input or a lost
// connection.
func (e *env) interactive(ctx context.Context, c *client.Client, f *flags) int {
	cfg := &readline.Config{
		Prompt:          idlePrompt,
		HistoryFile:     f.history,
		Stdout:          e.stdout,
		Stderr:          e.stderr,
		InterruptPrompt: "^C",
	}
	if _, tty := e.terminal(); !tty {
		// Not a terminal: read plain lines, through the shared reader so
		// that nothing it buffered is lost.
		cfg.Stdin = io.NopCloser(e.lines)
		cfg.FuncIsTerminal = func() bool { return false }
		cfg.HistoryFile = ""
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		e.errorf("%v", err)
		return exitConnErr
	}
	var once sync.Once
	r := &repl{c: c, rl: rl, out: rl.Stdout(), errw: rl.Stderr(), sigint: make(chan os.Signal, 1),
		closeRL: func() { once.Do(func() { rl.Close() }) }}
	defer r.closeRL()
	signal.Notify(r.sigint, os.Interrupt)
	defer signal.Stop(r.sigint)

	fmt.Fprintf(r.out, "Connected to %s (host version %s, %s). Type #help for help.\n",
		f.addr, c.HostVersion(), map[bool]string{true: "TLS", false: "not encrypted"}[c.Encrypted()])

	// Async printer, and a watcher that ends the prompt when the
	// connection is lost or ctx ends.
	var wg sync.WaitGroup
	wg.Add(2)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		for fr := range c.Async() {
			r.printAsync(fr)
		}
	}()
	go func() {
		defer wg.Done()
		select {
		case <-c.Done():
			if !errors.Is(c.Err(), client.ErrClosed) {
				fmt.Fprintf(r.errw, "mrcic: %v\n", c.Err())
			}
		case <-ctx.Done():
		case <-stop:
			return
		}
		r.closeRL()
	}()
	code := r.loop(ctx)
	close(stop)
	r.closeRL()
	c.Close() // ends the async printer
	wg.Wait()
	if code == exitOK && ctx.Err() == nil && c.Err() != nil && !errors.Is(c.Err(), client.ErrClosed) {
		code = exitConnErr
	}
	return code
}

// loop reads command lines until the user leaves.
func (r *repl) loop(ctx context.Context) int {
	var pending *string
	for {
		var line string
		if pending != nil {
			line, pending = *pending, nil
		} else {
			r.rl.SetPrompt(idlePrompt)
			l, err := r.rl.Readline()
			if errors.Is(err, readline.ErrInterrupt) {
				if l == "" {
					fmt.Fprintln(r.out, "(#quit or Ctrl-D leaves)")
				}
				continue
			}
			if err != nil {
				return r.exitCode(ctx)
			}
			line = l
		}
		if err := r.c.Err(); err != nil || ctx.Err() != nil {
			return r.exitCode(ctx)
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			if r.local(line, nil) {
				return exitOK
			}
		default:
			next, code := r.runCommand(ctx, line)
			if code >= 0 {
				return code
			}
			pending = next
		}
	}
}

func (r *repl) exitCode(ctx context.Context) int {
	if err := r.c.Err(); err != nil && ctx.Err() == nil {
		return exitConnErr
	}
	return exitOK
}

// event kinds sent by the frame pump of a running command.
type eventKind int

const (
	evText eventKind = iota // TEXT output: maybe a prompt
	evPriv                  // PRIV_TEXT prompt
	evIdle                  // the round ended
	evFail                  // the call failed (connection lost, command removed)
)

type event struct {
	kind eventKind
	text string
	err  error
}

// runCommand runs one command line. It returns a line the user typed after
// the command ended (to be run next), and an exit status ≥ 0 when the
// program should end.
func (r *repl) runCommand(ctx context.Context, line string) (next *string, code int) {
	name, args := splitCommandLine(line)
	call, err := r.c.Start(ctx, name)
	if err != nil {
		return nil, r.report(ctx, name, err)
	}
	defer call.Close()
	if err := call.SendText(args); err != nil {
		return nil, r.report(ctx, name, err)
	}

	var ended atomic.Bool
	events := make(chan event, 16)
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.pump(pctx, call, events, &ended)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case ev := <-events:
			switch ev.kind {
			case evIdle:
				return nil, -1
			case evFail:
				return nil, r.report(ctx, name, ev.err)
			case evText:
				quiet.Reset(quietDelay)
			case evPriv:
				quiet.Stop()
				ans, err := r.readPassword(ev.text)
				if err != nil {
					_ = call.Terminate()
					continue
				}
				if err := call.SendText(ans); err != nil {
					return nil, r.report(ctx, name, err)
				}
			}
		case <-quiet.C:
			if len(events) > 0 {
				continue // handle what arrived first
			}
			// The command printed something and went quiet: it may be
			// waiting for an answer. Output keeps printing above the prompt.
			r.rl.SetPrompt(answerPrompt)
			l, err := r.rl.Readline()
			if ended.Load() {
				if err == nil {
					return &l, -1 // typed after the command ended: a new command line
				}
				return nil, -1
			}
			switch {
			case errors.Is(err, readline.ErrInterrupt):
				_ = call.Terminate()
			case err != nil: // end of input
				_ = call.Terminate()
				return nil, r.exitCode(ctx)
			case strings.HasPrefix(strings.TrimSpace(l), "#"):
				if r.local(strings.TrimSpace(l), call) {
					return nil, exitOK
				}
				quiet.Reset(quietDelay)
			default:
				if err := call.SendText(l); err != nil {
					return nil, r.report(ctx, name, err)
				}
			}
		case <-r.sigint:
			fmt.Fprintln(r.out, "^C (terminating the command)")
			_ = call.Terminate()
		case <-ctx.Done():
			return nil, exitOK
		case <-r.c.Done():
			return nil, exitConnErr
		}
	}
}

// pump prints the frames of a call and tells runCommand what happened.
func (r *repl) pump(ctx context.Context, call *client.Call, events chan<- event, ended *atomic.Bool) {
	send := func(ev event) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		f, err := call.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				send(event{kind: evFail, err: err})
			}
			return
		}
		switch f.Type {
		case wire.TypeIdle:
			ended.Store(true)
			r.rl.SetPrompt(idlePrompt)
			r.rl.Refresh()
			send(event{kind: evIdle})
			return
		case wire.TypePrivText:
			if !send(event{kind: evPriv, text: wire.DecodeText(f.Payload)}) {
				return
			}
		case wire.TypeText:
			fmt.Fprint(r.out, ensureNewline(wire.DecodeText(f.Payload)))
			if !send(event{kind: evText}) {
				return
			}
		case wire.TypeBigText:
			fmt.Fprint(r.out, ensureNewline(wire.DecodeText(f.Payload)))
		case wire.TypeErr:
			fmt.Fprint(r.errw, ensureNewline(wire.DecodeText(f.Payload)))
		default:
			fmt.Fprintf(r.out, "[%s] %d bytes\n", f.Type, len(f.Payload))
		}
	}
}

// readPassword shows a PRIV_TEXT prompt and reads the answer without echo.
func (r *repl) readPassword(prompt string) (string, error) {
	prompt = strings.TrimRight(prompt, "\r\n")
	if i := strings.LastIndexByte(prompt, '\n'); i >= 0 {
		fmt.Fprintln(r.out, prompt[:i])
		prompt = prompt[i+1:]
	}
	if prompt == "" {
		prompt = "password"
	}
	if !strings.HasSuffix(prompt, " ") {
		prompt += " "
	}
	cfg := r.rl.GenPasswordConfig()
	cfg.Prompt = prompt
	cfg.MaskRune = '*'
	b, err := r.rl.ReadPasswordWithConfig(cfg)
	return string(b), err
}

// report prints a command error and returns the exit status to end with, or
// -1 to carry on.
func (r *repl) report(ctx context.Context, name string, err error) int {
	switch {
	case errors.Is(err, client.ErrUnknownCommand):
		fmt.Fprintf(r.errw, "%s: unknown command (#commands lists the commands)\n", name)
	case r.c.Err() != nil:
		return exitConnErr
	case ctx.Err() != nil:
		return exitOK
	default:
		fmt.Fprintf(r.errw, "%s: %v\n", name, err)
	}
	return -1
}

// local runs a '#' command; call is the running command, if any. It
// reports whether the program should end.
func (r *repl) local(line string, call *client.Call) (quit bool) {
	word, _ := splitCommandLine(line)
	ctl := map[string]wire.TypeID{"#term": wire.TypeTermCmd, "#kill": wire.TypeKillCmd, "#halt": wire.TypeHaltCmd, "#resume": wire.TypeResumeCmd}
	switch word = strings.ToLower(word); word {
	case "#quit", "#exit":
		return true
	case "#help":
		fmt.Fprint(r.out, `Type "command arguments" to run a host command; while it waits for input,
the line you type is sent to it. Local commands:
  #help              this text
  #commands          list the commands the host announced
  #session           show session, host and login details
  #term              abort the running command (TERM_CMD; also Ctrl-C)
  #kill              end the running command's process (KILL_CMD)
  #halt, #resume     pause / resume a looping command
  #upload LOCAL REMOTE, #download REMOTE LOCAL
                     transfer a file or directory ([--resume] [--no-verify] [--quiet])
  #quit              leave (also Ctrl-D)
`)
	case "#commands":
		r.listCommands()
	case "#session":
		r.session()
	case "#upload", "#download":
		r.localTransfer(word, line)
	default:
		t, ok := ctl[word]
		switch {
		case !ok:
			fmt.Fprintf(r.errw, "%s: unknown local command (#help lists them)\n", word)
		case call == nil:
			fmt.Fprintf(r.errw, "%s: no command is running\n", word)
		default:
			if err := call.Send(t, nil); err != nil {
				fmt.Fprintf(r.errw, "%s: %v\n", word, err)
			}
		}
	}
	return false
}

func (r *repl) listCommands() {
	cmds := r.c.Commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		info, _ := r.c.CommandInfo(n)
		fmt.Fprintf(&sb, "  %-24s %s\n", n, strings.TrimSpace(info.Summary))
	}
	fmt.Fprintf(&sb, "%d commands\n", len(names))
	fmt.Fprint(r.out, sb.String())
}

func (r *repl) session() {
	var sb strings.Builder
	fmt.Fprintf(&sb, "session id:   %s\nhost version: %s\nencrypted:    %v\n", r.c.SessionID(), r.c.HostVersion(), r.c.Encrypted())
	if cert := r.c.HostCert(); cert != nil {
		fmt.Fprintf(&sb, "certificate:  CN=%s, SHA-256 %s\n", cert.Subject.CommonName, client.Fingerprint(cert))
	}
	if mi, ok := r.c.MyInfo(); ok && !mi.Peer.UserID.IsZero() {
		fmt.Fprintf(&sb, "user:         %s, rank %d\n", userLabel(mi), mi.Rank)
	} else {
		fmt.Fprintf(&sb, "user:         (not logged in)\n")
	}
	if n := r.c.DroppedAsync(); n > 0 {
		fmt.Fprintf(&sb, "async frames dropped: %d\n", n)
	}
	fmt.Fprint(r.out, sb.String())
}

// printAsync prints one async frame.
func (r *repl) printAsync(f wire.Frame) {
	if s, toErr := formatAsync(f); s != "" {
		if toErr {
			fmt.Fprint(r.errw, s)
		} else {
			fmt.Fprint(r.out, s)
		}
	}
}

// formatAsync renders an async frame for the terminal: TEXT and ERR on
// ASYNC_SYS_MSG as system messages, MY_INFO as a one-line summary, the
// set-up and bookkeeping frames (ready, command table, keep-alive) not at
// all, and everything else as "[ASYNC_NAME] TYPE N bytes".
func formatAsync(f wire.Frame) (s string, toStderr bool) {
	id := wire.AsyncID(f.Cmd)
	switch {
	case id == wire.AsyncRdy || id == wire.AsyncAddCmd || id == wire.AsyncRmCmd || id == wire.AsyncKeepAlive:
		return "", false
	case id == wire.AsyncSysMsg && f.Type == wire.TypeText:
		return ensureNewline(wire.DecodeText(f.Payload)), false
	case id == wire.AsyncSysMsg && f.Type == wire.TypeErr:
		return ensureNewline(wire.DecodeText(f.Payload)), true
	case id == wire.AsyncSysMsg && f.Type == wire.TypeMyInfo:
		mi, err := wire.ParseMyInfo(f.Payload)
		if err != nil {
			break
		}
		if mi.Peer.UserID.IsZero() {
			return "* not logged in\n", false
		}
		return fmt.Sprintf("* logged in as %s, rank %d\n", userLabel(mi), mi.Rank), false
	}
	return fmt.Sprintf("[%s] %s %d bytes\n", id, f.Type, len(f.Payload)), false
}

// userLabel is "name" or "name (display name)".
func userLabel(mi wire.MyInfo) string {
	if mi.Peer.DisplayName == "" || mi.Peer.DisplayName == mi.Peer.UserName {
		return mi.Peer.UserName
	}
	return mi.Peer.UserName + " (" + mi.Peer.DisplayName + ")"
}
