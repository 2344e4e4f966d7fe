package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mrci/mrci/pkg/client"
)

// Exit statuses.
const (
	exitOK      = 0
	exitCmdErr  = 1 // a command failed (ERR, unknown, aborted)
	exitConnErr = 2 // connect, login or lost connection; also usage errors
	exitCertErr = 3 // the host's certificate is not the recorded one
)

// flags holds the command-line options.
type flags struct {
	addr            string
	user            string
	passwordFile    string
	newPasswordFile string
	certPin         string
	caFile          string
	commonName      string
	appName         string
	commands        []string
	timeout         time.Duration
	connectTimeout  time.Duration
	history         string
	answers         []string
	yes             bool
	json            bool
	knownHosts      string
	acceptNewCert   bool
	systemCA        bool
}

// env is the process environment run works in, so that tests can supply
// their own streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	lines  *bufio.Reader // line reader over stdin, shared by all stdin consumers

	con       console     // the terminal console, when there is one
	seq       uint64      // console reads made by env itself
	password  string      // the password of the last login, for reconnecting
	answering atomic.Bool // the console read answers a command (not recorded in history)
}

// run is the whole program: it parses args, runs scripting or interactive
// mode and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var f flags
	code := exitOK
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, lines: bufio.NewReader(stdin)}
	cmd := &cobra.Command{
		Use:   "mrcic",
		Short: "Terminal client for MRCI hosts",
		Long: "mrcic connects to an MRCI host. With -c it runs the given commands and exits\n" +
			"(status 0 ok, 1 a command failed, 2 connection or login failure, 3 the host\n" +
			"certificate changed); without -c it starts an interactive session (help lists\n" +
			"the commands, /join CHANNEL SUB chats). See docs/mrcic.md.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			code = e.main(ctx, &f)
			return nil
		},
	}
	fl := cmd.PersistentFlags() // persistent: sub-commands (recover.go) share them
	fl.StringVar(&f.addr, "addr", "127.0.0.1:35516", "`host:port` of the MRCI host")
	fl.StringVarP(&f.user, "user", "u", "", "log in as this user")
	fl.StringVar(&f.passwordFile, "password-file", "", "read the password from the first line of `FILE` (default: prompt, or first line of stdin)")
	fl.StringVar(&f.newPasswordFile, "new-password-file", "", "answer a forced password change with the first line of `FILE`")
	fl.StringVar(&f.certPin, "cert-pin", "", "trust only the host certificate in `FILE` (PEM certificate or SHA-256 fingerprint)")
	fl.StringVar(&f.caFile, "ca", "", "verify the host certificate against the CA certificates in `FILE`")
	fl.BoolVar(&f.systemCA, "system-ca", false, "verify the host certificate against the system's root CAs")
	fl.StringVar(&f.knownHosts, "known-hosts", defaultKnownHosts(), "`FILE` recording the certificate of each host (trust on first use, like ssh); empty: accept any certificate")
	fl.BoolVar(&f.acceptNewCert, "accept-new-cert", false, "accept and record a host certificate that differs from the one in --known-hosts")
	fl.StringVar(&f.commonName, "common-name", "", "certificate common name to ask the host for (default: host part of --addr)")
	fl.StringVar(&f.appName, "app-name", "mrcic "+client.Version, "application name sent to the host")
	fl.StringArrayVarP(&f.commands, "command", "c", nil, "run `CMDLINE` (\"name arguments\") and exit; repeatable")
	fl.DurationVar(&f.timeout, "timeout", 0, "abort a -c command that takes longer than this (0: no limit)")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 15*time.Second, "time limit for connecting")
	fl.StringArrayVar(&f.answers, "answer", nil, "answer the next prompt of a -c command with `TEXT`; repeatable, used in order")
	fl.BoolVar(&f.yes, "yes", false, "answer y to the y/n questions of -c commands (after the --answer values)")
	fl.BoolVar(&f.json, "json", false, "with -c: print every frame as a JSON line {type, command, text} and a final {type: EXIT, exit}")
	fl.StringVar(&f.history, "history", defaultHistory(), "interactive history `FILE` (empty: no history file)")
	cmd.MarkFlagsMutuallyExclusive("system-ca", "cert-pin")
	cmd.MarkFlagsMutuallyExclusive("system-ca", "ca")
	cmd.MarkFlagsMutuallyExclusive("cert-pin", "ca")
	cmd.AddCommand(recoverCmd(&f, stdin, stdout, stderr, &code)) // recover.go
	cmd.AddCommand(transferCommands(&f, stdin, stdout, stderr, &code)...)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	for _, sub := range subCommands { // extend.go
		cmd.AddCommand(sub(e, &f))
	}
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "mrcic: %v\n", err)
		return exitConnErr
	}
	return code
}

func defaultHistory() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return home + string(os.PathSeparator) + ".mrcic_history"
}

// main connects, logs in and runs the selected mode.
func (e *env) main(ctx context.Context, f *flags) int {
	// Ctrl-C aborts connecting, logging in and scripting mode. On a
	// terminal the console reads in raw mode, where Ctrl-C is a key: it
	// cancels the password prompt or the running command at once.
	ictx := ctx
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	interactive := len(f.commands) == 0
	r := &repl{e: e, f: f, names: newNames(), shell: shellCommands()}
	if fd, tty := e.terminal(); tty && interactive && e.outTerminal() {
		var hist *history
		if interactive {
			hist = loadHistory(f.history, e.answering.Load)
		}
		k := &completer{c: r.cur.Load, names: r.names, shell: r.shell}
		con, err := newTTYConsole(fd, e.stdin, e.stdout, hist, k.complete)
		if err != nil {
			e.errorf("terminal: %v", err)
			return exitConnErr
		}
		k.show = con.print
		e.con = con
		defer func() {
			if e.con != nil {
				e.con.close()
			}
		}()
	}
	c, code := e.connect(ctx, f, false)
	if code != exitOK {
		return code
	}
	if !interactive {
		defer c.Close()
		if e.con != nil {
			e.con.close() // scripting output is plain
			e.con = nil
		}
		return e.script(ctx, c, f)
	}
	stop()
	if e.con == nil {
		pc := newPlainConsole(e.lines, e.stdout)
		defer pc.close() // its line reader may still wait (#quit before the end of input)
		e.con = pc
	}
	code = e.interactive(ictx, r, c)
	r.c.Close()
	return code
}

// connect dials (see dial) and logs in when --user is given. After the
// first login the password is kept in memory for reconnecting.
func (e *env) connect(ctx context.Context, f *flags, again bool) (*client.Client, int) {
	opts, err := f.clientOptions()
	if err != nil {
		e.errorf("%v", err)
		return nil, exitConnErr
	}
	c, code := e.dial(ctx, f, opts)
	if code != exitOK {
		return nil, code
	}
	if f.user != "" {
		if code := e.login(ctx, c, f, again); code != exitOK {
			c.Close()
			return nil, code
		}
	}
	return c, exitOK
}

// clientOptions builds the client options from the flags.
func (f *flags) clientOptions() (client.Options, error) {
	opts := client.Options{AppName: f.appName, CommonName: f.commonName}
	switch {
	case f.certPin != "":
		b, err := os.ReadFile(f.certPin)
		if err != nil {
			return opts, err
		}
		opts.PinnedCert = strings.TrimSpace(string(b))
	case f.caFile != "":
		b, err := os.ReadFile(f.caFile)
		if err != nil {
			return opts, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return opts, fmt.Errorf("--ca %s: no PEM certificate found", f.caFile)
		}
		opts.RootCAs = pool
	case f.systemCA:
		// the zero Options verify against the system roots
	default:
		opts.TrustHostCert = true
	}
	return opts, nil
}

// dial connects and applies the known-hosts check when the certificate is
// trusted on first use (no --cert-pin, --ca or --system-ca). The check
// runs before anything is sent on the session: TrustHostCert makes the TLS
// handshake prove the key of the HOST_CERT certificate, so comparing that
// certificate's fingerprint with the recorded one is as strong as pinning
// it.
func (e *env) dial(ctx context.Context, f *flags, opts client.Options) (*client.Client, int) {
	dctx, cancel := context.WithTimeout(ctx, f.connectTimeout)
	c, err := client.Dial(dctx, f.addr, opts)
	cancel()
	if err != nil {
		e.errorf("connecting to %s: %v", f.addr, err)
		if errors.Is(err, client.ErrCertMismatch) {
			return nil, exitCertErr
		}
		return nil, exitConnErr
	}
	if !c.Encrypted() || !opts.TrustHostCert || c.HostCert() == nil {
		return c, exitOK // plaintext (loopback), or verified by pin or CA
	}
	fp := client.Fingerprint(c.HostCert())
	if f.knownHosts == "" {
		e.errorf("host certificate sha256:%s accepted without verification (--known-hosts is empty)", fp)
		return c, exitOK
	}
	kh := knownHosts{path: f.knownHosts}
	recorded, line, err := kh.lookup(f.addr)
	if err != nil {
		c.Close()
		e.errorf("reading %s: %v", f.knownHosts, err)
		return nil, exitConnErr
	}
	switch {
	case recorded == fp:
		return c, exitOK
	case recorded == "":
		if err := kh.record(f.addr, fp); err != nil {
			c.Close()
			e.errorf("recording the host certificate in %s: %v", f.knownHosts, err)
			return nil, exitConnErr
		}
		e.errorf("new host %s: certificate sha256:%s trusted on first use and recorded in %s", f.addr, fp, f.knownHosts)
		return c, exitOK
	case f.acceptNewCert:
		if err := kh.record(f.addr, fp); err != nil {
			c.Close()
			e.errorf("recording the host certificate in %s: %v", f.knownHosts, err)
			return nil, exitConnErr
		}
		e.errorf("host %s: the changed certificate sha256:%s was accepted (--accept-new-cert) and recorded in %s", f.addr, fp, f.knownHosts)
		return c, exitOK
	default:
		c.Close()
		fmt.Fprint(e.stderr, changedWarning(f.addr, f.knownHosts, line, recorded, fp))
		return nil, exitCertErr
	}
}

// login logs in with the password from memory (reconnecting),
// --password-file, the terminal or stdin.
func (e *env) login(ctx context.Context, c *client.Client, f *flags, again bool) int {
	pw := e.password
	var err error
	switch {
	case again || pw != "":
	case f.passwordFile != "":
		pw, err = firstLine(f.passwordFile)
	case e.con != nil:
		pw, err = e.readConsoleHidden(fmt.Sprintf("Password for %s: ", f.user))
	case e.isTTY():
		pw, err = e.readSecretLine(fmt.Sprintf("Password for %s: ", f.user))
	default:
		pw, err = e.readLine()
	}
	if errors.Is(err, errInterrupted) || errors.Is(err, io.EOF) && (e.con != nil || e.isTTY()) {
		e.errorf("login cancelled")
		return exitConnErr
	}
	if err != nil {
		e.errorf("reading the password: %v", err)
		return exitConnErr
	}
	var lopts []client.LoginOption
	newPW := ""
	if f.newPasswordFile != "" {
		if newPW, err = firstLine(f.newPasswordFile); err != nil {
			e.errorf("reading the new password: %v", err)
			return exitConnErr
		}
		lopts = append(lopts, client.WithNewPassword(newPW))
	}
	err = c.Login(ctx, f.user, pw, lopts...)
	if errors.Is(err, client.ErrNewPasswordRequired) && len(f.commands) == 0 && e.con != nil {
		e.errorf("the host requires a new password for %s", f.user)
		if newPW, err = e.newPassword(); err == nil {
			err = c.Login(ctx, f.user, pw, client.WithNewPassword(newPW))
		}
	}
	if errors.Is(err, client.ErrNewPasswordRequired) {
		e.errorf("login as %s: the host requires a new password; pass it with --new-password-file FILE", f.user)
		return exitConnErr
	}
	if err != nil {
		e.errorf("%v", err)
		return exitConnErr
	}
	e.password = pw
	if newPW != "" {
		e.password = newPW
	}
	return exitOK
}

// newPassword asks twice for a new password on the terminal.
func (e *env) newPassword() (string, error) {
	a, err := e.readConsoleHidden("New password: ")
	if err != nil {
		return "", err
	}
	b, err := e.readConsoleHidden("Repeat new password: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the passwords do not match")
	}
	return a, nil
}

// readConsoleHidden reads a line without echo from the terminal console;
// Ctrl-C ends it at once with errInterrupted.
func (e *env) readConsoleHidden(prompt string) (string, error) {
	e.seq++
	e.con.request(e.seq, prompt, true)
	for res := range e.con.results() {
		if res.seq == e.seq && !errors.Is(res.err, errAborted) {
			return res.line, res.err
		}
	}
	return "", io.EOF
}

// terminal returns stdin's file descriptor if stdin is a terminal.
func (e *env) terminal() (int, bool) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// outTerminal reports whether stdout is a terminal.
func (e *env) outTerminal() bool {
	f, ok := e.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// isTTY reports whether stdin is a terminal.
func (e *env) isTTY() bool {
	_, ok := e.terminal()
	return ok
}

// readHidden reads a line without echo from the terminal fd (outside the
// interactive console; Ctrl-C cancels, see readSecret).
func (e *env) readHidden(fd int, prompt string) (string, error) {
	return readSecret(fd, e.stdin, e.stderr, prompt)
}

// readSecretLine reads a hidden line from the terminal on stdin (scripting
// mode; see readSecret).
func (e *env) readSecretLine(prompt string) (string, error) {
	fd, _ := e.terminal()
	return e.readHidden(fd, prompt)
}

// readLine reads the next line of stdin without its line ending; io.EOF
// when no input is left.
func (e *env) readLine() (string, error) {
	s, err := e.lines.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (e *env) errorf(format string, args ...any) {
	if e.con != nil {
		e.con.print(fmt.Sprintf("mrcic: "+format+"\n", args...))
		return
	}
	fmt.Fprintf(e.stderr, "mrcic: "+format+"\n", args...)
}

// firstLine returns the first line of a file without its line ending.
func firstLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, "\r"), nil
}

// splitCommandLine splits "name rest" at the first whitespace: the command
// name, and the argument text after the separating whitespace, verbatim.
func splitCommandLine(line string) (name, args string) {
	line = strings.TrimLeftFunc(line, unicode.IsSpace)
	i := strings.IndexFunc(line, unicode.IsSpace)
	if i < 0 {
		return line, ""
	}
	return line[:i], strings.TrimLeftFunc(line[i:], unicode.IsSpace)
}
