package module

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestModuleProcessEnvironment starts a real child process as a module
// (a shell script that writes its environment to a file and exits) and
// checks that it sees only the documented variables: no secret of the
// host's environment such as MRCI_ROOT_PASSWORD (issue 8, point 10).
func TestModuleProcessEnvironment(t *testing.T) {
	t.Setenv("MRCI_ROOT_PASSWORD", "Secret-Root-Pass-1")
	t.Setenv("MRCI_PG_DSN", "postgres://u:secret@db/x")
	t.Setenv("LC_ALL", "C.UTF-8")
	t.Setenv("TZ", "UTC")
	t.Setenv("MRCI_NOTEBOOK_DIR", "/srv/notes")
	t.Setenv("MRCI_OTHER", "not passed")
	t.Setenv(PassEnvVar, "MRCI_NOTEBOOK_DIR, MRCI_ABSENT")
	dir := t.TempDir()
	out := filepath.Join(dir, "env.txt")
	script := filepath.Join(dir, "envmod")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > '"+out+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rt := NewRuntime(ExternalConfig{Env: []string{"MRCI_MODULE_EXTRA=1", "TZ=Europe/Berlin"}})
	t.Cleanup(rt.Close)
	p, err := rt.spawn(script, []string{"-public_cmds"}, "", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the module process did not exit")
	}
	p.finish()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
			env[k] = v
		}
	}
	for _, secret := range []string{"MRCI_ROOT_PASSWORD", "MRCI_PG_DSN", "MRCI_OTHER", PassEnvVar} {
		if _, ok := env[secret]; ok {
			t.Errorf("module process sees %s", secret)
		}
	}
	want := map[string]string{"EXENAME": "mrci", "LC_ALL": "C.UTF-8", "TZ": "Europe/Berlin", "MRCI_MODULE_EXTRA": "1",
		"PATH": os.Getenv("PATH"), "MRCI_NOTEBOOK_DIR": "/srv/notes"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	allowed := []string{"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "EXENAME", "MRCI_MODULE_EXTRA", "MRCI_NOTEBOOK_DIR",
		"PWD", "SHLVL", "_", "OLDPWD"} // the last four are set by the shell itself
	for k := range env {
		if !slices.Contains(allowed, k) && !strings.HasPrefix(k, "LC_") {
			t.Errorf("unexpected variable %s=%q in the module's environment", k, env[k])
		}
	}
}
