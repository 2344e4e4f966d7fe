// Command hello is a minimal MRCI module: one command, "hello", that
// greets the caller by the name given with -name, else by the display or
// user name of the logged-in account (read from the session data), else
// the world.
//
// Build it and register it with a host:
//
//	go build -o /usr/local/lib/mrci/hello ./examples/hello
//	# then, as an administrator: add_mod -mod_path /usr/local/lib/mrci/hello
package main

import (
	"context"

	"github.com/mrci/mrci/pkg/modsdk"
)

func main() { module().Main() }

func module() *modsdk.Module {
	m := &modsdk.Module{Library: "hello 1.0"}
	m.Add(&modsdk.Command{
		Name:    "hello",
		Summary: "say hello.",
		IO:      "[{-name (text)}]/[text]",
		Long:    "Greets -name, or the logged-in user, or the world.",
		Public:  true, // loaded while nobody is logged in
		Exempt:  true, // and for every logged-in user
		Run: func(_ context.Context, c *modsdk.Call) error {
			name := c.Param("-name")
			if s, err := c.Session(); name == "" && err == nil && s.LoggedIn {
				name = s.DisplayName
				if name == "" {
					name = s.UserName
				}
			}
			if name == "" {
				name = "world"
			}
			return c.Text("hello, " + name + "!\n")
		},
	})
	return m
}
