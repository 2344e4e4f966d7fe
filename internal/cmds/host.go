package cmds

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/mrci/mrci/internal/module"
)

func hostCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("host_info", "show information about the host.", "[none]/[text]",
				"Prints the host's application and version, runtime, host name and OS, its load and the "+
					"configured listening address and port."),
			In: userOnly, MaxArgs: 0, Run: runHostInfo,
		},
	}
}

func runHostInfo(ctx context.Context, c *module.Call) error {
	s, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	var b strings.Builder
	line := func(label string, value any) { fmt.Fprintf(&b, "%-16s%v\n", label, value) }
	line("Application:", Library)
	line("Product:", "mrci "+c.Host().ProductVersion())
	line("Go Runtime:", runtime.Version())
	line("Host Name:", hostname)
	line("Host OS:", runtime.GOOS+"/"+runtime.GOARCH)
	line("Load:", fmt.Sprintf("%d/%d", c.Host().SessionCount(), s.MaxSessions))
	line("Listening Addr:", s.ListenAddress)
	line("Listening Port:", s.ListenPort)
	c.Text(b.String())
	return nil
}
