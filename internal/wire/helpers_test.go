package wire

import (
	"encoding/hex"
	"strings"
	"testing"
)

// hx decodes a hex literal written with optional spaces, e.g. "05 2C 01".
// Expected vectors are written by hand with it; it never calls the code under
// test.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		panic("bad hex literal " + s + ": " + err.Error())
	}
	return b
}

// asc16 encodes an ASCII-only string as UTF-16LE by hand (low byte, 0x00).
// It exists so that expected layouts can be built independently of
// EncodeText/AppendFixed.
func asc16(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			panic("asc16: non-ASCII input")
		}
		b = append(b, s[i], 0)
	}
	return b
}

// put copies src into dst at off and fails the test if it does not fit in
// the field of width w.
func put(t testing.TB, dst []byte, off, w int, src []byte) {
	t.Helper()
	if len(src) > w {
		t.Fatalf("put: %d bytes do not fit a %d-byte field", len(src), w)
	}
	copy(dst[off:off+w], src)
}

// seq returns n bytes start, start+1, ...
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}
