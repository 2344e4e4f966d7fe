// Package clienttest provides a small in-process fake MRCI host for testing
// code that uses package client. It speaks the set-up of protocol.md §4–§6
// (reply 1, 2 with HOST_CERT and a server-side TLS handshake, or 4), sends
// ASYNC_RDY, announces the configured commands with ASYNC_ADD_CMD and runs
// one handler goroutine per (command id, branch id) instance. It implements
// only what tests need; it is not a host.
package clienttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/wire"
)

// Handler runs one command instance. It reads the frames the client sends
// to the instance with Instance.Recv and must return once Recv reports that
// the session ended.
type Handler func(inst *Instance)

// Command is a command the fake host announces after ASYNC_RDY.
type Command struct {
	Name    string  // client-visible name
	Handler Handler // runs each instance
}

// Config configures a fake host. The zero value is a plaintext host
// (reply 1) speaking version 2.0.2 with no commands.
type Config struct {
	// Reply is the host header reply code: 1 (default), 2 or 4.
	Reply byte
	// Version is sent in the host header; default wire.Version.
	Version wire.HostVersion
	// Cert is the TLS certificate for reply 2; default a fresh self-signed
	// certificate for "localhost" and 127.0.0.1 (see Host.CertPEM).
	Cert *tls.Certificate
	// HostCertPEM, if set, is sent in HOST_CERT instead of Cert's PEM (to
	// simulate a man-in-the-middle).
	HostCertPEM []byte
	// NoReady suppresses ASYNC_RDY.
	NoReady bool
	// Commands are announced, in order, right after ASYNC_RDY.
	Commands []Command
	// OnSession, if set, is called with every new session after the
	// announcements and before its frames are read.
	OnSession func(s *Session)
}

// Host is a running fake host.
type Host struct {
	// Addr is the "127.0.0.1:port" address the host listens on.
	Addr string
	// CertPEM is the PEM of the host's TLS certificate (reply 2).
	CertPEM []byte

	cfg  Config
	cert tls.Certificate
	ln   net.Listener
	wg   sync.WaitGroup

	mu       sync.Mutex
	sessions map[*Session]bool
	closed   bool
}

// NewHost starts a fake host on 127.0.0.1 and registers its shutdown with
// t.Cleanup.
func NewHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	if cfg.Reply == 0 {
		cfg.Reply = wire.ReplyPlain
	}
	if cfg.Version == (wire.HostVersion{}) {
		cfg.Version = wire.Version
	}
	h := &Host{cfg: cfg, sessions: make(map[*Session]bool)}
	if cfg.Cert != nil {
		h.cert = *cfg.Cert
		h.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cfg.Cert.Certificate[0]})
	} else {
		cert, certPEM, err := SelfSigned("localhost")
		if err != nil {
			t.Fatalf("clienttest: %v", err)
		}
		h.cert, h.CertPEM = cert, certPEM
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clienttest: %v", err)
	}
	h.ln = ln
	h.Addr = ln.Addr().String()
	h.wg.Add(1)
	go h.accept()
	t.Cleanup(h.Close)
	return h
}

// Close stops the host, ends every session and waits for all goroutines,
// including the handlers.
func (h *Host) Close() {
	h.mu.Lock()
	h.closed = true
	for s := range h.sessions {
		s.Close()
	}
	h.mu.Unlock()
	h.ln.Close()
	h.wg.Wait()
}

func (h *Host) accept() {
	defer h.wg.Done()
	for {
		conn, err := h.ln.Accept()
		if err != nil {
			return
		}
		s := &Session{host: h, conn: conn, raw: conn, ids: make(map[string]uint16), handlers: make(map[uint16]Handler), insts: make(map[uint32]*Instance), done: make(chan struct{})}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			conn.Close()
			return
		}
		h.sessions[s] = true
		h.wg.Add(1)
		h.mu.Unlock()
		go s.serve()
	}
}

// SelfSigned generates a self-signed ECDSA certificate with common name cn,
// valid for the DNS name cn, "localhost" and 127.0.0.1, and returns it with
// its PEM.
func SelfSigned(cn string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Country: []string{"USA"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{cn, "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Session is one client connection of the fake host.
type Session struct {
	// Header is the client header the client sent.
	Header wire.ClientHeader

	host *Host
	raw  net.Conn
	conn net.Conn

	wmu sync.Mutex

	mu       sync.Mutex
	ids      map[string]uint16
	handlers map[uint16]Handler
	insts    map[uint32]*Instance
	ended    bool
	done     chan struct{}
	hwg      sync.WaitGroup
}

func (s *Session) serve() {
	defer s.host.wg.Done()
	defer func() {
		s.Close()
		s.mu.Lock()
		s.ended = true
		for _, inst := range s.insts {
			close(inst.in)
		}
		s.insts = nil
		s.mu.Unlock()
		s.hwg.Wait()
		s.host.mu.Lock()
		delete(s.host.sessions, s)
		s.host.mu.Unlock()
	}()
	cfg := s.host.cfg
	_ = s.raw.SetDeadline(time.Now().Add(10 * time.Second))
	hb := make([]byte, wire.ClientHeaderLen)
	if _, err := readFull(s.raw, hb); err != nil {
		return
	}
	hdr, err := wire.ParseClientHeader(hb)
	if err != nil {
		return
	}
	s.Header = hdr
	reply := wire.HostHeader{Reply: cfg.Reply, Version: cfg.Version}
	_, _ = rand.Read(reply.SessionID[:])
	if _, err := s.raw.Write(reply.Marshal()); err != nil || cfg.Reply == wire.ReplyNoCert {
		return
	}
	if cfg.Reply == wire.ReplyTLS {
		certPEM := cfg.HostCertPEM
		if certPEM == nil {
			certPEM = s.host.CertPEM
		}
		f := wire.Frame{Type: wire.TypeHostCert, Cmd: uint16(wire.AsyncSysMsg), Payload: certPEM}
		if _, err := s.raw.Write(wire.EncodeFrame(f)); err != nil {
			return
		}
		tc := tls.Server(s.raw, &tls.Config{Certificates: []tls.Certificate{s.host.cert}})
		if err := tc.Handshake(); err != nil {
			return
		}
		s.mu.Lock()
		s.conn = tc
		s.mu.Unlock()
	}
	_ = s.raw.SetDeadline(time.Time{})
	if !cfg.NoReady {
		if err := s.Send(wire.Frame{Type: wire.TypeText, Cmd: uint16(wire.AsyncRdy), Payload: wire.EncodeText("\nReady!\n\n")}); err != nil {
			return
		}
	}
	for _, c := range cfg.Commands {
		s.AddCommand(c.Name, c.Handler)
	}
	if cfg.OnSession != nil {
		cfg.OnSession(s)
	}
	r := wire.NewReader(s.conn, 0)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		s.dispatch(f)
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// dispatch hands a client frame to its instance, starting one if needed.
func (s *Session) dispatch(f wire.Frame) {
	s.mu.Lock()
	h := s.handlers[f.Cmd]
	if h == nil {
		s.mu.Unlock()
		_ = s.Send(wire.Frame{Type: wire.TypeErr, Cmd: f.Cmd, Branch: f.Branch, Payload: wire.EncodeText(fmt.Sprintf("err: No such command id: %d.", f.Cmd))})
		_ = s.Send(wire.Frame{Type: wire.TypeIdle, Cmd: f.Cmd, Branch: f.Branch})
		return
	}
	inst := s.insts[f.ID32()]
	if inst == nil {
		inst = &Instance{Session: s, Cmd: f.Cmd, Branch: f.Branch, in: make(chan wire.Frame, 64)}
		s.insts[f.ID32()] = inst
		s.hwg.Add(1)
		go func() {
			defer s.hwg.Done()
			h(inst)
			s.mu.Lock()
			if !s.ended && s.insts[f.ID32()] == inst {
				delete(s.insts, f.ID32()) // the next frame starts a new instance
			}
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()
	select {
	case inst.in <- f:
	case <-s.done:
	}
}

// Send writes a frame to the client (safe for concurrent use).
func (s *Session) Send(f wire.Frame) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	_, err := conn.Write(wire.EncodeFrame(f))
	return err
}

// SendAsync sends a frame of type t on async command id id (branch 0).
func (s *Session) SendAsync(id wire.AsyncID, t wire.TypeID, payload []byte) error {
	return s.Send(wire.Frame{Type: t, Cmd: uint16(id), Payload: payload})
}

// AddCommand assigns the lowest free id ≥ 256 to name, announces it with
// ASYNC_ADD_CMD and returns the id.
func (s *Session) AddCommand(name string, h Handler) uint16 {
	s.mu.Lock()
	id := uint16(wire.FirstCommandID)
	for s.handlers[id] != nil {
		id++
	}
	s.ids[name] = id
	s.handlers[id] = h
	s.mu.Unlock()
	nc := wire.NewCmd{ID: id, Name: name, Library: "clienttest", Summary: name + " (fake)"}
	_ = s.SendAsync(wire.AsyncAddCmd, wire.TypeNewCmd, nc.Marshal())
	return id
}

// RemoveCommand unloads name and announces it with ASYNC_RM_CMD.
func (s *Session) RemoveCommand(name string) {
	s.mu.Lock()
	id, ok := s.ids[name]
	if ok {
		delete(s.ids, name)
		delete(s.handlers, id)
	}
	s.mu.Unlock()
	if ok {
		_ = s.SendAsync(wire.AsyncRmCmd, wire.TypeCmdID, wire.EncodeCmdID(id))
	}
}

// Close drops the connection.
func (s *Session) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	s.raw.Close()
}

// Done is closed when the session has been closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Instance is one (command id, branch id) instance of a fake command.
type Instance struct {
	Session *Session // the session the instance belongs to
	Cmd     uint16   // command id
	Branch  uint16   // branch id
	in      chan wire.Frame
}

// Recv returns the next frame the client sent to the instance; ok is false
// once the session has ended.
func (i *Instance) Recv() (f wire.Frame, ok bool) {
	f, ok = <-i.in
	return f, ok
}

// Send sends a frame of type t on the instance's command and branch id.
func (i *Instance) Send(t wire.TypeID, payload []byte) error {
	return i.Session.Send(wire.Frame{Type: t, Cmd: i.Cmd, Branch: i.Branch, Payload: payload})
}

// Text sends s as TEXT.
func (i *Instance) Text(s string) error { return i.Send(wire.TypeText, wire.EncodeText(s)) }

// Err sends s as ERR.
func (i *Instance) Err(s string) error { return i.Send(wire.TypeErr, wire.EncodeText(s)) }

// PrivText sends s as PRIV_TEXT (a hidden-input prompt).
func (i *Instance) PrivText(s string) error { return i.Send(wire.TypePrivText, wire.EncodeText(s)) }

// Idle sends IDLE.
func (i *Instance) Idle() error { return i.Send(wire.TypeIdle, nil) }

// Echo is a Handler that answers every TEXT frame with the same text and
// IDLE, and every other frame with IDLE.
func Echo(inst *Instance) {
	for {
		f, ok := inst.Recv()
		if !ok {
			return
		}
		if f.Type == wire.TypeText {
			_ = inst.Text(wire.DecodeText(f.Payload))
		}
		_ = inst.Idle()
	}
}

// Fail is a Handler that answers every frame with ERR "err: failed: <text>\n"
// and IDLE.
func Fail(inst *Instance) {
	for {
		f, ok := inst.Recv()
		if !ok {
			return
		}
		_ = inst.Err("err: failed: " + wire.DecodeText(f.Payload) + "\n")
		_ = inst.Idle()
	}
}

// Account is a user of the Auth handler.
type Account struct {
	// Password is the account's current password.
	Password string
	// NewPasswordRequired makes auth ask for a new password after the
	// correct one; the new password must be at least 8 characters.
	NewPasswordRequired bool
	// Rank is reported in MY_INFO.
	Rank uint32
}

// Auth returns a Handler that imitates the host's auth command
// (commands.md §4): "-user NAME", a PRIV_TEXT password prompt repeated
// after "err: access denied", the optional forced password change, then
// MY_INFO on ASYNC_SYS_MSG, TEXT "Access granted." and IDLE. An empty
// answer or TERM_CMD cancels. Password changes are stored in accounts,
// which must not be used concurrently by the caller.
func Auth(accounts map[string]*Account) Handler {
	var mu sync.Mutex
	return func(inst *Instance) {
		for {
			f, ok := inst.Recv()
			if !ok {
				return
			}
			if f.Type != wire.TypeText {
				_ = inst.Idle()
				continue
			}
			name := wire.GetParam(wire.ParseArgs(wire.DecodeText(f.Payload), 2), "-user")
			mu.Lock()
			acct := accounts[strings.ToLower(name)]
			mu.Unlock()
			if name == "" {
				_ = inst.Err("err: -user/-email missing, empty or invalid\n")
				_ = inst.Idle()
				continue
			}
			if acct == nil {
				_ = inst.Err("err: no such user\n")
				_ = inst.Idle()
				continue
			}
			if !authDialog(inst, &mu, name, acct) {
				return
			}
		}
	}
}

// authDialog runs the prompts of one auth round; it returns false when the
// session ended.
func authDialog(inst *Instance, mu *sync.Mutex, name string, acct *Account) bool {
	// answer reads the next answer; cancelled is true for TERM_CMD or "".
	answer := func(prompt string) (text string, cancelled, ok bool) {
		_ = inst.PrivText(prompt)
		f, ok := inst.Recv()
		if !ok {
			return "", true, false
		}
		if f.Type == wire.TypeTermCmd || f.Type == wire.TypeKillCmd {
			_ = inst.Idle()
			return "", true, true
		}
		text = wire.DecodeText(f.Payload)
		if text == "" {
			_ = inst.Text("\n")
			_ = inst.Idle()
			return "", true, true
		}
		return text, false, true
	}
	for {
		pw, cancelled, ok := answer("Enter password (blank to cancel): ")
		if cancelled {
			return ok
		}
		mu.Lock()
		good := pw == acct.Password
		mu.Unlock()
		if good {
			break
		}
		_ = inst.Err("err: access denied\n")
	}
	if acct.NewPasswordRequired {
		for {
			pw, cancelled, ok := answer("Enter a new password (blank to cancel): ")
			if cancelled {
				return ok
			}
			if len(pw) >= 8 {
				mu.Lock()
				acct.Password, acct.NewPasswordRequired = pw, false
				mu.Unlock()
				break
			}
			_ = inst.Err("err: invalid password\n")
		}
	}
	mi := wire.MyInfo{Peer: wire.PeerInfo{UserName: name, DisplayName: name}, Rank: acct.Rank}
	mi.Peer.UserID[0] = 1
	_ = inst.Session.SendAsync(wire.AsyncSysMsg, wire.TypeMyInfo, mi.Marshal())
	_ = inst.Text("Access granted.\n")
	_ = inst.Idle()
	return true
}
