package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/mrci/mrci/internal/wire"
)

// Command names of the host's file-transfer commands.
const (
	UploadCommand   = "fs_upload"
	DownloadCommand = "fs_download"
)

// DefaultChunkSize is the payload size of the data frames Upload sends
// when TransferOptions.ChunkSize is zero.
const DefaultChunkSize = 1 << 20

var (
	// ErrRemoteExists is returned by Upload when the remote file exists and
	// TransferOptions.Overwrite is false.
	ErrRemoteExists = errors.New("client: remote file already exists")
	// ErrShortTransfer is returned when a transfer ended before the
	// announced number of bytes was moved.
	ErrShortTransfer = errors.New("client: transfer ended early")
)

// TransferOptions tune Upload and Download. The zero value uploads or
// downloads a whole file in streaming mode.
type TransferOptions struct {
	// Offset is the position in the remote file where writing (Upload) or
	// reading (Download) starts; resume a transfer by passing the number of
	// bytes already moved.
	Offset int64
	// Length is the number of bytes to download (0: to the end of the
	// remote file). Upload takes its length as an argument.
	Length int64
	// Truncate empties the remote file before an upload writes to it. Use
	// it for a fresh upload over an existing longer file; leave it off to
	// resume with Offset.
	Truncate bool
	// Overwrite lets Upload replace an existing remote file without the
	// host's question; without it Upload returns ErrRemoteExists when the
	// file exists.
	Overwrite bool
	// SingleStep uses the protocol's single-step mode (one chunk per
	// request); slower, for hosts or links that need it.
	SingleStep bool
	// Window, for Download, bounds the data in flight to this many chunks:
	// the transfer runs in single-step mode with up to Window requests
	// outstanding, so a writer slower than the link slows the host down
	// instead of filling the client's buffer (a streaming download fails
	// with ErrCallOverflow when w falls Options.MaxCallBuffer behind).
	// 0 streams.
	Window int
	// ChunkSize is the payload size of Upload's data frames (default
	// DefaultChunkSize, at most 16,777,215).
	ChunkSize int
	// Progress, if set, is called after every chunk with the bytes moved so
	// far and the total.
	Progress func(done, total int64)
}

// TransferError is returned when the host reported errors during a
// transfer; Messages are its ERR texts.
type TransferError struct{ Messages []string }

func (e *TransferError) Error() string {
	msgs := make([]string, len(e.Messages))
	for i, m := range e.Messages {
		msgs[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m), "err:"))
	}
	return "client: transfer: " + strings.Join(msgs, "; ")
}

// args renders a GEN_FILE parameter line.
func transferArgs(remote string, length int64, o TransferOptions, upload bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-remote_file %s -len %d", QuoteArg(remote), length)
	if o.Offset > 0 {
		fmt.Fprintf(&b, " -offset %d", o.Offset)
	}
	if o.SingleStep || (!upload && o.Window > 0) {
		b.WriteString(" -single_step")
	}
	if upload && o.Truncate {
		b.WriteString(" -truncate")
	}
	if upload && o.Overwrite {
		b.WriteString(" -force")
	}
	return b.String()
}

// Upload stores length bytes read from r in the host file remote with
// fs_upload (types.md §5.3), starting at opts.Offset, and returns the number
// of bytes the host accepted. r is read in chunks and never held in memory
// as a whole. The host's errors are returned as *TransferError.
func (c *Client) Upload(ctx context.Context, remote string, r io.Reader, length int64, opts TransferOptions) (int64, error) {
	if length < 0 || opts.Offset < 0 {
		return 0, errors.New("client: upload: negative length or offset")
	}
	chunk := opts.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	chunk = min(chunk, wire.MaxPayload)
	call, err := c.Start(ctx, UploadCommand)
	if err != nil {
		return 0, err
	}
	defer call.Close()
	if err := call.Send(wire.TypeGenFile, wire.EncodeText(transferArgs(remote, length, opts, true))); err != nil {
		return 0, err
	}
	// Phase 1: the host's reply, an optional question, the ready signal.
	var errs []string
	replied := false
	for {
		f, err := call.Next(ctx)
		if err != nil {
			return 0, uploadErr(errs, err)
		}
		switch f.Type {
		case wire.TypeErr:
			errs = append(errs, wire.DecodeText(f.Payload))
		case wire.TypeIdle:
			return 0, uploadErr(errs, ErrShortTransfer)
		case wire.TypeText:
			if strings.Contains(wire.DecodeText(f.Payload), "already exists") {
				if err := call.SendText("n"); err != nil {
					return 0, err
				}
				drain(ctx, call)
				return 0, fmt.Errorf("%w: %s", ErrRemoteExists, remote)
			}
		case wire.TypeGenFile:
			if !replied {
				replied = true
				continue
			}
			goto ready
		}
	}
ready:
	// Phase 2: data. A reader goroutine follows the host's answers so that
	// an error stops the sender, and single-step requests pace it.
	var (
		mu     sync.Mutex
		hostOK = true
		acks   = make(chan struct{}, 1)
		ended  = make(chan struct{})
		accept int64
	)
	go func() {
		defer close(ended)
		for {
			f, err := call.Next(ctx)
			if err != nil {
				mu.Lock()
				hostOK = false
				mu.Unlock()
				return
			}
			switch f.Type {
			case wire.TypeErr:
				mu.Lock()
				errs = append(errs, wire.DecodeText(f.Payload))
				mu.Unlock()
			case wire.TypeText:
				if n, ok := parseProgress(wire.DecodeText(f.Payload)); ok {
					mu.Lock()
					accept = n
					mu.Unlock()
				}
			case wire.TypeGenFile:
				select {
				case acks <- struct{}{}:
				default:
				}
			case wire.TypeIdle:
				mu.Lock()
				hostOK = false
				mu.Unlock()
				return
			}
		}
	}()
	buf := make([]byte, chunk)
	var sent int64
	var sendErr error
	for sent < length {
		mu.Lock()
		ok := hostOK
		mu.Unlock()
		if !ok {
			break
		}
		n, err := io.ReadFull(r, buf[:min(int64(chunk), length-sent)])
		if n > 0 {
			if err := call.Send(wire.TypeGenFile, buf[:n]); err != nil {
				sendErr = err
				break
			}
			// Send copies the frame into the client's write buffer, so buf
			// may be reused at once.
			sent += int64(n)
			if opts.Progress != nil {
				opts.Progress(sent, length)
			}
		}
		if err != nil {
			sendErr = fmt.Errorf("client: upload: read source after %d of %d bytes: %w", sent, length, err)
			_ = call.Terminate()
			break
		}
		if opts.SingleStep && sent < length {
			select {
			case <-acks:
			case <-ended:
			case <-ctx.Done():
				sendErr = ctx.Err()
			}
			if sendErr != nil {
				break
			}
		}
	}
	select {
	case <-ended:
	case <-ctx.Done():
		_ = call.Terminate()
		<-ended
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case sendErr != nil:
		return accept, sendErr
	case len(errs) > 0:
		return accept, &TransferError{errs}
	case ctx.Err() != nil:
		return accept, ctx.Err()
	case accept < length:
		return accept, fmt.Errorf("%w: %d of %d bytes", ErrShortTransfer, accept, length)
	}
	return accept, nil
}

func uploadErr(errs []string, err error) error {
	if len(errs) > 0 {
		return &TransferError{errs}
	}
	return err
}

// drain reads a call's frames up to its IDLE.
func drain(ctx context.Context, call *Call) {
	for {
		f, err := call.Next(ctx)
		if err != nil || f.Type == wire.TypeIdle {
			return
		}
	}
}

// parseProgress reads a "<done>/<total>" progress line.
func parseProgress(s string) (int64, bool) {
	done, _, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(done), 10, 64)
	return n, err == nil
}

// Download writes the host file remote (from opts.Offset, opts.Length
// bytes or to its end) to w with fs_download (types.md §5.4) and returns
// the number of bytes written. Chunks go to w as they arrive; the file is
// never held in memory as a whole, but w must keep up with the link (the
// call's buffer is Options.MaxCallBuffer). The host's errors are returned
// as *TransferError.
func (c *Client) Download(ctx context.Context, remote string, w io.Writer, opts TransferOptions) (int64, error) {
	if opts.Length < 0 || opts.Offset < 0 {
		return 0, errors.New("client: download: negative length or offset")
	}
	call, err := c.Start(ctx, DownloadCommand)
	if err != nil {
		return 0, err
	}
	defer call.Close()
	if err := call.Send(wire.TypeGenFile, wire.EncodeText(transferArgs(remote, opts.Length, opts, false))); err != nil {
		return 0, err
	}
	var (
		errs  []string
		total int64 = -1
		got   int64
		// Windowed single-step: requests sent and the number of chunks
		// the file takes (known after the first chunk: hosts send full
		// chunks except the last).
		requested, seen, chunks int64
	)
	window := int64(opts.Window)
	request := func() error {
		requested++
		return call.Send(wire.TypeGenFile, nil)
	}
	for {
		f, err := call.Next(ctx)
		if err != nil {
			if len(errs) > 0 {
				return got, &TransferError{errs}
			}
			return got, err
		}
		switch f.Type {
		case wire.TypeErr:
			errs = append(errs, wire.DecodeText(f.Payload))
		case wire.TypeIdle:
			switch {
			case len(errs) > 0:
				return got, &TransferError{errs}
			case total < 0 || got < total:
				return got, fmt.Errorf("%w: %d of %d bytes", ErrShortTransfer, got, max(total, 0))
			}
			return got, nil
		case wire.TypeGenFile:
			if total < 0 {
				total = replyLen(wire.DecodeText(f.Payload))
				if total < 0 {
					_ = call.Terminate()
					return 0, errors.New("client: download: the host's reply has no -len")
				}
				if err := request(); err != nil { // ready; in single-step mode also the first request
					return 0, err
				}
				continue
			}
			n := len(f.Payload)
			_, err := w.Write(f.Payload)
			recycleBulk(f.Payload) // io.Writer must not keep it
			if err != nil {
				_ = call.Terminate()
				drain(ctx, call)
				return got, fmt.Errorf("client: download: write: %w", err)
			}
			seen++
			if chunks == 0 && n > 0 {
				chunks = (total + int64(n) - 1) / int64(n)
			}
			got += int64(n)
			if opts.Progress != nil {
				opts.Progress(got, total)
			}
			switch {
			case got >= total:
			case window > 0:
				// Keep up to window requests outstanding, never more than
				// the chunks left; ask once more if the host's chunks were
				// shorter than the first one.
				for (requested < chunks && requested-seen < window) || requested == seen {
					if err := request(); err != nil {
						return got, err
					}
				}
			case opts.SingleStep:
				if err := request(); err != nil {
					return got, err
				}
			}
		}
	}
}

// bulkPayloadSize is the capacity of the pooled buffers large payloads
// (download chunks) are read into; bulkPayloadMin is the smallest payload
// read into one, so a buffer never holds more than twice its payload.
const (
	bulkPayloadSize = 1 << 20
	bulkPayloadMin  = bulkPayloadSize / 2
)

// bulkPool holds the buffers of large payloads, so a download neither
// allocates nor grows a fresh buffer per chunk.
var bulkPool = sync.Pool{New: func() any { b := make([]byte, bulkPayloadSize); return &b }}

// bulkPayload returns a pooled buffer of n <= bulkPayloadSize bytes.
func bulkPayload(n int) []byte { return (*bulkPool.Get().(*[]byte))[:n] }

// recycleBulk gives a payload from bulkPayload back once nothing refers to
// it; other slices are left to the collector.
func recycleBulk(b []byte) {
	if cap(b) != bulkPayloadSize {
		return
	}
	b = b[:cap(b)]
	bulkPool.Put(&b)
}

// replyLen reads -len from the host's "-from_host -len N" reply (-1: none).
func replyLen(s string) int64 {
	v := wire.GetParam(wire.ParseArgs(s, -1), "-len")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
