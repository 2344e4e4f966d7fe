package modsdk_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/gomodtest"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/mrciwire"
)

// TestThirdPartyModule builds testdata/thirdparty in a module of its own
// (only the public packages are importable), adds the executable to a real
// host with add_mod and runs its command, answering its prompt.
func TestThirdPartyModule(t *testing.T) {
	exe := gomodtest.Build(t, map[string]string{"main.go": readFile(t, "testdata/thirdparty/main.go")})
	h := hosttest.Start(t)
	root := h.Root(t)
	ctx := hosttest.Ctx(t, 60e9)
	res, err := root.Run(ctx, "add_mod", "-mod_path "+client.QuoteArg(exe))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("add_mod: %v", err)
	}
	if _, err := root.WaitCommand(ctx, "tp_greet"); err != nil {
		t.Fatalf("the module's command was not announced: %v", err)
	}
	info, _ := root.CommandInfo("tp_greet")
	if info.Library != "thirdparty 1.0" || info.IO != "[{-name (text)}]/[text]" {
		t.Errorf("NEW_CMD %+v", info)
	}
	ans := client.TextPrompts(client.PromptFunc(func(context.Context, mrciwire.Frame) (string, error) { return "hello", nil }),
		func(f mrciwire.Frame) bool { return mrciwire.DecodeText(f.Payload) == "word: " })
	res, err = root.RunInteractive(ctx, "tp_greet", "-name world", ans)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("tp_greet: %v", err)
	}
	if got := res.Text(); !strings.HasSuffix(got, "hello, world (from root)\n") {
		t.Fatalf("tp_greet printed %q", got)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
