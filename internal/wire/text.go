package wire

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendText appends s as UTF-16LE code units without BOM or terminator
// (protocol.md §3.1). Invalid UTF-8 in s is encoded as U+FFFD.
func AppendText(dst []byte, s string) []byte {
	for _, r := range s {
		dst = appendRune(dst, r)
	}
	return dst
}

// appendRune appends one rune as one or two UTF-16LE code units.
func appendRune(dst []byte, r rune) []byte {
	if r >= 0x10000 {
		r1, r2 := utf16.EncodeRune(r)
		return append(dst, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
	}
	return append(dst, byte(r), byte(r>>8))
}

// EncodeText returns s as UTF-16LE (protocol.md §3.1).
func EncodeText(s string) []byte { return AppendText(make([]byte, 0, 2*len(s)), s) }

// TextLen returns the number of UTF-16 code units s encodes to; every length
// limit of the protocol counts these.
func TextLen(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// DecodeText decodes UTF-16LE text the robust way of protocol.md §15.4: on
// 2-byte boundaries, dropping U+0000 units and one leading BOM (the first
// unit that is not U+0000, as the original strips zeros before decoding),
// replacing unpaired surrogates with U+FFFD and ignoring a trailing odd byte.
func DecodeText(b []byte) string {
	n := len(b) / 2
	out := make([]byte, 0, n)
	first := true // no non-zero unit seen yet: a U+FEFF here is the BOM
	for i := 0; i < n; i++ {
		u := rune(binary.LittleEndian.Uint16(b[2*i:]))
		if u == 0 {
			continue
		}
		bom := u == 0xFEFF && first
		first = false
		switch {
		case bom:
			continue
		case utf16.IsSurrogate(u):
			if u < 0xDC00 && i+1 < n {
				u2 := rune(binary.LittleEndian.Uint16(b[2*i+2:]))
				if u2 >= 0xDC00 && u2 <= 0xDFFF {
					out = utf8.AppendRune(out, utf16.DecodeRune(u, u2))
					i++
					continue
				}
			}
			out = utf8.AppendRune(out, utf8.RuneError)
		default:
			out = utf8.AppendRune(out, u)
		}
	}
	return string(out)
}

// AppendFixed appends s as a fixed-width field of width bytes (width even):
// UTF-16LE truncated to the field without splitting a surrogate pair, then
// zero padded (protocol.md §3.2).
func AppendFixed(dst []byte, s string, width int) []byte {
	start := len(dst)
	for _, r := range s {
		need := 2
		if r >= 0x10000 {
			need = 4
		}
		if len(dst)-start+need > width {
			break
		}
		dst = appendRune(dst, r)
	}
	for len(dst)-start < width {
		dst = append(dst, 0)
	}
	return dst
}

// ReadFixed decodes a fixed-width field: code units up to the first 0x0000
// unit or the end of b.
func ReadFixed(b []byte) string {
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			return DecodeText(b[:i])
		}
	}
	return DecodeText(b)
}

// AppendNullTerm appends s as UTF-16LE followed by the 2-byte terminator
// (protocol.md §3.3). U+0000 characters inside s are dropped so that the
// string cannot be cut short.
func AppendNullTerm(dst []byte, s string) []byte {
	for _, r := range s {
		if r == 0 {
			continue
		}
		dst = appendRune(dst, r)
	}
	return append(dst, 0, 0)
}

// ReadNullTerm decodes a 16-bit null-terminated string from the start of b
// and returns it with the bytes after the terminator. A missing terminator
// ends the string at the end of b (rest is then empty).
func ReadNullTerm(b []byte) (s string, rest []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			return DecodeText(b[:i]), b[i+2:]
		}
	}
	return DecodeText(b), nil
}
