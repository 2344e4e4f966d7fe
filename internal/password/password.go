// Package password hashes and verifies account passwords with argon2id and
// generates random passwords that satisfy the host's password rule.
//
// Hashes are stored in the PHC string format
// ($argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, base64 without
// padding). Hashes of the original host (one Keccak-512 pass over a BOM,
// the UTF-16LE password and a 128-byte salt) are accepted in the form
// $keccak512$<salt-hex>$<hash-hex> so imported databases keep working;
// NeedsRehash reports them so callers can upgrade them at the next login.
package password

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/sha3"

	"github.com/mrci/mrci/internal/wire"
)

// Params are the argon2id cost parameters.
type Params struct {
	MemoryKiB uint32
	Passes    uint32
	Lanes     uint8
}

// DefaultParams follow the OWASP recommendation for argon2id
// (19 MiB, 2 passes, 1 lane).
var DefaultParams = Params{MemoryKiB: 19 * 1024, Passes: 2, Lanes: 1}

// ErrMalformed is returned by Verify for a stored hash it cannot parse.
var ErrMalformed = errors.New("password: malformed stored hash")

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// Hash returns the PHC-encoded argon2id hash of pw.
func Hash(pw string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Passes, p.MemoryKiB, p.Lanes, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Passes, p.Lanes, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the encoded hash, in constant time.
func Verify(pw, encoded string) (bool, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return verifyArgon(pw, encoded)
	case strings.HasPrefix(encoded, "$keccak512$"):
		return verifyLegacy(pw, encoded)
	}
	return false, ErrMalformed
}

// NeedsRehash reports whether encoded should be replaced by Hash(pw, p) after
// a successful Verify (legacy format or other cost parameters).
func NeedsRehash(encoded string, p Params) bool {
	return !strings.HasPrefix(encoded, fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, p.MemoryKiB, p.Passes, p.Lanes))
}

func verifyArgon(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return false, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformed
	}
	var m, t uint32
	var l uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &l); err != nil || t == 0 || l == 0 {
		return false, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformed
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, l, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// LegacyHash computes the original host's password digest:
// Keccak-512(FF FE || UTF-16LE(pw) || salt).
func LegacyHash(pw string, salt []byte) []byte {
	h := sha3.NewLegacyKeccak512()
	h.Write([]byte{0xFF, 0xFE})
	h.Write(wire.EncodeText(pw))
	h.Write(salt)
	return h.Sum(nil)
}

// EncodeLegacy formats an imported original hash and salt for storage.
func EncodeLegacy(hash, salt []byte) string {
	return "$keccak512$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(hash)
}

func verifyLegacy(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return false, ErrMalformed
	}
	salt, err1 := hex.DecodeString(parts[2])
	want, err2 := hex.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) != 64 {
		return false, ErrMalformed
	}
	return subtle.ConstantTimeCompare(LegacyHash(pw, salt), want) == 1, nil
}

const (
	lowers  = "abcdefghijklmnopqrstuvwxyz"
	uppers  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits  = "0123456789"
	symbols = "`~!@#$%^&*()-_+=[]{}\\|:;\"'<,>.?/"
)

// Generate returns a random password of 16 characters from a
// cryptographically secure source, with at least three characters of each
// class (lower, upper, digit, symbol), so it always satisfies the password
// rule.
func Generate() (string, error) {
	var buf bytes.Buffer
	for _, set := range []string{lowers, uppers, digits, symbols} {
		for range 3 {
			c, err := pick(set)
			if err != nil {
				return "", err
			}
			buf.WriteByte(c)
		}
	}
	all := lowers + uppers + digits + symbols
	for buf.Len() < 16 {
		c, err := pick(all)
		if err != nil {
			return "", err
		}
		buf.WriteByte(c)
	}
	b := buf.Bytes()
	for i := len(b) - 1; i > 0; i-- { // Fisher-Yates
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", fmt.Errorf("password: generate: %w", err)
		}
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return string(b), nil
}

func pick(set string) (byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, fmt.Errorf("password: generate: %w", err)
	}
	return set[n.Int64()], nil
}
