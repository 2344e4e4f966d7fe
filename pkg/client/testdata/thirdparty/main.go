// Command thirdparty uses package client the way a program outside the mrci
// repository does: it imports only pkg/client and pkg/mrciwire. The test
// TestThirdPartyModule builds it in a module of its own and runs it against
// a real host: usage thirdparty ADDR ROOT_PASSWORD.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/mrciwire"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func must(res *client.Result, err error) error {
	if err != nil {
		return err
	}
	return res.Err()
}

func run(addr, rootPW string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, err := client.Dial(ctx, addr, client.Options{AppName: "thirdparty"})
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Login(ctx, "root", rootPW); err != nil {
		return err
	}
	me, _ := root.MyInfo()
	fmt.Printf("logged in as %s rank %d\n", me.Peer.UserName, me.Rank)

	// A command with prompts: add_acct asks for the new account's password.
	var prompts []string
	answer := client.PromptFunc(func(_ context.Context, f mrciwire.Frame) (string, error) {
		prompts = append(prompts, strings.TrimSpace(mrciwire.DecodeText(f.Payload)))
		return "Bob-Pass-12345", nil
	})
	if err := must(root.RunInteractive(ctx, "add_acct", "-name bob -email bob@example.org", answer)); err != nil {
		return fmt.Errorf("add_acct: %w", err)
	}
	fmt.Printf("add_acct answered %d prompts\n", len(prompts))
	for _, cmd := range []string{"add_ch -ch_name team", "add_sub_ch -ch_name team -sub_name general", "invite_to_ch -ch_name team -user bob"} {
		name, args, _ := strings.Cut(cmd, " ")
		if err := must(root.Run(ctx, name, args)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}

	bob, err := client.Dial(ctx, addr, client.Options{AppName: "thirdparty"})
	if err != nil {
		return err
	}
	defer bob.Close()
	if err := bob.Login(ctx, "bob", "Bob-Pass-12345"); err != nil {
		return err
	}
	for _, cmd := range []string{"accept_ch -ch_name team", "open_sub_ch -ch_name team -sub_name general"} {
		name, args, _ := strings.Cut(cmd, " ")
		if err := must(bob.Run(ctx, name, args)); err != nil {
			return fmt.Errorf("bob %s: %w", name, err)
		}
	}
	if err := must(root.Run(ctx, "open_sub_ch", "-ch_name team -sub_name general")); err != nil {
		return err
	}

	// Events: root is a member of team and sees bob accept the invitation.
	if err := waitAsync(ctx, root, func(f mrciwire.Frame) bool {
		if mrciwire.AsyncID(f.Cmd) != mrciwire.AsyncInviteAccepted {
			return false
		}
		m, err := mrciwire.ParseChMemberInfo(f.Payload)
		if err == nil {
			fmt.Printf("event: %s joined #%s\n", m.UserName, m.ChannelName)
		}
		return err == nil
	}); err != nil {
		return fmt.Errorf("waiting for the accept event: %w", err)
	}

	// Casts: root casts a TEXT frame on its writable sub-channels.
	call, err := root.Start(ctx, "cast")
	if err != nil {
		return err
	}
	if err := must(call.Run(ctx, mrciwire.TypeText, mrciwire.EncodeText("hello bob"), nil)); err != nil {
		return fmt.Errorf("cast: %w", err)
	}
	call.Close()
	if err := waitAsync(ctx, bob, func(f mrciwire.Frame) bool {
		if mrciwire.AsyncID(f.Cmd) != mrciwire.AsyncCast || f.Type != mrciwire.TypeText {
			return false
		}
		fmt.Printf("cast: %s\n", mrciwire.DecodeText(f.Payload))
		return true
	}); err != nil {
		return err
	}

	// A file transfer: upload, then download it back, with progress.
	data := []byte(strings.Repeat("0123456789abcdef", 20000)) // 320,000 bytes
	var progressed int64
	up, err := root.Upload(ctx, "thirdparty.bin", bytes.NewReader(data), int64(len(data)),
		client.TransferOptions{Truncate: true, Overwrite: true, ChunkSize: 64 << 10,
			Progress: func(done, _ int64) { progressed = done }})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	var back bytes.Buffer
	down, err := root.Download(ctx, "thirdparty.bin", &back, client.TransferOptions{})
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if !bytes.Equal(back.Bytes(), data) || up != down || progressed != up {
		return fmt.Errorf("transfer: uploaded %d (progress %d), downloaded %d, equal %v", up, progressed, down, bytes.Equal(back.Bytes(), data))
	}
	fmt.Printf("transfer: %d bytes up and down\n", up)
	return nil
}

func waitAsync(ctx context.Context, c *client.Client, match func(mrciwire.Frame) bool) error {
	for {
		select {
		case f, ok := <-c.Async():
			if !ok {
				return c.Err()
			}
			if match(f) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
