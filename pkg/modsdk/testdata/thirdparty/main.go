// Command thirdparty is a host module written the way a program outside the
// mrci repository writes one: it imports only pkg/modsdk. The test
// TestThirdPartyModule builds it in a module of its own, adds it to a real
// host with add_mod and runs its command.
package main

import (
	"context"
	"fmt"

	"github.com/mrci/mrci/pkg/modsdk"
)

func main() {
	m := &modsdk.Module{Library: "thirdparty 1.0"}
	m.Add(&modsdk.Command{
		Name: "tp_greet", Summary: "greet, after asking.", IO: "[{-name (text)}]/[text]",
		Long: "Asks for a word and greets -name with it.",
		User: true,
		Run: func(ctx context.Context, c *modsdk.Call) error {
			s, err := c.Session()
			if err != nil {
				return err
			}
			word, err := c.Prompt(ctx, "word: ")
			if err != nil {
				return err
			}
			return c.Text(fmt.Sprintf("%s, %s (from %s)\n", word, c.Param("-name"), s.UserName))
		},
	})
	m.Main()
}
