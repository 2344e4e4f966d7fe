package importer

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/validate"
)

// ---- command ranks ----

func (p *planner) planCommandRanks(ctx context.Context) error {
	src, err := p.src.commandRanks(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.CommandRanks(ctx)
	if err != nil {
		return err
	}
	have := map[[2]string]uint32{}
	for _, r := range existing {
		have[[2]string{r.Module, store.CommandKey(r.Command)}] = r.Rank
	}
	t := p.rep.table("command_ranks")
	seen := map[[2]string]bool{}
	for _, r := range src {
		label := fmt.Sprintf("%q of %q", r.command.String, r.module.String)
		if !r.command.Valid || !validate.CommandName(r.command.String) {
			t.skip(label, "command name rejected by mrci's rules (1-64 characters, no spaces or control characters)")
			continue
		}
		if !r.module.Valid || r.module.String == "" {
			t.skip(label, "no module")
			continue
		}
		if !r.rank.Valid || r.rank.Int64 < 1 || r.rank.Int64 > 0xFFFFFFFF {
			t.skip(label, "rank %s is invalid", rankText(r.rank.Valid, r.rank.Int64))
			continue
		}
		module := r.module.String
		if module != store.InternalModule && filepath.Base(module) == "mrci" {
			// The original names its own commands by its executable's path.
			t.warn(label, "module %q is the original host itself; ranked as mrci's internal commands (%s)", module, store.InternalModule)
			module = store.InternalModule
		}
		key := [2]string{module, store.CommandKey(r.command.String)}
		if seen[key] {
			t.skip(label, "duplicate rank for the same command and module")
			continue
		}
		seen[key] = true
		if rank, ok := have[key]; ok {
			if rank == uint32(r.rank.Int64) {
				t.present()
			} else {
				t.skip(label, "ranked %d here, %d in the original (ours kept)", rank, r.rank.Int64)
			}
			continue
		}
		p.b.CommandRanks = append(p.b.CommandRanks, store.CommandRank{Module: module, Command: key[1], Rank: uint32(r.rank.Int64)})
		t.imported()
	}
	return nil
}

// ---- bans ----

func (p *planner) planBans(ctx context.Context) error {
	src, err := p.src.bans(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.Bans(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, ip := range existing {
		have[strings.ToLower(ip)] = true
	}
	t := p.rep.table("ban_list")
	for _, b := range src {
		label := fmt.Sprintf("%q", b.ip.String)
		addr, err := netip.ParseAddr(strings.TrimSpace(b.ip.String))
		if err != nil {
			t.skip(label, "not an IP address")
			continue
		}
		ip := addr.String()
		if have[strings.ToLower(ip)] {
			t.present()
			continue
		}
		have[strings.ToLower(ip)] = true
		p.b.Bans = append(p.b.Bans, store.ImportedBan{IP: ip, Time: b.time})
		t.imported()
	}
	return nil
}

// ---- certificates ----

func (p *planner) planCerts(ctx context.Context) error {
	src, err := p.src.certs(ctx)
	if err != nil {
		return err
	}
	t := p.rep.table("ssl_certs")
	seen := map[string]bool{}
	for _, c := range src {
		label := fmt.Sprintf("%q", c.cn.String)
		if !c.cn.Valid || !validate.CommonName(c.cn.String) {
			t.skip(label, "common name rejected by mrci's rules (1-136 characters, no spaces or control characters)")
			continue
		}
		certPEM, keyPEM, err := certPair(c.cert, c.key)
		if err != nil {
			t.skip(label, "invalid certificate: %v", err)
			continue
		}
		pair, err := tlscert.Parse(certPEM, keyPEM)
		if err != nil {
			t.skip(label, "invalid certificate: %v", err)
			continue
		}
		if !pair.Valid(time.Now()) {
			t.skip(label, "certificate is expired or not yet valid")
			continue
		}
		key := foldKey(c.cn.String)
		if seen[key] {
			t.skip(label, "duplicate common name")
			continue
		}
		seen[key] = true
		if have, err := p.st.Cert(ctx, c.cn.String); err == nil {
			if bytes.Equal(have.CertPEM, certPEM) && bytes.Equal(have.KeyPEM, keyPEM) {
				t.present()
			} else {
				t.skip(label, "another certificate is installed here for this name (not overwritten)")
			}
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		p.b.Certs = append(p.b.Certs, store.Cert{CommonName: c.cn.String, CertPEM: certPEM, KeyPEM: keyPEM})
		t.imported()
	}
	return nil
}

// certPair returns PEM forms of a certificate and key the original stored
// as PEM or DER (host.md §9).
func certPair(cert, key []byte) ([]byte, []byte, error) {
	if len(cert) == 0 || len(key) == 0 {
		return nil, nil, errors.New("empty certificate or key")
	}
	certPEM, keyPEM := cert, key
	if !bytes.Contains(cert, []byte("-----BEGIN")) {
		if _, err := x509.ParseCertificate(cert); err != nil {
			return nil, nil, fmt.Errorf("certificate: %w", err)
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
	}
	if !bytes.Contains(key, []byte("-----BEGIN")) {
		k, err := parseDERKey(key)
		if err != nil {
			return nil, nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("private key: %w", err)
		}
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return certPEM, keyPEM, nil
}

func parseDERKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("private key: not a PKCS#8, PKCS#1 or EC key")
}

// ---- modules ----

func (p *planner) planModules(ctx context.Context) error {
	src, err := p.src.modules(ctx)
	if err != nil {
		return err
	}
	existing, err := p.st.Modules(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, m := range existing {
		have[m] = true
	}
	t := p.rep.table("modules")
	for _, m := range src {
		label := fmt.Sprintf("%q", m.String)
		if !m.Valid || m.String == "" || len(m.String) > 4096 {
			t.skip(label, "empty or overlong path")
			continue
		}
		if have[m.String] {
			t.present()
			continue
		}
		have[m.String] = true
		if !p.o.FileExists(m.String) {
			t.warn(label, "file not found on this machine; imported, install the module there (or rm_mod it)")
		}
		p.b.Modules = append(p.b.Modules, m.String)
		t.imported()
	}
	return nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
