package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mrci/mrci/pkg/client"
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
