package host_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/metrics"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
	"github.com/mrci/mrci/pkg/modsdk/modsdktest"
)

// metricLine returns the exposition line of a metric without labels.
func metricLine(t *testing.T, h *hosttest.Host, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Metrics().Handler(metrics.HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

// sysErrors returns the error texts of ASYNC_SYS_MSG frames the client has
// received so far (call it after a command's reply: asyncs sent before it
// are in the channel by then), skipping other asyncs.
func sysErrors(c *client.Client) []string {
	var out []string
	for {
		select {
		case f := <-c.Async():
			if f.Cmd == uint16(wire.AsyncSysMsg) && f.Type == wire.TypeErr {
				out = append(out, wire.DecodeText(f.Payload))
			}
		default:
			return out
		}
	}
}

// TestModuleFileMissingOnThisHost: a registered module whose executable
// disappears is left out of the host's modules: sessions lose its
// commands (and new ones never get them, without error messages), ls_mods
// says why, the log says it once and mrci_modules_missing counts it. When
// the file is installed again, the next check brings the commands back
// without a restart.
func TestModuleFileMissingOnThisHost(t *testing.T) {
	logs := &hosttest.Buffer{}
	h := hosttest.StartWith(t, hosttest.Options{ModuleCheck: -1,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	h.ConfigureModules(module.ExternalConfig{KillGrace: 500 * time.Millisecond, ConnectTimeout: 30 * time.Second,
		ListQuiet: time.Second, ListTimeout: 30 * time.Second})
	dir := t.TempDir()
	path, err := modsdktest.WriteModule(dir, "late", modsdktest.Normal)
	if err != nil {
		t.Fatal(err)
	}
	if path, err = module.CanonicalPath(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Stop()
		if e := h.ExternalModule(path); e != nil {
			waitUntil(t, 10*time.Second, "module processes ended", func() bool { return e.Running() == 0 })
		}
	})
	root := h.Root(t)
	runText(t, root, "add_mod", "-mod_path "+path)
	waitCmds(t, root, []string{"echo", "usr_cmd"}, nil)

	// The file goes: the next check takes the commands away.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	h.CheckModules()
	waitCmds(t, root, nil, []string{"echo", "usr_cmd"})
	marked := path + " (missing on this host: no such file)"
	for range 3 {
		c := h.Root(t)
		if got := runText(t, c, "ls_mods", ""); !strings.Contains(got, marked) {
			t.Fatalf("ls_mods lacks %q:\n%s", marked, got)
		}
		if _, ok := c.Commands()["echo"]; ok {
			t.Fatal("a new session got the missing module's commands")
		}
		if errs := sysErrors(c); len(errs) != 0 {
			t.Fatalf("a new session was sent errors: %q", errs)
		}
		h.CheckModules()
	}
	if n := logs.Count("module executable missing on this node"); n != 1 {
		t.Errorf("%d warnings about the missing file, want 1", n)
	}
	if n := logs.Count("module=" + path); n == 0 {
		t.Error("the warning does not name the module path")
	}
	if n := logs.Count("list module commands"); n != 0 {
		t.Errorf("%d listing errors logged, want none", n)
	}
	if l := metricLine(t, h, "mrci_modules_missing"); l != "mrci_modules_missing 1" {
		t.Errorf("metric: %q", l)
	}

	// A file that is there but not executable is still missing.
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.CheckModules()
	if got := runText(t, root, "ls_mods", ""); !strings.Contains(got, path+" (missing on this host: not executable)") {
		t.Fatalf("ls_mods:\n%s", got)
	}

	// The operator installs it: sessions get its commands back.
	if _, err := modsdktest.WriteModule(dir, "late", modsdktest.Normal); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	h.CheckModules()
	waitCmds(t, root, []string{"echo", "usr_cmd"}, nil)
	if got := runText(t, root, "echo", "back again"); got != "back again" {
		t.Fatalf("echo = %q", got)
	}
	if got := runText(t, root, "ls_mods", ""); strings.Contains(got, "missing") {
		t.Fatalf("ls_mods still marks the module:\n%s", got)
	}
	if l := metricLine(t, h, "mrci_modules_missing"); l != "mrci_modules_missing 0" {
		t.Errorf("metric: %q", l)
	}
	if n := logs.Count("module executable found on this node"); n != 1 {
		t.Errorf("%d notices of the file's return, want 1", n)
	}
	if n := logs.Count("module executable missing on this node"); n != 1 {
		t.Errorf("%d warnings about the missing file, want 1", n)
	}
}
