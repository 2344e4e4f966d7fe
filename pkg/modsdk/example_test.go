package modsdk_test

import (
	"context"
	"fmt"

	"github.com/mrci/mrci/pkg/modsdk"
)

// A module with two commands: a public greeting, and an interactive
// command for logged-in users that reads the session data.
func Example() {
	m := &modsdk.Module{Library: "example 1.0"}
	m.Add(
		&modsdk.Command{
			Name: "greet", Summary: "say hello.", IO: "[{-name (text)}]/[text]",
			Long:   "Greets -name, or the world.",
			Public: true, Exempt: true,
			Run: func(_ context.Context, c *modsdk.Call) error {
				name := c.Param("-name")
				if name == "" {
					name = "world"
				}
				return c.Text("hello, " + name + "!\n")
			},
		},
		&modsdk.Command{
			Name: "whoami", Summary: "show your account.", IO: "[none]/[text]",
			User: true, // rank 1, or the rank an administrator assigns
			Run: func(ctx context.Context, c *modsdk.Call) error {
				s, err := c.Session()
				if err != nil {
					return err
				}
				ok, err := c.Confirm(ctx, "show your rank too? (y/n): ")
				if err != nil {
					return err
				}
				if ok {
					return c.Text(fmt.Sprintf("%s (rank %d)\n", s.UserName, s.Rank))
				}
				return c.Text(s.UserName + "\n")
			},
		},
	)
	// In a real module: m.Main() — it reads the host's command line,
	// connects to the pipe and serves the listing or the command.
	fmt.Println(len(m.Commands()), "commands")
	// Output: 2 commands
}
