package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
)

// stallReader returns its data, then reports that it is blocked and waits
// until release closes (a peer that announced a payload and stopped).
type stallReader struct {
	data    []byte
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stallReader) Read(b []byte) (int, error) {
	if len(s.data) > 0 {
		n := copy(b, s.data)
		s.data = s.data[n:]
		return n, nil
	}
	s.once.Do(func() { close(s.blocked) })
	<-s.release
	return 0, io.EOF
}

// TestHeadersDoNotAllocateAnnouncedPayload is the attack of issue 8
// defect 3: 60 frame headers announcing 16 MiB each (480 bytes sent) made
// the reader allocate ~1 GB. Buffers must grow only as bytes arrive.
func TestHeadersDoNotAllocateAnnouncedPayload(t *testing.T) {
	const readers = 60
	release := make(chan struct{})
	var wg sync.WaitGroup
	stalls := make([]*stallReader, readers)
	for i := range stalls {
		hdr := AppendFrameHeader(nil, TypeText, 1, 0, MaxPayload)
		stalls[i] = &stallReader{data: append(hdr, make([]byte, 100)...), blocked: make(chan struct{}), release: release}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	errs := make(chan error, readers)
	for _, s := range stalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := NewReader(s, 0).ReadFrame()
			errs <- err
		}()
	}
	for _, s := range stalls {
		<-s.blocked // every reader has the header and is waiting for the payload
	}
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadFrame = %v, want io.ErrUnexpectedEOF", err)
		}
	}
	// The old reader allocated 60 x 16 MiB = 960 MiB here. Each reader now
	// holds its 64 KiB bufio buffer and a 32 KiB payload start.
	grown := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 32<<20 {
		t.Fatalf("heap grew by %d MiB while 60 readers waited for announced 16 MiB payloads", grown>>20)
	}
}

func TestReadGrowing(t *testing.T) {
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for name, src := range map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(data) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
	} {
		for _, n := range []int{0, 1, growStart, growStart + 1, 100_000, len(data)} {
			p, err := ReadGrowing(src(), n)
			if err != nil || !bytes.Equal(p, data[:n]) {
				t.Errorf("%s n=%d: err %v, equal %v", name, n, err, bytes.Equal(p, data[:n]))
			}
		}
		if _, err := ReadGrowing(src(), len(data)+1); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: short read: err %v, want io.ErrUnexpectedEOF", name, err)
		}
	}
	if _, err := ReadGrowing(bytes.NewReader(nil), growStart+1); err != io.EOF {
		t.Errorf("empty: err %v, want io.EOF", err)
	}
}
