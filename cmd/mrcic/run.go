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
}

// env is the process environment run works in, so that tests can supply
// their own streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	lines  *bufio.Reader // line reader over stdin, shared by all stdin consumers
}

// run is the whole program: it parses args, runs scripting or interactive
// mode and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var f flags
	code := exitOK
	cmd := &cobra.Command{
		Use:   "mrcic",
		Short: "Terminal client for MRCI hosts",
		Long: "mrcic connects to an MRCI host. With -c it runs the given commands and exits\n" +
			"(status 0 ok, 1 a command failed, 2 connection or login failure); without -c it\n" +
			"starts an interactive prompt (#help lists the local commands).",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e := &env{stdin: stdin, stdout: stdout, stderr: stderr, lines: bufio.NewReader(stdin)}
			code = e.main(ctx, &f)
			return nil
		},
	}
	fl := cmd.PersistentFlags() // shared with the upload/download sub-commands
	fl.StringVar(&f.addr, "addr", "127.0.0.1:35516", "`host:port` of the MRCI host")
	fl.StringVarP(&f.user, "user", "u", "", "log in as this user")
	fl.StringVar(&f.passwordFile, "password-file", "", "read the password from the first line of `FILE` (default: prompt, or first line of stdin)")
	fl.StringVar(&f.newPasswordFile, "new-password-file", "", "answer a forced password change with the first line of `FILE`")
	fl.StringVar(&f.certPin, "cert-pin", "", "trust only the host certificate in `FILE` (PEM certificate or SHA-256 fingerprint)")
	fl.StringVar(&f.caFile, "ca", "", "verify the host certificate against the CA certificates in `FILE`")
	fl.StringVar(&f.commonName, "common-name", "", "certificate common name to ask the host for (default: host part of --addr)")
	fl.StringVar(&f.appName, "app-name", "mrcic "+client.Version, "application name sent to the host")
	fl.StringArrayVarP(&f.commands, "command", "c", nil, "run `CMDLINE` (\"name arguments\") and exit; repeatable")
	fl.DurationVar(&f.timeout, "timeout", 0, "abort a -c command that takes longer than this (0: no limit)")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 15*time.Second, "time limit for connecting")
	fl.StringVar(&f.history, "history", defaultHistory(), "interactive history `FILE` (empty: no history file)")
	cmd.MarkFlagsMutuallyExclusive("cert-pin", "ca")
	cmd.AddCommand(transferCommands(&f, stdin, stdout, stderr, &code)...)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
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
	opts, err := f.clientOptions()
	if err != nil {
		e.errorf("%v", err)
		return exitConnErr
	}
	// Ctrl-C aborts connecting, logging in and scripting mode; the
	// interactive prompt handles it itself (it terminates the running
	// command).
	ictx := ctx
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
	if c.Encrypted() && opts.TrustHostCert && c.HostCert() != nil {
		e.errorf("host certificate SHA-256 fingerprint %s (trusted on first use; save it to a file and pass --cert-pin FILE to pin it)",
			client.Fingerprint(c.HostCert()))
	}
	if f.user != "" {
		if code := e.login(ctx, c, f); code != exitOK {
			return code
		}
	}
	if len(f.commands) > 0 {
		return e.script(ctx, c, f)
	}
	stop()
	return e.interactive(ictx, c, f)
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
	default:
		opts.TrustHostCert = true
	}
	return opts, nil
}

// login logs in with the password from --password-file, the terminal or
// stdin.
func (e *env) login(ctx context.Context, c *client.Client, f *flags) int {
	var pw string
	var err error
	if f.passwordFile != "" {
		pw, err = firstLine(f.passwordFile)
	} else if fd, ok := e.terminal(); ok {
		pw, err = e.readHidden(fd, fmt.Sprintf("Password for %s: ", f.user))
	} else {
		pw, err = e.readLine()
	}
	if err != nil {
		e.errorf("reading the password: %v", err)
		return exitConnErr
	}
	var lopts []client.LoginOption
	if f.newPasswordFile != "" {
		npw, err := firstLine(f.newPasswordFile)
		if err != nil {
			e.errorf("reading the new password: %v", err)
			return exitConnErr
		}
		lopts = append(lopts, client.WithNewPassword(npw))
	}
	err = c.Login(ctx, f.user, pw, lopts...)
	if errors.Is(err, client.ErrNewPasswordRequired) && len(f.commands) == 0 {
		if fd, ok := e.terminal(); ok {
			e.errorf("the host requires a new password for %s", f.user)
			var npw string
			if npw, err = e.newPassword(fd); err == nil {
				err = c.Login(ctx, f.user, pw, client.WithNewPassword(npw))
			}
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
	return exitOK
}

// newPassword asks twice for a new password on the terminal.
func (e *env) newPassword(fd int) (string, error) {
	a, err := e.readHidden(fd, "New password: ")
	if err != nil {
		return "", err
	}
	b, err := e.readHidden(fd, "Repeat new password: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the passwords do not match")
	}
	return a, nil
}

// terminal returns stdin's file descriptor if stdin is a terminal.
func (e *env) terminal() (int, bool) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// readHidden reads a line from the terminal without echo.
func (e *env) readHidden(fd int, prompt string) (string, error) {
	fmt.Fprint(e.stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	return string(b), err
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
