package module

import "testing"

// TestPayloadBufSizeClasses: a pooled payload buffer is never more than
// twice its payload (from PayloadBufMin up), so the transit budget, which
// counts payload bytes, bounds the memory held to twice as much; and only
// buffers of a class's exact capacity are taken back.
func TestPayloadBufSizeClasses(t *testing.T) {
	for _, n := range []int{1, PayloadBufMin - 1, PayloadBufMin, PayloadBufMin + 1, 100 << 10, 256 << 10, 256<<10 + 1, PayloadBufSize - 8, PayloadBufSize} {
		b := PayloadBuf(n)
		if len(b) != n || cap(b) < n {
			t.Fatalf("PayloadBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		if n >= PayloadBufMin && cap(b) >= 2*n {
			t.Fatalf("PayloadBuf(%d): cap %d, at least twice the payload", n, cap(b))
		}
		if c := cap(b); c&(c-1) != 0 || c < PayloadBufMin || c > PayloadBufSize {
			t.Fatalf("PayloadBuf(%d): cap %d is not a size class", n, c)
		}
		RecyclePayload(b[:0])
		if got := PayloadBuf(n); len(got) != n || cap(got) != cap(b) {
			t.Fatalf("after recycling, PayloadBuf(%d): len %d cap %d, want cap %d", n, len(got), cap(got), cap(b))
		}
	}
	// Foreign capacities are left to the collector (no panic, no class
	// gets a buffer of the wrong size).
	for _, c := range []int{100, PayloadBufMin + 1, 3 * PayloadBufMin, 2 * PayloadBufSize} {
		RecyclePayload(make([]byte, 0, c))
	}
	for c := range payloadClasses {
		if b := PayloadBuf(PayloadBufMin << c); cap(b) != PayloadBufMin<<c {
			t.Fatalf("class %d handed out a buffer of cap %d", c, cap(b))
		}
	}
}
