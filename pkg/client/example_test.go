package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/mrciwire"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Trust exactly the certificate saved from an earlier connection.
	pin, err := os.ReadFile("host-cert.pem")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(ctx, "mrci.example.org:35516", client.Options{PinnedCert: string(pin)})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("session", c.SessionID(), "host version", c.HostVersion(), "encrypted", c.Encrypted())

	// Print system messages and other async traffic as it arrives.
	go func() {
		for f := range c.Async() {
			fmt.Printf("async %d: %s, %d bytes\n", f.Cmd, f.Type, len(f.Payload))
		}
	}()
}

func ExampleClient_Run() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.Run(ctx, "host_info", "")
	if err != nil {
		log.Fatal(err) // transport problem, unknown command, prompt, ctx
	}
	fmt.Print(res.Text())
	if err := res.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "command failed:", err)
	}
}

func ExampleClient_Login() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The first login of the default root account must choose a new password.
	err = c.Login(ctx, "root", "initial password", client.WithNewPassword("N3w-Secret!pw"))
	if err != nil {
		log.Fatal(err)
	}
	me, _ := c.MyInfo()
	fmt.Println("logged in as", me.Peer.UserName, "rank", me.Rank)
}

// A command that asks questions: add_acct prompts for the new account's
// password with PRIV_TEXT, which RunInteractive hands to the Prompter.
func ExampleClient_RunInteractive() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "root", os.Getenv("MRCI_PASSWORD")); err != nil {
		log.Fatal(err)
	}
	answer := client.PromptFunc(func(_ context.Context, prompt mrciwire.Frame) (string, error) {
		fmt.Print(mrciwire.DecodeText(prompt.Payload))
		return "Bob-Initial-Pass1", nil
	})
	res, err := c.RunInteractive(ctx, "add_acct", "-name bob -email bob@example.org", answer)
	if err != nil {
		log.Fatal(err)
	}
	if err := res.Err(); err != nil {
		log.Fatal(err) // the host's ERR text
	}
}

// Casting: open a sub-channel, then send any frame with the cast command;
// every other session with the sub-channel open receives it on Async.
func ExampleCall_Run() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "alice", os.Getenv("MRCI_PASSWORD")); err != nil {
		log.Fatal(err)
	}
	if res, err := c.Run(ctx, "open_sub_ch", "-ch_name team -sub_name general"); err != nil || res.Err() != nil {
		log.Fatal(err, res.Err())
	}
	call, err := c.Start(ctx, "cast")
	if err != nil {
		log.Fatal(err)
	}
	defer call.Close()
	res, err := call.Run(ctx, mrciwire.TypeText, mrciwire.EncodeText("hello, team"), nil)
	if err != nil || res.Err() != nil {
		log.Fatal(err, res.Err())
	}
}

// Events: every async frame arrives on Async; the payload types are
// decoded with package mrciwire.
func ExampleClient_Async() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:35516", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for f := range c.Async() {
		switch mrciwire.AsyncID(f.Cmd) {
		case mrciwire.AsyncCast:
			if f.Type == mrciwire.TypeText {
				fmt.Println("cast:", mrciwire.DecodeText(f.Payload))
			}
		case mrciwire.AsyncInvitedToCh:
			if m, err := mrciwire.ParseChMemberInfo(f.Payload); err == nil {
				fmt.Printf("%s was invited to #%s\n", m.UserName, m.ChannelName)
			}
		case mrciwire.AsyncSysMsg:
			if f.Type == mrciwire.TypeText {
				fmt.Println(strings.TrimSpace(mrciwire.DecodeText(f.Payload)))
			}
		}
	}
	fmt.Println("connection ended:", c.Err())
}
