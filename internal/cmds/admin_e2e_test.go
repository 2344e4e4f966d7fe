package cmds_test

// End-to-end tests of the host administration commands (commands.md
// §13-14) over real sessions of a real host.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

var adminCmds = []string{"add_ban", "rm_ban", "ls_bans", "ls_act_log", "ls_auth_log", "host_config",
	"close_host", "restart_host", "add_cert", "rm_cert", "cert_info", "ls_certs"}

// script answers the prompts of an interactive round in order and records
// them. A TEXT frame is a prompt when it ends like one (": ", "? ", ") ").
type script struct {
	answers []string
	prompts []string
}

func (s *script) Answer(_ context.Context, f wire.Frame) (string, error) {
	s.prompts = append(s.prompts, wire.DecodeText(f.Payload))
	if len(s.answers) == 0 {
		return "", errors.New("script: no answer left for " + wire.DecodeText(f.Payload))
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *script) IsTextPrompt(f wire.Frame) bool {
	t := wire.DecodeText(f.Payload)
	return strings.HasSuffix(t, ": ") || strings.HasSuffix(t, "? ") || strings.HasSuffix(t, ") ")
}

// interact runs a command round answering its prompts with answers.
func (s *sess) interact(t *testing.T, cmd, args string, answers ...string) (*client.Result, *script) {
	t.Helper()
	sc := &script{answers: answers}
	res, err := s.c.RunInteractive(ctx10(t), cmd, args, sc)
	if err != nil {
		t.Fatalf("%s: %s %s: %v (prompts %q)", s, cmd, args, err, sc.prompts)
	}
	if len(sc.answers) != 0 {
		t.Fatalf("%s: %s: answers left over %q (prompts %q)", s, cmd, sc.answers, sc.prompts)
	}
	return res, sc
}

func bans(t *testing.T, st store.Store) []string {
	t.Helper()
	b, err := st.Bans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// actLog returns the log_entry cells of the activity log containing text.
func actLog(t *testing.T, st store.Store, text string) []string {
	t.Helper()
	rows, err := st.ListView(context.Background(), store.ViewActLog, []store.Filter{{Column: "log_entry", Value: text}}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Cells[4])
	}
	return out
}

func TestAdminCommandsOnlyForRank1(t *testing.T) {
	e := newEnv(t)
	root := e.login("root1", "root1")
	var low *sess
	for _, rank := range []uint32{2, 3, 100} {
		name := fmt.Sprintf("rank%d", rank)
		e.h.CreateUser(t, name, testPassword, rank)
		e.users[name] = must(e.h.Store.UserByName(context.Background(), name))
		s := e.login(name, name)
		for _, cmd := range adminCmds {
			if _, ok := s.c.CommandID(cmd); ok {
				t.Errorf("rank %d has %s", rank, cmd)
			}
		}
		if rank == 2 {
			low = s
		}
	}
	anon := e.h.Dial(t)
	for _, name := range adminCmds {
		if _, ok := root.c.CommandID(name); !ok {
			t.Errorf("rank 1 does not have %s", name)
		}
		if _, ok := anon.CommandID(name); ok {
			t.Errorf("a session without login has %s", name)
		}
	}
	// Ranking a command opens it to that rank, as for every command.
	e.h.RankAll(t, 2, "ls_bans")
	if _, err := low.c.WaitCommand(ctx10(t), "ls_bans"); err != nil {
		t.Fatalf("rank 2 did not get ranked ls_bans: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestBanCommands(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	st := e.h.Store
	root.fails(t, "add_ban", "", "-ip missing")
	root.fails(t, "add_ban", "-ip 1.2.3", "'1.2.3' is not a valid ip address")
	root.fails(t, "add_ban", "-ip host.example", "'host.example' is not a valid ip address")
	root.fails(t, "add_ban", "-ip 10.0.0.0/33", "'10.0.0.0/33' is not a valid ip address")
	for _, lo := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.0/8", "0.0.0.0/0", "::/0"} {
		root.fails(t, "add_ban", "-ip "+lo, "'"+lo+"' covers a loopback address; loopback clients cannot be "+
			"banned (the operator must always be able to connect locally)")
	}
	root.fails(t, "rm_ban", "", "-ip missing")
	root.fails(t, "rm_ban", "-ip nope", "'nope' is not a valid ip address")
	if b := bans(t, st); len(b) != 0 {
		t.Fatalf("refused bans changed the ban list: %v", b)
	}

	root.ok(t, "add_ban", "-ip ::ffff:192.0.2.1")
	root.ok(t, "add_ban", "-ip 192.0.2.1") // the same address: silently kept once
	root.ok(t, "add_ban", "-ip 2001:DB8::/32")
	root.ok(t, "add_ban", "-ip 198.51.100.77/24")
	if b := bans(t, st); !slices.Equal(b, []string{"192.0.2.1", "2001:db8::/32", "198.51.100.0/24"}) {
		t.Fatalf("bans = %v", b)
	}
	res := root.ok(t, "ls_bans", "-ip_address 2001")
	if !strings.Contains(res.Text(), "2001:db8::/32") || strings.Contains(res.Text(), "192.0.2.1") {
		t.Fatalf("ls_bans -ip_address 2001:\n%s", res.Text())
	}
	// The host applies the list: the banned range is refused at once.
	if !e.h.Host.Banned(netip.MustParseAddr("198.51.100.9")) || !e.h.Host.Banned(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Fatal("host does not apply the new bans")
	}
	root.ok(t, "rm_ban", "-ip ::ffff:192.0.2.1")
	root.ok(t, "rm_ban", "-ip 203.0.113.1") // not banned: nothing happens
	if b := bans(t, st); !slices.Equal(b, []string{"2001:db8::/32", "198.51.100.0/24"}) {
		t.Fatalf("bans after rm_ban = %v", b)
	}
	if e.h.Host.Banned(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("host still applies a lifted ban")
	}
	// ls_bans -delete lifts the matching bans after the confirmation.
	res, _ = root.interact(t, "ls_bans", "-ip_address 198.51 -delete", "y")
	if !strings.Contains(res.Text(), "1 rows deleted.") {
		t.Fatalf("ls_bans -delete:\n%s", res.Text())
	}
	if b := bans(t, st); !slices.Equal(b, []string{"2001:db8::/32"}) {
		t.Fatalf("bans after ls_bans -delete = %v", b)
	}
	if e.h.Host.Banned(netip.MustParseAddr("198.51.100.9")) {
		t.Fatal("host still applies a ban deleted with ls_bans")
	}
	// Every change is in the activity log with who made it.
	got := actLog(t, st, "ban ")
	want := []string{"ban added: 192.0.2.1 (by boss)", "ban added: 192.0.2.1 (by boss)", "ban added: 2001:db8::/32 (by boss)",
		"ban added: 198.51.100.0/24 (by boss)", "ban removed: 192.0.2.1 (by boss)", "ban removed: 203.0.113.1 (by boss)"}
	if !slices.Equal(got, want) {
		t.Fatalf("activity log %q\nwant %q", got, want)
	}
}

// globalAddr returns a non-loopback address of this machine, or skips.
func globalAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := host.InterfaceAddrs()
	if err != nil {
		t.Skipf("interface addresses: %v", err)
	}
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return netip.Addr{}
}

func TestBanEndsConnectedSession(t *testing.T) {
	ip := globalAddr(t)
	h := hosttest.StartWith(t, hosttest.Options{ListenAddr: "0.0.0.0:0"})
	_, port, _ := net.SplitHostPort(h.Addr)
	loop, outside := net.JoinHostPort("127.0.0.1", port), net.JoinHostPort(ip.String(), port)
	dial := func(addr string) (*client.Client, error) {
		c, err := client.Dial(ctx10(t), addr, client.Options{PinnedCert: string(h.Cert.CertPEM), AppName: "bantest", CommonName: "localhost"})
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
		return c, err
	}
	root, err := dial(loop)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Login(ctx10(t), "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	victim, err := dial(outside)
	if err != nil {
		t.Fatal(err)
	}
	if !victim.Encrypted() {
		t.Fatal("a client from a non-loopback address got plaintext")
	}
	res, err := root.Run(ctx10(t), "add_ban", "-ip "+ip.String()+"/32")
	if err != nil || res.Err() != nil {
		t.Fatalf("add_ban: %v %v", err, res.Err())
	}
	// The victim gets the notice, then its connection ends.
	var notice string
	for f := range victim.Async() {
		if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeText {
			notice = wire.DecodeText(f.Payload)
		}
	}
	if notice != host.NoticeBanned {
		t.Fatalf("victim's last system message %q, want the ban notice", notice)
	}
	<-victim.Done()
	// New connections from it are refused; root stays connected.
	if c, err := dial(outside); err == nil {
		t.Fatalf("a banned address connected (session %v)", c.SessionID())
	}
	if _, err := root.Run(ctx10(t), "my_info", ""); err != nil {
		t.Fatalf("root's session was ended too: %v", err)
	}
	res, _ = root.Run(ctx10(t), "rm_ban", "-ip "+ip.String())
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	if _, err := dial(outside); err != nil {
		t.Fatalf("a lifted ban still refuses: %v", err)
	}
}

func TestBanKeepsSessionsWhenSettingOff(t *testing.T) {
	ip := globalAddr(t)
	h := hosttest.StartWith(t, hosttest.Options{ListenAddr: "0.0.0.0:0", Setup: func(st store.Store) {
		a := store.DefaultAdminSettings()
		a.BanEndsSessions = false
		if err := st.SaveAdminSettings(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}})
	_, port, _ := net.SplitHostPort(h.Addr)
	root, err := client.Dial(ctx10(t), net.JoinHostPort("127.0.0.1", port), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.Login(ctx10(t), "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	victim, err := client.Dial(ctx10(t), net.JoinHostPort(ip.String(), port), client.Options{PinnedCert: string(h.Cert.CertPEM), CommonName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	if res, err := root.Run(ctx10(t), "add_ban", "-ip "+ip.String()); err != nil || res.Err() != nil {
		t.Fatalf("add_ban: %v %v", err, res.Err())
	}
	if res, err := victim.Run(ctx10(t), "my_info", ""); err != nil || res.Err() != nil {
		t.Fatalf("the connected session was ended although ban_ends_sessions is 0: %v", err)
	}
}

func TestLogViewers(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	// A failed and a good log-in of another account.
	e.user("bob")
	c := e.h.Dial(t)
	if err := c.Login(ctx10(t), "bob", "wrong-Password-1"); err == nil {
		t.Fatal("wrong password accepted")
	}
	e.login("bob", "bob")
	res := root.ok(t, "ls_auth_log", "-user_name bob")
	lines := strings.Split(strings.TrimSpace(res.Text()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "time_stamp") || !strings.Contains(lines[2], "bob") {
		t.Fatalf("ls_auth_log:\n%s", res.Text())
	}
	if f2 := strings.Fields(lines[2]); f2[len(f2)-1] != "0" {
		t.Fatalf("first attempt should be refused:\n%s", res.Text())
	}
	if f3 := strings.Fields(lines[3]); f3[len(f3)-1] != "1" {
		t.Fatalf("second attempt should be accepted:\n%s", res.Text())
	}
	// ls_auth_log is read-only: -delete is just an unknown filter.
	root.ok(t, "ls_auth_log", "-delete")
	rows, _ := e.h.Store.ListView(context.Background(), store.ViewAuthLog, nil, store.Page{})
	if len(rows) < 3 {
		t.Fatalf("auth log lost rows: %v", rows)
	}
	res = root.ok(t, "ls_act_log", "-log_entry Session Active")
	if !strings.Contains(res.Text(), "Session Active") || !strings.Contains(res.Text(), "hosttest") {
		t.Fatalf("ls_act_log:\n%s", res.Text())
	}
	res, _ = root.interact(t, "ls_act_log", "-log_entry Session -delete", "y")
	if !strings.Contains(res.Text(), "rows deleted.") {
		t.Fatalf("ls_act_log -delete:\n%s", res.Text())
	}
	if got := actLog(t, e.h.Store, "Session Active"); len(got) != 0 {
		t.Fatalf("rows left after delete: %q", got)
	}
}

// configAnswers drives host_config: every pair is an option and a value
// (the value is answered again after an error when listed twice).
func TestHostConfig(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	st := e.h.Store
	before, _ := st.Settings(context.Background())
	beforeAdmin, _ := st.AdminSettings(context.Background())
	res, sc := root.interact(t, "host_config", "",
		"99", "x", // not options: asked again
		"1", "abc", "0", "4294967296", "", // errors, then back to the menu
		"4", "2", "",
		"6", "/nonexistent/mailer", "",
		"7", "%subject% %message_body%", "",
		"11", "x", "0", "257", "",
		"12", "yes", "",
		"13", "-1", "",
		"0")
	wantErrs := []string{"invalid 32-bit unsigned integer", "value cannot be 0", "invalid 32-bit unsigned integer",
		"must be 0 or 1", "file '/nonexistent/mailer' does not exist", "keyword %target_email% missing",
		"not a valid integer", "must be 1–256", "must be 1–256", "must be 0 or 1", "invalid 32-bit unsigned integer"}
	checkErrs(t, "host_config refusals", res, wantErrs)
	if n := strings.Count(strings.Join(sc.prompts, "|"), "select an option: "); n != 10 {
		t.Errorf("%d option prompts, want 10: %q", n, sc.prompts)
	}
	after, _ := st.Settings(context.Background())
	afterAdmin, _ := st.AdminSettings(context.Background())
	if after != before || afterAdmin != beforeAdmin {
		t.Fatalf("refused values changed the settings:\n%+v\n%+v", after, afterAdmin)
	}
	// The start screen lists the settings and the exact menu.
	text := res.Text()
	for _, want := range []string{"Max Sessions:", "Database Path:", e.h.DataDir, "Mailer Command:",
		" 1: set the auto-ban threshold.", "11: set the maximum number of sub-channels per channel.", " 0: exit"} {
		if !strings.Contains(text, want) {
			t.Errorf("start screen lacks %q:\n%s", want, text)
		}
	}

	// Valid values are stored and applied.
	root.interact(t, "host_config", "",
		"1", "7", "2", "8", "3", "5", "4", "1", "5", "9", "6", "/bin/sh",
		"7", "-c \"%SUBJECT% %target_email% %message_body%\"", "8", "0", "9", "0", "10", "0", "11", "256",
		"12", "0", "13", "30", "14", "0", "0")
	got, _ := st.Settings(context.Background())
	want := before
	want.AutoBanThreshold, want.AutoLockThreshold, want.MaxSessions, want.AllowPublicRegistrations = 7, 8, 5, true
	want.InitialHostRank, want.MailerExecutable, want.MailerSendCommand = 9, "/bin/sh", "-c \"%SUBJECT% %target_email% %message_body%\""
	want.EnablePwReset, want.EnableEmailVerify, want.ActiveUpdates, want.MaxSubChannels = false, false, false, 256
	if got != want {
		t.Fatalf("settings\n%+v\nwant\n%+v", got, want)
	}
	if a, _ := st.AdminSettings(context.Background()); a != (store.AdminSettings{LogRetentionDays: 30}) {
		t.Fatalf("admin settings %+v", a)
	}
	// Option 3 applied at once (ASYNC_MAXSES).
	if m := e.h.Host.MaxSessions(); m != 5 {
		t.Fatalf("live max sessions %d, want 5", m)
	}
	if n := len(actLog(t, st, "setting ")); n != 14 {
		t.Fatalf("%d settings changes logged, want 14", n)
	}
	res = root.ok(t, "host_info", "")
	if !strings.Contains(res.Text(), "/5\n") {
		t.Fatalf("host_info load does not show the new limit:\n%s", res.Text())
	}
}

func TestHostInfoShowsActualAddress(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	res := root.ok(t, "host_info", "")
	host, port, _ := net.SplitHostPort(e.h.Addr)
	text := res.Text()
	for _, want := range []string{"Listening Addr: " + host + "\n", "Listening Port: " + port + "\n",
		"Stored Addr:    127.0.0.1\n", "Stored Port:    35516\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("host_info lacks %q:\n%s", want, text)
		}
	}
}

func TestCloseHostConfirmation(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	res, sc := root.interact(t, "close_host", "", "close", "CLOSE ", "")
	checkErrs(t, "close_host", res, []string{"type CLOSE exactly", "type CLOSE exactly"})
	if len(sc.prompts) != 3 || !strings.Contains(res.Text(), "cancelled.") {
		t.Fatalf("prompts %q, text %q", sc.prompts, res.Text())
	}
	res, _ = root.interact(t, "restart_host", "", "restart", "")
	checkErrs(t, "restart_host", res, []string{"type RESTART exactly"})
	select {
	case <-e.h.Done():
		t.Fatal("the host stopped although every confirmation was refused")
	default:
	}
	root.ok(t, "my_info", "")
}

// drainTest connects n anonymous sessions and root, runs cmd with word,
// and checks that every session got notice and was ended.
func drainTest(t *testing.T, h *hosttest.Host, n int, cmd, word, notice string) {
	t.Helper()
	var clients []*client.Client
	for range n {
		clients = append(clients, h.Dial(t))
	}
	root := h.Root(t)
	clients = append(clients, root)
	var wg sync.WaitGroup
	got := make([]string, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range c.Async() {
				if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeText {
					got[i] = wire.DecodeText(f.Payload)
				}
			}
		}()
	}
	sc := &script{answers: []string{word}}
	_, _ = root.RunInteractive(ctx10(t), cmd, "", sc) // the session ends with the host: no IDLE needed
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("sessions were not ended")
	}
	for i, g := range got {
		if g != notice {
			t.Errorf("session %d: last system message %q, want %q", i, g, notice)
		}
	}
}

func TestCloseHostDrains50Sessions(t *testing.T) {
	h := hosttest.Start(t) // plaintext (loopback)
	drainTest(t, h, 50, "close_host", "CLOSE", host.NoticeClosing)
	select {
	case <-h.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after close_host")
	}
	if err := h.ServeErr(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", h.Addr); err == nil {
		t.Fatal("the host still listens after close_host")
	}
	if got := actLog(t, h.Store, "host close requested"); !slices.Equal(got, []string{"host close requested (by root)"}) {
		t.Fatalf("activity log %q", got)
	}
}

func TestRestartHostDrains50SessionsAndListensAgain(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	// A setting changed behind the host's back is re-read by the restart.
	s, _ := h.Store.Settings(context.Background())
	s.MaxSessions = 77
	if err := h.Store.SaveSettings(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	drainTest(t, h, 50, "restart_host", "RESTART", host.NoticeRestarting)
	// Reconnect (the listener comes back on the same address).
	addr, err := h.Host.WaitListening(ctx10(t))
	if err != nil || addr != h.Addr {
		t.Fatalf("listening again on %q (%v), want %s", addr, err, h.Addr)
	}
	c, err := client.Dial(ctx10(t), h.Addr, client.Options{PinnedCert: string(h.Cert.CertPEM)})
	if err != nil {
		t.Fatalf("could not reconnect after restart: %v", err)
	}
	defer c.Close()
	if !c.Encrypted() {
		t.Fatal("not encrypted after restart")
	}
	if err := c.Login(ctx10(t), "root", hosttest.RootPassword); err != nil {
		t.Fatal(err)
	}
	if m := h.Host.MaxSessions(); m != 77 {
		t.Fatalf("max sessions after restart %d, want the stored 77", m)
	}
	select {
	case <-h.Done():
		t.Fatal("Serve returned after restart_host")
	default:
	}
}

// TestHostConfigSMTP: the mail settings are host_config options too; the
// SMTP password is stored but never printed back, bad values are refused
// with their reason and change nothing.
func TestHostConfigSMTP(t *testing.T) {
	e := newEnv(t)
	root := e.login("boss", "boss")
	st := e.h.Store
	num := func(key string) string {
		for i, k := range store.EmailSettingKeys {
			if k == key {
				return strconv.Itoa(15 + i)
			}
		}
		t.Fatalf("no option for %s", key)
		return ""
	}
	before, _ := st.EmailSettings(context.Background())
	res, _ := root.interact(t, "host_config", "",
		num(store.KeySMTPTLS), "sometimes", "",
		num(store.KeySMTPPort), "70000", "",
		"0")
	if len(res.Errors()) != 2 {
		t.Fatalf("refusals: %q", res.Errors())
	}
	if after, _ := st.EmailSettings(context.Background()); after != before {
		t.Fatalf("refused values changed the mail settings: %+v", after)
	}
	const secret = "s3cret-Pass-word"
	res, _ = root.interact(t, "host_config", "",
		num(store.KeySMTPHost), "mail.example.com", num(store.KeySMTPPort), "2525",
		num(store.KeySMTPUser), "mrci", num(store.KeySMTPPassword), secret,
		num(store.KeySMTPFrom), "MRCI <mrci@example.com>", "0")
	es, _ := st.EmailSettings(context.Background())
	if es.SMTPHost != "mail.example.com" || es.SMTPPort != 2525 || es.SMTPUser != "mrci" ||
		es.SMTPPassword != secret || es.SMTPFrom != "MRCI <mrci@example.com>" {
		t.Fatalf("mail settings %+v", es)
	}
	res2, _ := root.interact(t, "host_config", "", "0")
	for _, r := range []string{res.Text(), res2.Text()} {
		if strings.Contains(r, secret) {
			t.Fatalf("host_config printed the SMTP password:\n%s", r)
		}
	}
	for _, want := range []string{"SMTP Host:", "mail.example.com", "SMTP Password:", "(set)", "Email Verification:"} {
		if !strings.Contains(res2.Text(), want) {
			t.Errorf("settings screen lacks %q:\n%s", want, res2.Text())
		}
	}
	for _, row := range actLog(t, st, "setting smtp_password") {
		if strings.Contains(row, secret) {
			t.Fatalf("the activity log holds the SMTP password: %q", row)
		}
	}
}
