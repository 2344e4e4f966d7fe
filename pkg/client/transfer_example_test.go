package client_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mrci/mrci/pkg/client"
)

func ExampleClient_Upload() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "alice", os.Getenv("MRCI_PASSWORD")); err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("report.pdf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	// Replace the host's file; the file is streamed in 1 MiB frames.
	n, err := c.Upload(ctx, "docs/report.pdf", f, fi.Size(), client.TransferOptions{
		Overwrite: true,
		Truncate:  true,
		Progress:  func(done, total int64) { fmt.Printf("\r%d/%d", done, total) },
	})
	if err != nil {
		log.Fatalf("upload: %v (%d bytes arrived; resume with Offset: %d)", err, n, n)
	}
}

func ExampleClient_Download() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "alice", os.Getenv("MRCI_PASSWORD")); err != nil {
		log.Fatal(err)
	}
	// Resume a partial download: append from the size already present.
	f, err := os.OpenFile("report.pdf", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	n, err := c.Download(ctx, "docs/report.pdf", f, client.TransferOptions{Offset: fi.Size()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("received", n, "bytes")
	// Verify end to end with the host's fs_hash extension.
	res, err := c.Run(ctx, "fs_hash", "-path docs/report.pdf")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(res.Text()) // "sha256 <hex digest>"
}
