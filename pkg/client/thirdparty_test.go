package client_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/gomodtest"
	"github.com/mrci/mrci/internal/host"
	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
)

// TestThirdPartyModule builds testdata/thirdparty in a module of its own
// (so only the public packages are importable) and runs it against a real
// host: login, a command with prompts, channel events, a cast and a file
// transfer (Upload and Download with progress).
func TestThirdPartyModule(t *testing.T) {
	src, err := os.ReadFile("testdata/thirdparty/main.go")
	if err != nil {
		t.Fatal(err)
	}
	exe := gomodtest.Build(t, map[string]string{"main.go": string(src)})
	h := hosttest.StartWith(t, hosttest.Options{Setup: func(st store.Store) {
		if err := host.InstallDefaultRanks(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}})
	ctx := hosttest.Ctx(t, 90e9)
	out, err := exec.CommandContext(ctx, exe, h.Addr, hosttest.RootPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("thirdparty: %v\n%s", err, out)
	}
	want := "logged in as root rank 1\nadd_acct answered 1 prompts\nevent: bob joined #team\ncast: hello bob\ntransfer: 320000 bytes up and down\n"
	if got := strings.ReplaceAll(string(out), "\r", ""); got != want {
		t.Fatalf("thirdparty printed\n%s\nwant\n%s", got, want)
	}
}
