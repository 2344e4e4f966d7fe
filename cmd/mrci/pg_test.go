package main

import (
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/mrci/mrci/internal/store/postgres/pgtest"
)

// pgBase returns the DSN of the test PostgreSQL server (pgtest.Base).
func pgBase(t *testing.T) string { return pgtest.Base(t) }

// pgSchema creates a schema dropped when the test ends and returns base
// with search_path set to it (and the schema name).
func pgSchema(t *testing.T, base string) (string, string) {
	return pgtest.Schema(t, base, "mrci_cmd_")
}

// withHost returns dsn with its host:port replaced.
func withHost(t *testing.T, dsn, hostport string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

// tcpProxy forwards TCP connections to a target. freeze stops it
// forwarding (connections stay open and new ones are accepted but get no
// answer: a server or network that stopped answering); cut closes every
// connection and refuses new ones (a server that is down); restore ends
// either.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	cutOff bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cutOff {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *tcpProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.drop(c)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	p.pipe(c, up)
	_ = c.Close()
	_ = up.Close()
	<-done
}

// pipe copies src to dst, holding every chunk while the proxy is frozen.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && errors.Is(err, io.EOF) {
				_ = cw.CloseWrite()
			}
			return
		}
	}
}

func (p *tcpProxy) drop(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *tcpProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	p.cutOff = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.frozen, p.cutOff = false, false
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *tcpProxy) close() {
	_ = p.ln.Close()
	p.cut()
	p.restore()
	p.wg.Wait()
}
