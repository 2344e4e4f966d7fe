package wire

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 4 << 10}

func BenchmarkAppendFrame(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("payload=%d", n), func(b *testing.B) {
			f := Frame{Type: TypeText, Cmd: 300, Branch: 1, Payload: make([]byte, n)}
			buf := make([]byte, 0, FrameHeaderLen+n)
			b.SetBytes(int64(FrameHeaderLen + n))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = AppendFrame(buf[:0], f)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopReader serves the same bytes forever, so one Reader can be used for
// the whole benchmark.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkReaderReadFrame(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("payload=%d", n), func(b *testing.B) {
			enc := EncodeFrame(Frame{Type: TypeBytes, Cmd: 300, Payload: make([]byte, n)})
			r := NewReader(&loopReader{data: enc}, 0)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				f, err := r.ReadFrame()
				if err != nil || len(f.Payload) != n {
					b.Fatalf("%v, %d bytes", err, len(f.Payload))
				}
			}
		})
	}
}

func BenchmarkParseArgs(b *testing.B) {
	cases := map[string]string{
		"simple":  `-remote_file /srv/notes.txt -len 10`,
		"quoted":  `-client_file "my notes.txt" -remote_file '/srv/a b/notes.txt' -len 10 -single_step -force`,
		"escaped": `-msg say\"hi\" -path C:\dir\sub "x\"y" 'z\'w'`,
	}
	for name, text := range cases {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				words := ParseArgs(text, -1)
				if len(words) == 0 {
					b.Fatal("no words")
				}
			}
		})
	}
}
