package cmds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/tlscert"
	"github.com/mrci/mrci/internal/wire"
)

const msgInvalidCN = "invalid common name (1-136 characters, no spaces)"

func certCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("add_cert", "install a TLS certificate for a common name.",
				"[-name (text) -cert (path) -priv (path) {-force}]/[text]",
				"Installs the certificate file -cert with its private key file -priv for clients whose header asks "+
					"for the common name -name (compared case-insensitively). Both files may be PEM or DER; keys may "+
					"be RSA, ECDSA or Ed25519 and must belong to the certificate. The validated certificate and key "+
					"are stored (as PEM). An existing common name is replaced after a confirmation, or at once with "+
					"-force. Only new connections are affected."),
			In: userOnly, MaxArgs: 7, Run: runAddCert,
		},
		{
			Def: def("rm_cert", "remove the TLS certificate of a common name.", "[-name (text) {-force}]/[text]",
				"Removes the certificate installed for the common name -name after a confirmation (none with -force). "+
					"Clients asking for that name then get the host's default certificate."),
			In: userOnly, MaxArgs: -1, Run: runRmCert,
		},
		{
			Def: def("cert_info", "show the TLS certificate of a common name.", "[-name (text)]/[text]",
				"Shows whether the certificate installed for -name is self-signed, its effective and expiry dates "+
					"(MM/dd/yy), subject, issuer, subject alternative names, SHA-256 fingerprint and key type."),
			In: userOnly, MaxArgs: 2, Run: runCertInfo,
		},
		{
			Def: def("ls_certs", "list the common names with a TLS certificate.", "[{search_terms}]/[text]",
				"Lists the common names that have a certificate installed, 50 per page. Filter with -common_name "+
					"followed by text the name must contain."),
			In: userOnly, MaxArgs: -1, Run: viewer(store.ViewCerts, false),
		},
	}
}

// validCN applies the common-name rule: 1-136 characters, no white space.
func validCN(cn string) bool {
	n := wire.TextLen(cn)
	return n >= 1 && n <= 136 && !strings.ContainsFunc(cn, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r < 0x20 || r == 0x7f
	})
}

func runAddCert(ctx context.Context, c *module.Call) error {
	cn, certArg, keyArg := c.Param("-name"), c.Param("-cert"), c.Param("-priv")
	switch {
	case cn == "":
		return module.Fail("-name missing")
	case certArg == "":
		return module.Fail("-cert missing")
	case keyArg == "":
		return module.Fail("-priv missing")
	}
	certPath, keyPath := resolvePath(c, certArg), resolvePath(c, keyArg)
	if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
		return module.Fail("cert file '%s' does not exist", certArg)
	}
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		return module.Fail("private key file '%s' does not exist", keyArg)
	}
	if !validCN(cn) {
		return module.Fail(msgInvalidCN)
	}
	certBytes, err := readSmallFile(certPath)
	if err != nil {
		return module.Fail("cannot open cert: %s", errnoText(err))
	}
	keyBytes, err := readSmallFile(keyPath)
	if err != nil {
		return module.Fail("cannot open private key: %s", errnoText(err))
	}
	pair, err := tlscert.Import(certBytes, keyBytes)
	switch {
	case errors.Is(err, tlscert.ErrCertFormat):
		return module.Fail("cert not compatible")
	case errors.Is(err, tlscert.ErrKeyFormat):
		return module.Fail("private key not compatible")
	case errors.Is(err, tlscert.ErrKeyMismatch):
		return module.Fail("the private key does not belong to the cert")
	case err != nil:
		return module.Fail("cert not compatible")
	}
	st := c.Store()
	old, err := st.Cert(ctx, cn)
	switch {
	case err == nil:
		cn = old.CommonName // replace that row, keeping its spelling
		if !c.Flag("-force") {
			ok, err := c.Confirm(ctx, fmt.Sprintf("common name '%s' exists, replace it? (y/n) ", cn))
			if err != nil || !ok {
				return err
			}
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := st.PutCert(ctx, store.Cert{CommonName: cn, CertPEM: pair.CertPEM, KeyPEM: pair.KeyPEM}); err != nil {
		return err
	}
	info, _ := tlscert.Describe(pair)
	return audit(ctx, c, "certificate installed for '%s' (SHA-256 %s)", cn, info.Fingerprint)
}

// certArg checks the -name of rm_cert and cert_info and returns its row.
func certArg(ctx context.Context, c *module.Call) (store.Cert, error) {
	cn := c.Param("-name")
	switch {
	case cn == "":
		return store.Cert{}, module.Fail("-name missing")
	case !validCN(cn):
		return store.Cert{}, module.Fail(msgInvalidCN)
	}
	row, err := c.Store().Cert(ctx, cn)
	if err != nil {
		return row, notFound(err, fmt.Sprintf("'%s' does not exist", cn))
	}
	return row, nil
}

func runRmCert(ctx context.Context, c *module.Call) error {
	row, err := certArg(ctx, c)
	if err != nil {
		return err
	}
	if !c.Flag("-force") {
		ok, err := c.Confirm(ctx, fmt.Sprintf("remove the cert for '%s'? (y/n) ", row.CommonName))
		if err != nil || !ok {
			return err
		}
	}
	if err := c.Store().DeleteCert(ctx, row.CommonName); err != nil {
		return notFound(err, fmt.Sprintf("'%s' does not exist", row.CommonName))
	}
	return audit(ctx, c, "certificate removed for '%s'", row.CommonName)
}

func runCertInfo(ctx context.Context, c *module.Call) error {
	row, err := certArg(ctx, c)
	if err != nil {
		return err
	}
	pair, err := tlscert.Import(row.CertPEM, row.KeyPEM)
	if err != nil {
		return module.Fail("the stored cert for '%s' is not usable (%v); a new one is generated at the next "+
			"connection asking for it", row.CommonName, err)
	}
	in, err := tlscert.Describe(pair)
	if err != nil {
		return err
	}
	sans := strings.Join(in.SANs, ", ")
	if sans == "" {
		sans = "(none)"
	}
	var b strings.Builder
	line := func(label string, value any) { fmt.Fprintf(&b, "%-17s%v\n", label, value) }
	line("Self Signed:", in.SelfSigned)
	line("Black Listed:", false)
	line("Effective Date:", in.NotBefore.UTC().Format("01/02/06"))
	line("Expiry Date:", in.NotAfter.UTC().Format("01/02/06"))
	line("Subject:", in.Subject)
	line("Issuer:", in.Issuer)
	line("SANs:", sans)
	line("SHA-256:", in.Fingerprint)
	line("Key Type:", in.KeyType)
	c.Text(b.String())
	return nil
}
