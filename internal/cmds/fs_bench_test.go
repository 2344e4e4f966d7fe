package cmds_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/pkg/client"
)

// benchSize is the file size of the transfer benchmarks (env
// MRCI_BENCH_FILE_MB, default 64 MiB); mrcibench transfer measures 1 GiB
// against a separate host process.
func benchSize() int64 {
	if v, err := strconv.Atoi(os.Getenv("MRCI_BENCH_FILE_MB")); err == nil && v > 0 {
		return int64(v) << 20
	}
	return 64 << 20
}

// zeroReader yields zero bytes.
type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func benchTransfer(b *testing.B, tls, upload bool, chunkSize int) {
	benchTransferWindow(b, tls, upload, chunkSize, 0)
}

func benchTransferWindow(b *testing.B, tls, upload bool, chunkSize, window int) {
	h := hosttest.StartWith(b, hosttest.Options{ForceTLS: tls})
	c := h.Root(b)
	size := benchSize()
	root := filepath.Join(h.DataDir, "files")
	if err := os.MkdirAll(root, 0o700); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(root, "bench.bin"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, zeroReader{}, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	ctx := context.Background()
	b.SetBytes(size)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		var n int64
		var err error
		if upload {
			n, err = c.Upload(ctx, "bench.bin", io.LimitReader(zeroReader{}, size), size,
				client.TransferOptions{Overwrite: true, ChunkSize: chunkSize})
		} else {
			n, err = c.Download(ctx, "bench.bin", io.Discard, client.TransferOptions{Window: window})
		}
		if err != nil || n != size {
			b.Fatalf("%d, %v", n, err)
		}
	}
	// CPU seconds (host and client together, user + system) per GB moved:
	// a figure that, unlike MB/s, does not depend on how busy the machine is.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/(float64(size)*float64(b.N)/1e9), "cpu-s/GB")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFsDownload and BenchmarkFsUpload move one file through a real
// session (host and client in this process).
func BenchmarkFsDownload(b *testing.B) {
	for _, tls := range []bool{false, true} {
		b.Run(fmt.Sprintf("tls=%v", tls), func(b *testing.B) { benchTransfer(b, tls, false, 0) })
		b.Run(fmt.Sprintf("tls=%v/window=16", tls), func(b *testing.B) { benchTransferWindow(b, tls, false, 0, 16) })
	}
}

func BenchmarkFsUpload(b *testing.B) {
	for _, tls := range []bool{false, true} {
		for _, chunk := range []int{256 << 10, 1 << 20, 4 << 20} {
			b.Run(fmt.Sprintf("tls=%v/chunk=%d", tls, chunk), func(b *testing.B) { benchTransfer(b, tls, true, chunk) })
		}
	}
}
