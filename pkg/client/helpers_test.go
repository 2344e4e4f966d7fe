package client_test

import (
	"encoding/pem"
	"unicode/utf8"
)

func pemDER(b []byte) []byte {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil
	}
	return blk.Bytes
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
