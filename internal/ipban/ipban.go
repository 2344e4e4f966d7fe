// Package ipban parses banned addresses and matches connecting clients
// against them. A ban is one address (IPv4 or IPv6) or, as an extension of
// the original, a CIDR range. IPv4-mapped IPv6 addresses are the IPv4
// addresses they map, so "::ffff:1.2.3.4" and "1.2.3.4" are one ban.
package ipban

import (
	"errors"
	"net/netip"
	"strings"
)

// ErrInvalid means the text is neither an address nor a CIDR range.
var ErrInvalid = errors.New("ipban: not an ip address or range")

// Parse returns the canonical range of a ban text: a single address is a
// full-length prefix. Zones are refused; mapped IPv4 is unmapped.
func Parse(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, ErrInvalid
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, ErrInvalid
			}
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, ErrInvalid
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Canonical is the stored text form of a parsed ban: the address alone
// for a single address, else the CIDR text.
func Canonical(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// CoversLoopback reports whether the ban would match a loopback address.
func CoversLoopback(p netip.Prefix) bool {
	for _, l := range loopback {
		if p.Overlaps(l) {
			return true
		}
	}
	return false
}

// List is an immutable set of bans.
type List struct {
	addrs    map[netip.Addr]struct{}
	prefixes []netip.Prefix
	texts    map[string]struct{}
}

// NewList builds a list from stored ban texts; texts that do not parse are
// returned separately (they match nothing).
func NewList(texts []string) (*List, []string) {
	l := &List{addrs: make(map[netip.Addr]struct{}), texts: make(map[string]struct{}, len(texts))}
	var bad []string
	for _, t := range texts {
		p, err := Parse(t)
		if err != nil {
			bad = append(bad, t)
			continue
		}
		l.texts[Canonical(p)] = struct{}{}
		if p.IsSingleIP() {
			l.addrs[p.Addr()] = struct{}{}
		} else {
			l.prefixes = append(l.prefixes, p)
		}
	}
	return l, bad
}

// Has reports whether the canonical ban text is in the list.
func (l *List) Has(canonical string) bool {
	if l == nil {
		return false
	}
	_, ok := l.texts[canonical]
	return ok
}

// Len returns the number of valid bans.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.texts)
}

// Banned reports whether a is covered by a ban (a mapped IPv4 address
// counts as IPv4).
func (l *List) Banned(a netip.Addr) bool {
	if l == nil || !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	if _, ok := l.addrs[a]; ok {
		return true
	}
	for _, p := range l.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
