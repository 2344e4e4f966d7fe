package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// ANSI colours, used when the console is a terminal and NO_COLOR is unset.
const (
	colReset  = "\x1b[0m"
	colRed    = "\x1b[31m"
	colGreen  = "\x1b[32m"
	colYellow = "\x1b[33m"
	colCyan   = "\x1b[36m"
	colBold   = "\x1b[1m"
)

// joinedSub is a sub-channel opened with /join, re-opened after a
// reconnect.
type joinedSub struct{ ch, sub string }

// repl is the interactive session: one loop that waits for typed lines,
// the output of the running command, async frames and the end of the
// connection at once, so output is printed above the prompt as it arrives.
type repl struct {
	e     *env
	f     *flags
	c     *client.Client
	cur   atomic.Pointer[client.Client] // c, for the completion goroutine
	con   console
	names *names
	shell []shellCommand

	joined []joinedSub
	queued []string // lines typed ahead while a command was running
	run    *running
	eof    bool // input ended: leave once the running command is done

	seq  uint64 // read requests made
	want uint64 // the read whose result the loop waits for
}

// running is the command in progress.
type running struct {
	name    string
	call    *client.Call
	events  chan callEvent
	cancel  context.CancelFunc
	done    chan struct{}
	chat    bool   // a cast of a chat line: output hidden, typed lines queued
	partial string // TEXT without a final newline: shown as the prompt
	hidden  string // the PRIV_TEXT prompt being answered, if any
	failed  bool   // an ERR arrived
	onDone  func(failed bool)
}

// callEvent is a frame of the running command, or its failure.
type callEvent struct {
	f   wire.Frame
	err error
}

// interactive runs the session until /quit, end of input, Ctrl-D or a
// connection loss the user does not want to recover from.
func (e *env) interactive(ctx context.Context, r *repl, c *client.Client) int {
	r.con = e.con
	r.setClient(c)
	f := r.f
	if mi, ok := c.MyInfo(); ok {
		r.names.learnPeer(mi.Peer)
	}
	r.println(r.paint(colCyan, fmt.Sprintf("Connected to %s (host version %s, %s). Type help for the commands, /join CH SUB to chat.",
		f.addr, c.HostVersion(), map[bool]string{true: "TLS", false: "not encrypted"}[c.Encrypted()])))
	// The channel names for Tab completion; quick, and done before the
	// first prompt so that completion works from the first key.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	r.names.learnChannels(lctx, c)
	cancel()
	code := r.loop(ctx)
	r.endRun()
	return code
}

// client returns the current connection (it changes on reconnect).
func (r *repl) client() *client.Client { return r.c }

// setClient switches to a new connection.
func (r *repl) setClient(c *client.Client) {
	r.c = c
	r.cur.Store(c)
}

// println prints s and a newline above the prompt.
func (r *repl) println(s string) { r.con.print(s + "\n") }

// paint colours s when the console has colours.
func (r *repl) paint(col, s string) string {
	if !r.con.color() || s == "" {
		return s
	}
	return col + s + colReset
}

// prompt returns what the next read shows and whether it is hidden.
func (r *repl) prompt() (string, bool) {
	if r.run != nil && !r.run.chat {
		if r.run.hidden != "" {
			return r.run.hidden, true
		}
		return r.run.partial, false
	}
	who := "not logged in"
	if mi, ok := r.c.MyInfo(); ok && !mi.Peer.UserID.IsZero() {
		who = mi.Peer.UserName
	}
	p := who + "@" + r.f.addr
	if len(r.joined) > 0 {
		var subs []string
		for _, j := range r.joined {
			subs = append(subs, "#"+j.ch+"/"+j.sub)
		}
		p += " [" + strings.Join(subs, " ") + "]"
	}
	return r.paint(colGreen, p) + "> ", false
}

// ask starts a read with the current prompt, replacing the outstanding one.
func (r *repl) ask() {
	p, hidden := r.prompt()
	r.seq++
	r.want = r.seq
	r.e.answering.Store(r.run != nil && r.run.asking())
	r.con.request(r.seq, p, hidden)
}

// loop is the event loop.
func (r *repl) loop(ctx context.Context) int {
	r.ask()
	for {
		var events <-chan callEvent
		if r.run != nil {
			events = r.run.events
		}
		select {
		case res := <-r.con.results():
			if errors.Is(res.err, errAborted) {
				if res.seq == r.want {
					r.ask()
				}
				continue
			}
			if quit, code := r.input(ctx, res); quit {
				return code
			}
			if !r.eof {
				r.ask()
			}
		case ev := <-events:
			changed := r.commandEvent(ev)
			if r.drain(ctx) || r.eof && r.run == nil {
				return exitOK
			}
			if r.eof && r.run.asking() {
				_ = r.run.call.Terminate()
			}
			if changed && !r.eof {
				r.ask()
			}
		case f, ok := <-r.c.Async():
			if ok {
				r.printAsync(f)
			} else if code, ok := r.reconnect(ctx); !ok {
				return code
			} else {
				r.ask()
			}
		case <-ctx.Done():
			return exitOK
		}
	}
}

// input handles one finished read.
func (r *repl) input(ctx context.Context, res readResult) (quit bool, code int) {
	switch {
	case errors.Is(res.err, errInterrupted):
		if r.run != nil && !r.run.chat {
			r.println(r.paint(colYellow, "^C (terminating "+r.run.name+")"))
			r.run.hidden, r.run.partial = "", ""
			_ = r.run.call.Terminate()
			return false, 0
		}
		r.println("^C (Ctrl-D or /quit leaves)")
		return false, 0
	case res.err != nil: // end of input (Ctrl-D, or the end of piped input)
		if r.run == nil {
			return true, exitOK
		}
		// Let the running command and the lines typed ahead finish; a
		// question can no longer be answered.
		r.eof = true
		if r.run.asking() {
			_ = r.run.call.Terminate()
		}
		return false, 0
	}
	line := res.line
	if r.run != nil {
		if w := strings.TrimSpace(line); strings.HasPrefix(w, "#") && !r.run.chat {
			return r.local(w), exitOK
		}
		if !r.run.asking() {
			// Typed ahead: run after the command (a question answers).
			r.queued = append(r.queued, line)
			return false, 0
		}
		r.run.hidden, r.run.partial = "", ""
		if err := r.run.call.SendText(line); err != nil {
			r.println(r.paint(colRed, r.run.name+": "+err.Error()))
		}
		return false, 0
	}
	if r.runLine(ctx, line) {
		return true, exitOK
	}
	return r.drain(ctx), exitOK
}

// drain runs the lines typed ahead while no command runs.
func (r *repl) drain(ctx context.Context) (quit bool) {
	for r.run == nil && len(r.queued) > 0 {
		line := r.queued[0]
		r.queued = r.queued[1:]
		if r.runLine(ctx, line) {
			return true
		}
	}
	return false
}

// asking reports whether the command waits for an answer: it asked a
// question (TEXT without a final newline) or for hidden input.
func (run *running) asking() bool { return !run.chat && (run.partial != "" || run.hidden != "") }

// runLine runs one typed line when no command is running: a local #
// command, a /command, help, a chat line (in chat mode) or a host command.
func (r *repl) runLine(ctx context.Context, line string) (quit bool) {
	trimmed := strings.TrimSpace(line)
	word, args := splitCommandLine(trimmed)
	switch {
	case trimmed == "":
	case strings.HasPrefix(trimmed, "#"):
		return r.local(trimmed)
	case strings.HasPrefix(trimmed, "//") && len(r.joined) > 0:
		// "//text" casts "/text"
		r.start(ctx, "cast", wire.TypeText, wire.EncodeText(strings.TrimPrefix(strings.TrimLeft(line, " \t"), "/")), true, nil)
	case strings.HasPrefix(trimmed, "/"):
		s, ok := findShell(r.shell, strings.ToLower(word[1:]))
		if !ok {
			r.println(r.paint(colRed, word+": no such mrcic command (help lists them)"))
			return false
		}
		return s.run(r, args)
	case strings.EqualFold(word, "help") && !r.hostHas("help"):
		r.con.print(helpText(r.c, r.shell, strings.TrimSpace(args)))
	case len(r.joined) > 0:
		r.start(ctx, "cast", wire.TypeText, wire.EncodeText(line), true, nil)
	default:
		r.start(ctx, word, wire.TypeText, wire.EncodeText(args), false, nil)
	}
	return false
}

func (r *repl) hostHas(name string) bool {
	_, ok := r.c.CommandID(name)
	return ok
}

// start starts a command round; its frames arrive in the loop.
func (r *repl) start(ctx context.Context, name string, t wire.TypeID, payload []byte, chat bool, onDone func(failed bool)) {
	call, err := r.c.Start(ctx, name)
	if err != nil {
		r.report(name, err)
		if onDone != nil {
			onDone(true)
		}
		return
	}
	if err := call.Send(t, payload); err != nil {
		call.Close()
		r.report(name, err)
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	run := &running{name: name, call: call, events: make(chan callEvent, 64), cancel: cancel,
		done: make(chan struct{}), chat: chat, onDone: onDone}
	go func() {
		defer close(run.done)
		for {
			f, err := call.Next(cctx)
			select {
			case run.events <- callEvent{f, err}:
			case <-cctx.Done():
				return
			}
			if err != nil || f.Type == wire.TypeIdle {
				return
			}
		}
	}()
	r.run = run
}

// commandEvent handles a frame of the running command; it reports whether
// the prompt changed.
func (r *repl) commandEvent(ev callEvent) (promptChanged bool) {
	run := r.run
	if ev.err != nil {
		if r.c.Err() == nil {
			r.report(run.name, ev.err)
		}
		r.finish(true)
		return true
	}
	f := ev.f
	flush := func() {
		if run.partial != "" {
			r.con.print(run.partial + "\n")
			run.partial = ""
		}
	}
	switch f.Type {
	case wire.TypeIdle:
		flush()
		r.finish(run.failed)
		return true
	case wire.TypeText, wire.TypeBigText:
		text := wire.DecodeText(f.Payload)
		hadPartial := run.partial != ""
		flush()
		if run.chat {
			return hadPartial
		}
		if f.Type == wire.TypeText && !strings.HasSuffix(text, "\n") {
			// A question (the host's TEXT prompts end without a newline):
			// it becomes the prompt of the answer read.
			if i := strings.LastIndexByte(text, '\n'); i >= 0 {
				r.con.print(text[:i+1])
				text = text[i+1:]
			}
			run.partial = text
			return true
		}
		r.con.print(text)
		return hadPartial
	case wire.TypeErr:
		flush()
		run.failed = true
		r.con.print(r.paint(colRed, strings.TrimRight(wire.DecodeText(f.Payload), "\n")) + "\n")
	case wire.TypePrivText:
		flush()
		p := strings.TrimRight(wire.DecodeText(f.Payload), "\r\n")
		if i := strings.LastIndexByte(p, '\n'); i >= 0 {
			r.println(p[:i])
			p = p[i+1:]
		}
		if p == "" {
			p = "password:"
		}
		if !strings.HasSuffix(p, " ") {
			p += " "
		}
		run.hidden = p
		return true
	default:
		flush()
		r.println(fmt.Sprintf("[%s] %d bytes %s", f.Type, len(f.Payload), hexPreview(f.Payload)))
	}
	return false
}

// finish ends the running command and runs the lines queued meanwhile.
func (r *repl) finish(failed bool) {
	run := r.run
	r.endRun()
	if run.onDone != nil {
		run.onDone(failed)
	}
}

// endRun releases the running command.
func (r *repl) endRun() {
	if r.run == nil {
		return
	}
	r.run.cancel()
	<-r.run.done
	r.run.call.Close()
	r.run = nil
}

// report prints why a command could not run.
func (r *repl) report(name string, err error) {
	switch {
	case errors.Is(err, client.ErrUnknownCommand):
		r.println(r.paint(colRed, unavailable(r.c, name)))
	case r.c.Err() != nil:
		// the loop reports the connection loss
	default:
		r.println(r.paint(colRed, name+": "+err.Error()))
	}
}

// local runs a '#' command. It reports whether mrcic should end.
func (r *repl) local(line string) (quit bool) {
	word, _ := splitCommandLine(line)
	ctl := map[string]wire.TypeID{"#term": wire.TypeTermCmd, "#kill": wire.TypeKillCmd, "#halt": wire.TypeHaltCmd, "#resume": wire.TypeResumeCmd}
	switch word = strings.ToLower(word); word {
	case "#quit", "#exit":
		return true
	case "#help":
		r.con.print(helpText(r.c, r.shell, ""))
		r.con.print("While a command runs: #term (also Ctrl-C), #kill, #halt, #resume; #session shows the connection.\n")
		r.con.print("#upload LOCAL REMOTE, #download REMOTE LOCAL transfer a file or directory ([--resume] [--no-verify] [--quiet]).\n")
	case "#commands":
		r.con.print(helpText(r.c, nil, ""))
	case "#session":
		r.session()
	case "#upload", "#download":
		r.localTransfer(word, line)
	default:
		t, ok := ctl[word]
		switch {
		case !ok:
			r.println(r.paint(colRed, word+": unknown local command (#help lists them)"))
		case r.run == nil || r.run.chat:
			r.println(r.paint(colRed, word+": no command is running"))
		default:
			if err := r.run.call.Send(t, nil); err != nil {
				r.println(r.paint(colRed, word+": "+err.Error()))
			}
		}
	}
	return false
}

func (r *repl) session() {
	var sb strings.Builder
	c := r.c
	fmt.Fprintf(&sb, "session id:   %s\nhost version: %s\nencrypted:    %v\n", c.SessionID(), c.HostVersion(), c.Encrypted())
	if cert := c.HostCert(); cert != nil {
		fmt.Fprintf(&sb, "certificate:  CN=%s, SHA-256 %s\n", cert.Subject.CommonName, client.Fingerprint(cert))
	}
	if mi, ok := c.MyInfo(); ok && !mi.Peer.UserID.IsZero() {
		fmt.Fprintf(&sb, "user:         %s, rank %d\n", userLabel(mi), mi.Rank)
	} else {
		fmt.Fprintf(&sb, "user:         (not logged in)\n")
	}
	if n := c.DroppedAsync(); n > 0 {
		fmt.Fprintf(&sb, "async frames dropped: %d\n", n)
	}
	r.con.print(sb.String())
}

// printAsync prints one async frame above the prompt.
func (r *repl) printAsync(f wire.Frame) {
	l := r.names.formatAsync(f)
	switch l.kind {
	case kindHidden:
	case kindError:
		r.println(r.paint(colRed, l.text))
	case kindChat:
		r.println(r.paint(colBold, l.text))
	default:
		r.println(r.paint(colCyan, l.text))
	}
}

// reconnect is called when the connection ended: it says why and, unless
// the user gives up (Ctrl-C, Ctrl-D), reconnects with back-off, logs in
// again and re-opens the joined sub-channels. ok false ends mrcic with code.
func (r *repl) reconnect(ctx context.Context) (code int, ok bool) {
	r.endRun()
	r.queued = nil
	r.println(r.paint(colRed, lostReason(r.c)))
	delay := time.Second
	for attempt := 1; ; attempt++ {
		r.println(r.paint(colYellow, fmt.Sprintf("reconnecting in %s (attempt %d; Ctrl-C or Ctrl-D gives up)", delay, attempt)))
		r.seq++
		r.want = r.seq
		r.con.request(r.seq, "", false)
		t := time.NewTimer(delay)
	wait:
		for {
			select {
			case <-t.C:
				break wait
			case res := <-r.con.results():
				if res.err != nil && !errors.Is(res.err, errAborted) {
					t.Stop()
					r.println("gave up")
					return exitConnErr, false
				}
			case <-ctx.Done():
				t.Stop()
				return exitOK, false
			}
		}
		c, code := r.e.connect(ctx, r.f, true)
		if code == exitCertErr {
			return code, false
		}
		if code == exitOK {
			r.c.Close()
			r.setClient(c)
			r.println(r.paint(colGreen, "reconnected to "+r.f.addr))
			r.rejoin(ctx)
			return exitOK, true
		}
		if delay *= 2; delay > 30*time.Second {
			delay = 30 * time.Second
		}
	}
}

// rejoin re-opens the sub-channels that were joined before the loss.
func (r *repl) rejoin(ctx context.Context) {
	joined := r.joined
	r.joined = nil
	for _, j := range joined {
		res, err := r.c.Run(ctx, "open_sub_ch", "-ch_name "+client.QuoteArg(j.ch)+" -sub_name "+client.QuoteArg(j.sub))
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			r.println(r.paint(colRed, fmt.Sprintf("re-joining #%s/%s: %v", j.ch, j.sub, err)))
			continue
		}
		r.joined = append(r.joined, j)
		r.println(r.paint(colCyan, fmt.Sprintf("* re-joined #%s/%s", j.ch, j.sub)))
	}
}

// The built-in /commands.

func joinShell() shellCommand {
	return shellCommand{name: "join", usage: "CHANNEL SUB-CHANNEL", summary: "open a sub-channel and chat: plain lines are cast to it",
		run: func(r *repl, args string) bool {
			ch, sub, ok := chSub(r, args, "/join")
			if !ok {
				return false
			}
			r.start(context.Background(), "open_sub_ch", wire.TypeText,
				wire.EncodeText("-ch_name "+client.QuoteArg(ch)+" -sub_name "+client.QuoteArg(sub)), false, func(failed bool) {
					if !failed {
						r.joined = append(r.joined, joinedSub{ch, sub})
						r.names.know(ch, sub)
						r.println(r.paint(colCyan, fmt.Sprintf("* joined #%s/%s; plain lines are cast, /cmd LINE runs a command, /part leaves", ch, sub)))
					}
				})
			return false
		}}
}

func partShell() shellCommand {
	return shellCommand{name: "part", usage: "[CHANNEL SUB-CHANNEL]", summary: "close a joined sub-channel (default: the last joined)",
		run: func(r *repl, args string) bool {
			if len(r.joined) == 0 {
				r.println(r.paint(colRed, "/part: no sub-channel is joined"))
				return false
			}
			j := r.joined[len(r.joined)-1]
			if strings.TrimSpace(args) != "" {
				ch, sub, ok := chSub(r, args, "/part")
				if !ok {
					return false
				}
				j = joinedSub{ch, sub}
			}
			r.start(context.Background(), "close_sub_ch", wire.TypeText,
				wire.EncodeText("-ch_name "+client.QuoteArg(j.ch)+" -sub_name "+client.QuoteArg(j.sub)), false, func(failed bool) {
					for i, x := range r.joined {
						if x == j {
							r.joined = append(r.joined[:i:i], r.joined[i+1:]...)
							break
						}
					}
				})
			return false
		}}
}

func chSub(r *repl, args, cmd string) (string, string, bool) {
	w := wire.ParseArgs(args, -1)
	if len(w) != 2 {
		r.println(r.paint(colRed, cmd+": usage: "+cmd+" CHANNEL SUB-CHANNEL"))
		return "", "", false
	}
	return strings.TrimPrefix(w[0], "#"), w[1], true
}

func cmdShell() shellCommand {
	return shellCommand{name: "cmd", usage: "COMMAND [ARGS]", summary: "run a host command (in chat mode plain lines are cast)",
		run: func(r *repl, args string) bool {
			word, rest := splitCommandLine(args)
			if word == "" {
				r.println(r.paint(colRed, "/cmd: usage: /cmd COMMAND [ARGS]"))
				return false
			}
			if strings.EqualFold(word, "help") && !r.hostHas("help") {
				r.con.print(helpText(r.c, r.shell, strings.TrimSpace(rest)))
				return false
			}
			r.start(context.Background(), word, wire.TypeText, wire.EncodeText(rest), false, nil)
			return false
		}}
}

func helpShell() shellCommand {
	return shellCommand{name: "help", usage: "[COMMAND]", summary: "list the commands, or show one command's options and description",
		run: func(r *repl, args string) bool {
			r.con.print(helpText(r.client(), r.shell, strings.TrimSpace(args)))
			return false
		}}
}

func quitShell() shellCommand {
	return shellCommand{name: "quit", summary: "leave mrcic (also Ctrl-D)", run: func(*repl, string) bool { return true }}
}
