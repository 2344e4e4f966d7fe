package host

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlscert"
)

// generatedValidity is the validity of certificates the host generates
// for a common name (host.md §9: 365 days).
const generatedValidity = 365 * 24 * time.Hour

// certCache holds the default certificate, which SetDefaultCert replaces
// at run time (SIGHUP re-reads certificate files).
type certCache struct {
	def atomic.Pointer[tlscert.Pair]
}

// SetDefaultCert replaces the certificate served for common names without
// one of their own; new connections use it.
func (h *Host) SetDefaultCert(p *tlscert.Pair) {
	h.certs.def.Store(p)
	h.log.Info("default certificate replaced")
}

// certFor picks the certificate for the common name of a client header
// (host.md §9, case-insensitive): a stored, valid one; a stored one that
// is expired or unusable is regenerated for that name only; with no stored
// one, a name that is one of the host's own global interface addresses
// gets a generated one when the cert_auto_generate setting is on;
// otherwise the default certificate (decision 5 of the spec README), nil
// when there is none.
func (h *Host) certFor(ctx context.Context, cn string) *tlscert.Pair {
	def := h.certs.def.Load()
	if cn == "" {
		return def
	}
	c, err := h.cfg.Store.Cert(ctx, cn)
	switch {
	case err == nil:
		if p, err := tlscert.Parse(c.CertPEM, c.KeyPEM); err == nil && p.Valid(time.Now()) {
			return p
		}
		if p := h.generateCert(ctx, c.CommonName, "stored certificate expired or unusable"); p != nil {
			return p
		}
	case errors.Is(err, store.ErrNotFound):
		if h.ownAddress(cn) {
			a, err := h.cfg.Store.AdminSettings(ctx)
			if err == nil && a.CertAutoGenerate {
				if p := h.generateCert(ctx, cn, "common name is an address of this host"); p != nil {
					return p
				}
			}
		}
	default:
		h.log.Error("certificate lookup", "cn", cn, "err", err)
	}
	return def
}

// generateCert creates a self-signed certificate for cn and stores it for
// that common name only.
func (h *Host) generateCert(ctx context.Context, cn, why string) *tlscert.Pair {
	p, err := tlscert.Generate(cn, nil, generatedValidity)
	if err != nil {
		h.log.Error("generate certificate", "cn", cn, "err", err)
		return nil
	}
	if err := h.cfg.Store.PutCert(ctx, store.Cert{CommonName: cn, CertPEM: p.CertPEM, KeyPEM: p.KeyPEM}); err != nil {
		h.log.Error("store generated certificate", "cn", cn, "err", err)
		return p
	}
	h.log.Info("certificate generated", "cn", cn, "reason", why)
	h.Debug("certificate generated for common name '" + cn + "': " + why)
	return p
}

// ownAddress reports whether cn is the text of one of the host's own
// interface addresses that count as global: everything but loopback,
// link-local, multicast and unspecified (private ranges count).
func (h *Host) ownAddress(cn string) bool {
	want, err := netip.ParseAddr(cn)
	if err != nil {
		return false
	}
	want = want.Unmap()
	addrs, err := h.interfaceAddrs()
	if err != nil {
		h.log.Debug("interface addresses", "err", err)
		return false
	}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a == want && globalAddr(a) {
			return true
		}
	}
	return false
}

func globalAddr(a netip.Addr) bool {
	return a.IsValid() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() &&
		!a.IsMulticast() && !a.IsUnspecified() && !a.IsInterfaceLocalMulticast()
}

// InterfaceAddrs lists the addresses of the machine's network interfaces.
func InterfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}
