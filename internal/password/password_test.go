package password

import (
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/sha3"

	"github.com/mrci/mrci/internal/validate"
)

var cheap = Params{MemoryKiB: 64, Passes: 1, Lanes: 1}

func TestHashVerify(t *testing.T) {
	h, err := Hash("Secret-Pass-1", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoding %q", h)
	}
	if ok, err := Verify("Secret-Pass-1", h); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := Verify("Secret-Pass-2", h); ok {
		t.Fatal("wrong password accepted")
	}
	if h2, _ := Hash("Secret-Pass-1", cheap); h2 == h {
		t.Fatal("two hashes of one password share a salt")
	}
	if NeedsRehash(h, cheap) || !NeedsRehash(h, DefaultParams) {
		t.Fatal("NeedsRehash ignores the parameters")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=64,t=1,p=1$!!$!!", "$argon2id$v=18$m=64,t=1,p=1$AA$AA"} {
		if _, err := Verify("x", bad); err == nil {
			t.Fatalf("malformed %q accepted", bad)
		}
	}
}

// TestLegacyHash checks the original host's formula against a digest
// computed independently: Keccak-512 over FF FE, "ab" in UTF-16LE and the
// salt 01 02.
func TestLegacyHash(t *testing.T) {
	salt := []byte{1, 2}
	enc := EncodeLegacy(LegacyHash("Legacy-Pass-1", salt), salt)
	if ok, err := Verify("Legacy-Pass-1", enc); !ok || err != nil {
		t.Fatalf("legacy verify: %v %v", ok, err)
	}
	if ok, _ := Verify("Legacy-Pass-2", enc); ok {
		t.Fatal("wrong legacy password accepted")
	}
	if !NeedsRehash(enc, cheap) {
		t.Fatal("legacy hash not marked for rehash")
	}
	k := sha3.NewLegacyKeccak512()
	k.Write([]byte{0xFF, 0xFE, 'a', 0, 'b', 0, 1, 2})
	if got, want := hex.EncodeToString(LegacyHash("ab", salt)), hex.EncodeToString(k.Sum(nil)); got != want {
		t.Fatalf("LegacyHash = %s, want %s", got, want)
	}
}

func TestGenerateSatisfiesTheRule(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 16 || !validate.Password(pw) {
			t.Fatalf("generated %q breaks the password rule", pw)
		}
		seen[pw] = true
	}
	if len(seen) < 200 {
		t.Fatal("generated passwords repeat")
	}
}
