package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/tlsbuf"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/mrciwire"
)

// Version is the version of this client library; it is part of the default
// application name sent in the client header.
const Version = "0.1.0"

// Defaults used when the corresponding Options field is zero.
const (
	DefaultAsyncBuffer   = 256
	DefaultMaxCallBuffer = 64 << 20
	DefaultCommandSettle = time.Second
	DefaultWriteTimeout  = time.Minute
	maxHostCertLen       = 1 << 20
)

var (
	// ErrClosed is returned by methods of a Client that was closed with
	// Client.Close.
	ErrClosed = errors.New("client: closed")
	// ErrConnectionLost is wrapped by the errors returned after the
	// connection to the host ended for any reason other than Client.Close.
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrIncompatibleHost is wrapped by Dial's error when the host reports a
	// major version other than 2 or an unknown reply code.
	ErrIncompatibleHost = errors.New("client: host not compatible")
	// ErrNoCertificate is wrapped by Dial's error when the host replies 4:
	// it has no certificate for the requested common name.
	ErrNoCertificate = errors.New("client: host has no certificate")
	// ErrPlaintext is returned by Dial when Options.RequireTLS is set and the
	// host accepted the connection without encryption.
	ErrPlaintext = errors.New("client: host did not offer TLS")
	// ErrCertMismatch is wrapped by Dial's error when the host's certificate
	// does not match Options.PinnedCert (or, with Options.TrustHostCert, the
	// TLS handshake presented a different certificate than HOST_CERT).
	ErrCertMismatch = errors.New("client: host certificate does not match")
	// ErrUnknownCommand is wrapped by the error of Start, Run and friends when
	// the host has not announced a command of that name.
	ErrUnknownCommand = errors.New("unknown command")
)

// Options configures Dial. The zero value is usable: a plaintext host
// (loopback) needs nothing, a TLS host is then verified against the system
// root CAs.
type Options struct {
	// AppName is sent in the client header (at most 67 UTF-16 units are
	// kept). Default "mrci-client <Version>".
	AppName string
	// CommonName is the certificate common name the host should present,
	// sent in the client header, and the server name verified with RootCAs
	// or the system roots. Default: the host part of the address.
	CommonName string

	// PinnedCert, if set, trusts exactly one host certificate: either its
	// PEM text or its SHA-256 fingerprint (64 hex digits, colons and
	// whitespace ignored, optional "sha256:" prefix). The HOST_CERT the host
	// sends must be that certificate and the TLS handshake must prove
	// possession of its key. Validity dates and names are not checked.
	// Takes precedence over RootCAs and TrustHostCert.
	PinnedCert string
	// RootCAs, if set, verifies the host certificate normally against this
	// pool with ServerName = CommonName. Takes precedence over TrustHostCert.
	RootCAs *x509.CertPool
	// TrustHostCert trusts whatever certificate the host sends in HOST_CERT
	// (the TLS handshake must still present that very certificate), like
	// Cmdr does. Because HOST_CERT travels in plaintext, this only protects
	// against passive eavesdropping: an active man-in-the-middle can send
	// its own certificate. Use PinnedCert or RootCAs where that matters; see
	// Client.HostCert and Fingerprint for trust-on-first-use.
	TrustHostCert bool
	// RequireTLS makes Dial fail with ErrPlaintext when the host accepts the
	// connection without encryption (it does so for loopback clients).
	RequireTLS bool
	// TLSConfig, if set, is cloned and used as the base TLS configuration
	// (client certificates, versions, ...). Dial sets ServerName, RootCAs,
	// InsecureSkipVerify and VerifyConnection according to the fields
	// above. The default minimum version is TLS 1.2.
	TLSConfig *tls.Config

	// Dialer is used for the TCP connection; default a zero net.Dialer.
	Dialer *net.Dialer
	// DialContext, if set, opens the connection instead of Dialer (network
	// "tcp" and the address given to Dial). It may return any stream that
	// carries the MRCI bytes, e.g. the web console's WebSocket as a
	// net.Conn; the set-up then runs over it as over TCP.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// AsyncBuffer is the capacity of the Async channel. Default 256.
	AsyncBuffer int
	// MaxCallBuffer caps the payload bytes queued for one Call that its
	// consumer has not read yet; beyond it the call fails with
	// ErrCallOverflow. Default 64 MiB.
	MaxCallBuffer int
	// MaxPayload caps the payload size of frames read from the host; a
	// larger frame ends the connection. Default mrciwire.MaxPayload.
	MaxPayload int
	// CommandSettle is how long Start waits for a command that has not been
	// announced yet: it gives up with ErrUnknownCommand once the command
	// table has not changed for this long. Default 1s.
	CommandSettle time.Duration
	// WriteTimeout bounds each write to the host; a write that takes longer
	// ends the connection. Default 1 minute; negative disables it.
	WriteTimeout time.Duration
}

// Client is a connection to an MRCI host. Create one with Dial.
type Client struct {
	opts      Options
	raw       net.Conn // the TCP connection
	conn      net.Conn // raw, or the TLS connection on top of it
	fr        *wire.Reader
	hdr       wire.HostHeader
	cn        string
	hostCert  *x509.Certificate
	certPEM   []byte
	encrypted bool

	// Writes are batched: Send appends the encoded frame to wbuf and wakes
	// the flusher goroutine, which writes everything pending at once (many
	// frames per write when the caller sends faster than one write each).
	wmu         sync.Mutex
	wbuf        []byte
	wspare      []byte
	wnotify     chan struct{} // wakes the flusher
	wflushed    chan struct{} // signalled after each write, for backpressure
	writing     bool          // the flusher holds a batch it is writing
	flusherDone chan struct{}

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever cmds or myInfo change
	cmds     map[string]mrciwire.NewCmd
	names    map[uint16]string
	lastCmd  time.Time // last change of the command table (or ready time)
	calls    map[uint32]*Call
	draining map[uint32]bool
	myInfo   *mrciwire.MyInfo
	infoGen  uint64
	// loginErr is the last "login failed" error the host reported on
	// ASYNC_SYS_MSG (it accepted the password but could not log the
	// session in), and loginErrGen counts them.
	loginErr    string
	loginErrGen uint64

	async   chan mrciwire.Frame
	dropped atomic.Uint64

	ready      chan struct{}
	readyOnce  sync.Once
	done       chan struct{}
	failOnce   sync.Once
	err        error // set before done is closed
	readerDone chan struct{}
}

// Dial connects to the MRCI host at addr ("host:port"), performs the set-up
// of protocol.md §2–§6 and returns once the host has sent ASYNC_RDY. ctx
// bounds the whole set-up (TCP connect, headers, TLS handshake, ready); it
// has no effect on the returned Client afterwards.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if opts.AppName == "" {
		opts.AppName = "mrci-client " + Version
	}
	if opts.CommonName == "" {
		opts.CommonName = host
	}
	if opts.AsyncBuffer <= 0 {
		opts.AsyncBuffer = DefaultAsyncBuffer
	}
	if opts.MaxCallBuffer <= 0 {
		opts.MaxCallBuffer = DefaultMaxCallBuffer
	}
	if opts.CommandSettle <= 0 {
		opts.CommandSettle = DefaultCommandSettle
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	var pin []byte
	if opts.PinnedCert != "" {
		if pin, err = parsePin(opts.PinnedCert); err != nil {
			return nil, err
		}
	}
	dial := opts.DialContext
	if dial == nil {
		d := opts.Dialer
		if d == nil {
			d = &net.Dialer{}
		}
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c := &Client{
		opts:        opts,
		raw:         raw,
		conn:        raw,
		cn:          opts.CommonName,
		changed:     make(chan struct{}),
		cmds:        make(map[string]mrciwire.NewCmd),
		names:       make(map[uint16]string),
		calls:       make(map[uint32]*Call),
		draining:    make(map[uint32]bool),
		async:       make(chan mrciwire.Frame, opts.AsyncBuffer),
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
		readerDone:  make(chan struct{}),
		wnotify:     make(chan struct{}, 1),
		wflushed:    make(chan struct{}, 1),
		flusherDone: make(chan struct{}),
	}
	// Until the session is ready, a cancelled ctx aborts any blocked I/O.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	if err := c.handshake(ctx, pin); err != nil {
		stop()
		raw.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: dial %s: %w", addr, ctx.Err())
		}
		return nil, err
	}
	c.fr = wire.NewReader(c.conn, opts.MaxPayload)
	go c.readLoop()
	go c.flusher()
	select {
	case <-c.ready:
	case <-c.done:
	case <-ctx.Done():
	}
	if !stop() || ctx.Err() != nil {
		c.Close()
		return nil, fmt.Errorf("client: dial %s: %w", addr, ctx.Err())
	}
	select {
	case <-c.done:
		c.Close()
		return nil, fmt.Errorf("client: waiting for ASYNC_RDY: %w", c.Err())
	default:
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

// handshake exchanges the headers and, for reply 2, HOST_CERT and TLS.
func (c *Client) handshake(ctx context.Context, pin []byte) error {
	hdr := wire.ClientHeader{AppName: c.opts.AppName, CommonName: c.cn}
	if _, err := c.raw.Write(hdr.Marshal()); err != nil {
		return fmt.Errorf("client: sending client header: %w", err)
	}
	var hb [wire.HostHeaderLen]byte
	if _, err := io.ReadFull(c.raw, hb[:]); err != nil {
		return fmt.Errorf("client: reading host header: %w", err)
	}
	h, _ := wire.ParseHostHeader(hb[:])
	c.hdr = h
	if h.Reply == wire.ReplyNoCert {
		return fmt.Errorf("%w for %s", ErrNoCertificate, c.cn)
	}
	if h.Version.Major != 2 {
		return fmt.Errorf("%w: version %s (need major 2)", ErrIncompatibleHost, h.Version)
	}
	switch h.Reply {
	case wire.ReplyPlain:
		if c.opts.RequireTLS {
			return ErrPlaintext
		}
		return nil
	case wire.ReplyTLS:
		return c.startTLS(ctx, pin)
	default:
		return fmt.Errorf("%w: unknown reply code %d", ErrIncompatibleHost, h.Reply)
	}
}

// startTLS reads the plaintext HOST_CERT frame and runs the TLS client
// handshake on the same connection.
func (c *Client) startTLS(ctx context.Context, pin []byte) error {
	var fh [wire.FrameHeaderLen]byte
	if _, err := io.ReadFull(c.raw, fh[:]); err != nil {
		return fmt.Errorf("client: reading HOST_CERT: %w", err)
	}
	h, _ := wire.ParseFrameHeader(fh[:])
	if h.Type != mrciwire.TypeHostCert || h.Cmd != uint16(mrciwire.AsyncSysMsg) {
		return fmt.Errorf("%w: expected HOST_CERT on cmd 2, got %s on cmd %d", ErrIncompatibleHost, h.Type, h.Cmd)
	}
	if h.Len > maxHostCertLen {
		return fmt.Errorf("%w: HOST_CERT of %d bytes", ErrIncompatibleHost, h.Len)
	}
	c.certPEM = make([]byte, h.Len)
	if _, err := io.ReadFull(c.raw, c.certPEM); err != nil {
		return fmt.Errorf("client: reading HOST_CERT: %w", err)
	}
	cert, certErr := parseCertPEM(c.certPEM)
	c.hostCert = cert
	cfg, err := c.tlsConfig(pin, cert, certErr)
	if err != nil {
		return err
	}
	// tlsbuf: the flusher gathers the records of one write into few
	// socket writes.
	tc := tls.Client(tlsbuf.New(c.raw), cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("client: TLS handshake: %w", err)
	}
	c.conn = tc
	c.encrypted = true
	return nil
}

// readLoop is the single reader goroutine.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer close(c.async)
	for {
		f, err := c.readFrame()
		if err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			return
		}
		if f.Cmd < mrciwire.FirstCommandID {
			c.handleAsync(f)
		} else {
			c.route(f)
		}
	}
}

// readFrame reads one frame. A payload of bulk size (a download chunk) is
// read into a pooled buffer that Download gives back once it has written
// it; other readers of such a frame simply keep it.
func (c *Client) readFrame() (mrciwire.Frame, error) {
	h, err := c.fr.ReadHeader()
	if err != nil {
		return mrciwire.Frame{}, err
	}
	var p []byte
	if h.Len >= bulkPayloadMin && h.Len <= bulkPayloadSize {
		p = bulkPayload(h.Len)
		err = c.fr.ReadPayloadInto(p)
	} else {
		p, err = c.fr.ReadPayload(h.Len)
	}
	if err != nil {
		return mrciwire.Frame{}, err
	}
	return mrciwire.Frame{Type: h.Type, Cmd: h.Cmd, Branch: h.Branch, Payload: p}, nil
}

// handleAsync maintains the client state from one async frame and delivers
// it on the async channel.
func (c *Client) handleAsync(f mrciwire.Frame) {
	switch {
	case f.Cmd == uint16(mrciwire.AsyncRdy):
		c.mu.Lock()
		c.lastCmd = time.Now()
		c.mu.Unlock()
		c.readyOnce.Do(func() { close(c.ready) })
	case f.Cmd == uint16(mrciwire.AsyncAddCmd) && f.Type == mrciwire.TypeNewCmd:
		if nc, err := mrciwire.ParseNewCmd(f.Payload); err == nil {
			c.addCommand(nc)
		}
	case f.Cmd == uint16(mrciwire.AsyncRmCmd) && f.Type == mrciwire.TypeCmdID:
		if len(f.Payload) >= 2 {
			c.removeCommand(uint16(f.Payload[0]) | uint16(f.Payload[1])<<8)
		}
	case f.Cmd == uint16(mrciwire.AsyncSysMsg) && f.Type == mrciwire.TypeErr:
		if text := strings.TrimSpace(mrciwire.DecodeText(f.Payload)); strings.HasPrefix(strings.TrimPrefix(text, "err: "), "login failed") {
			c.mu.Lock()
			c.loginErr = text
			c.loginErrGen++
			c.notifyLocked()
			c.mu.Unlock()
		}
	case f.Cmd == uint16(mrciwire.AsyncSysMsg) && f.Type == mrciwire.TypeMyInfo:
		if mi, err := mrciwire.ParseMyInfo(f.Payload); err == nil {
			c.mu.Lock()
			c.myInfo = &mi
			c.infoGen++
			c.notifyLocked()
			c.mu.Unlock()
		}
	}
	c.deliverAsync(f)
}

// deliverAsync puts f on the async channel, dropping the oldest queued frame
// when the channel is full. Only the reader goroutine sends on it.
func (c *Client) deliverAsync(f mrciwire.Frame) {
	for {
		select {
		case c.async <- f:
			return
		default:
		}
		select {
		case <-c.async:
			c.dropped.Add(1)
		default:
		}
	}
}

func (c *Client) addCommand(nc mrciwire.NewCmd) {
	nc.Name = strings.ToLower(strings.TrimSpace(nc.Name))
	if nc.Name == "" || nc.ID < mrciwire.FirstCommandID {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.names[nc.ID]; ok && old != nc.Name {
		delete(c.cmds, old)
	}
	if old, ok := c.cmds[nc.Name]; ok && old.ID != nc.ID {
		delete(c.names, old.ID)
	}
	c.cmds[nc.Name] = nc
	c.names[nc.ID] = nc.Name
	c.lastCmd = time.Now()
	c.notifyLocked()
}

func (c *Client) removeCommand(id uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.names[id]; ok {
		delete(c.names, id)
		delete(c.cmds, name)
	}
	for k, call := range c.calls {
		if call.cmd == id {
			call.setErr(fmt.Errorf("client: command %q (id %d) was removed by the host", call.name, id))
			delete(c.calls, k)
		}
	}
	for k := range c.draining {
		if uint16(k) == id {
			delete(c.draining, k)
		}
	}
	c.lastCmd = time.Now()
	c.notifyLocked()
}

// notifyLocked wakes everything waiting for a state change. c.mu is held.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// route hands a command frame to its call.
func (c *Client) route(f mrciwire.Frame) {
	id := f.ID32()
	c.mu.Lock()
	call := c.calls[id]
	if call == nil && c.draining[id] && f.Type == mrciwire.TypeIdle {
		delete(c.draining, id)
	}
	c.mu.Unlock()
	if call != nil {
		call.deliver(f)
	}
}

// fail ends the connection with err (the first error wins).
func (c *Client) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		if errors.Is(err, ErrClosed) {
			c.conn.Close() // polite: sends TLS close_notify
		} else {
			c.raw.Close()
		}
		close(c.done)
	})
}

// Close closes the connection and waits for the reader goroutine to end.
// Blocked methods return ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.flushPending()
	c.fail(ErrClosed)
	<-c.readerDone
	<-c.flusherDone
	return nil
}

// Done returns a channel that is closed when the connection has ended
// (lost, or closed with Close).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is up; afterwards the reason it
// ended: ErrClosed after Close, otherwise an error wrapping
// ErrConnectionLost and the underlying read or write error.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// SessionID returns the session id from the host header.
func (c *Client) SessionID() mrciwire.SessionID { return c.hdr.SessionID }

// HostVersion returns the version the host reported in its header.
func (c *Client) HostVersion() mrciwire.HostVersion { return c.hdr.Version }

// Encrypted reports whether the connection runs over TLS.
func (c *Client) Encrypted() bool { return c.encrypted }

// HostCert returns the certificate the host sent in HOST_CERT, or nil for a
// plaintext connection (or a HOST_CERT that was not a valid certificate).
func (c *Client) HostCert() *x509.Certificate { return c.hostCert }

// HostCertPEM returns the HOST_CERT payload exactly as the host sent it, or
// nil for a plaintext connection.
func (c *Client) HostCertPEM() []byte { return c.certPEM }

// Async returns the channel on which every async frame (command ids
// 1..255, including ASYNC_RDY, ASYNC_ADD_CMD and ASYNC_RM_CMD) is delivered
// in arrival order. The channel is buffered (Options.AsyncBuffer) and the
// reader never waits for it: when it is full the oldest queued frame is
// discarded to make room and counted by DroppedAsync, so a consumer that
// does not read sees the newest frames. The channel is closed after the
// connection has ended.
func (c *Client) Async() <-chan mrciwire.Frame { return c.async }

// DroppedAsync returns how many async frames were discarded because the
// Async channel was full.
func (c *Client) DroppedAsync() uint64 { return c.dropped.Load() }

// Send writes one raw frame. Writes are serialised, so Send is safe for
// concurrent use; a failed or timed-out write ends the connection.
func (c *Client) Send(f mrciwire.Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(c.wbuf) >= maxPendingWrite {
		c.wmu.Unlock()
		select {
		case <-c.wflushed:
		case <-c.done:
		}
		c.wmu.Lock()
		if err := c.Err(); err != nil {
			return err
		}
	}
	if err := c.Err(); err != nil {
		return err
	}
	var err error
	if c.wbuf, err = wire.AppendFrame(c.wbuf, f); err != nil {
		return err
	}
	select {
	case c.wnotify <- struct{}{}:
	default:
	}
	return nil
}

// maxPendingWrite bounds the bytes Send queues before it waits for the
// flusher (backpressure instead of unbounded memory).
const maxPendingWrite = 4 << 20

// flusher writes what Send queued, batching frames that arrive while a
// write is in progress into the next write.
func (c *Client) flusher() {
	defer close(c.flusherDone)
	for {
		select {
		case <-c.wnotify:
		case <-c.done:
			return
		}
		c.wmu.Lock()
		if len(c.wbuf) == 0 {
			// Woken after the frames were taken: keep both buffers (swapping
			// an empty one would drop it, and the next bulk frames would
			// grow a new one from nothing).
			c.wmu.Unlock()
			continue
		}
		buf := c.wbuf
		c.wbuf = c.wspare[:0]
		c.wspare = nil
		c.writing = true
		c.wmu.Unlock()
		if c.opts.WriteTimeout > 0 {
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
		}
		if err := writeGathered(c.conn, buf); err != nil {
			c.fail(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			return
		}
		c.wmu.Lock()
		if cap(buf) <= 2*maxPendingWrite { // keep the buffer of a bulk transfer (at most 8 MiB)
			c.wspare = buf[:0]
		}
		c.writing = false
		c.wmu.Unlock()
		select {
		case c.wflushed <- struct{}{}:
		default:
		}
	}
}

// writeGathered writes buf to w; over TLS the records go out in few
// socket writes (tlsbuf).
func writeGathered(w io.Writer, buf []byte) error {
	tc := tlsbuf.Of(w)
	if tc == nil {
		_, err := w.Write(buf)
		return err
	}
	tc.Hold()
	_, err := w.Write(buf)
	if rerr := tc.Release(); err == nil {
		err = rerr
	}
	return err
}

// flushPending waits (up to a second) until the flusher has written
// everything Send queued (used by Close).
func (c *Client) flushPending() {
	deadline := time.After(time.Second)
	for {
		c.wmu.Lock()
		idle := len(c.wbuf) == 0 && !c.writing
		c.wmu.Unlock()
		if idle || c.Err() != nil {
			return
		}
		select {
		case c.wnotify <- struct{}{}:
		default:
		}
		select {
		case <-c.wflushed:
		case <-c.done:
			return
		case <-deadline:
			return
		}
	}
}

// Commands returns a snapshot of the command table: client-visible command
// name → command id.
func (c *Client) Commands() map[string]uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]uint16, len(c.cmds))
	for name, nc := range c.cmds {
		m[name] = nc.ID
	}
	return m
}

// CommandID returns the id of the announced command name (names are
// compared in lower case).
func (c *Client) CommandID(name string) (uint16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nc, ok := c.cmds[strings.ToLower(name)]
	return nc.ID, ok
}

// CommandInfo returns the full announcement (library, summary, IO
// signature, long description, genfile byte) of the command name.
func (c *Client) CommandInfo(name string) (mrciwire.NewCmd, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nc, ok := c.cmds[strings.ToLower(name)]
	return nc, ok
}

// WaitCommand blocks until the host has announced the command name and
// returns its id, or returns an error when ctx ends or the connection is
// lost.
func (c *Client) WaitCommand(ctx context.Context, name string) (uint16, error) {
	name = strings.ToLower(name)
	for {
		c.mu.Lock()
		nc, ok := c.cmds[name]
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return nc.ID, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.done:
			return 0, c.err
		}
	}
}

// resolve returns the id of name, waiting while the command table is still
// changing (see Options.CommandSettle).
func (c *Client) resolve(ctx context.Context, name string) (uint16, error) {
	key := strings.ToLower(name)
	for {
		c.mu.Lock()
		nc, ok := c.cmds[key]
		ch := c.changed
		quiet := time.Until(c.lastCmd.Add(c.opts.CommandSettle))
		c.mu.Unlock()
		if ok {
			return nc.ID, nil
		}
		if err := c.Err(); err != nil {
			return 0, err
		}
		if quiet <= 0 {
			return 0, fmt.Errorf("%w: %q", ErrUnknownCommand, name)
		}
		t := time.NewTimer(quiet)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-c.done:
		}
		t.Stop()
	}
}

// MyInfo returns the latest MY_INFO the host sent (on login and whenever the
// account changes); ok is false until one has arrived.
func (c *Client) MyInfo() (info mrciwire.MyInfo, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.myInfo == nil {
		return mrciwire.MyInfo{}, false
	}
	return *c.myInfo, true
}

// waitMyInfo waits until a MY_INFO newer than generation gen has arrived,
// or the host reports that the login failed (a *loginRefused with its text)
// after the host's login errors numbered errGen.
func (c *Client) waitMyInfo(ctx context.Context, gen, errGen uint64) error {
	for {
		c.mu.Lock()
		got := c.infoGen > gen
		failed, why := c.loginErrGen > errGen, c.loginErr
		ch := c.changed
		c.mu.Unlock()
		if got {
			return nil
		}
		if failed {
			return &loginRefused{why}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.err
		}
	}
}

// myInfoGen returns the generations of MY_INFO and of the host's login
// errors received so far.
func (c *Client) myInfoGen() (info, loginErr uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.infoGen, c.loginErrGen
}

// loginRefused is the host saying, after the auth command granted access,
// that it could not log the session in.
type loginRefused struct{ text string }

func (e *loginRefused) Error() string { return e.text }
