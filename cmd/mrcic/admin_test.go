package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
)

// TestInteractiveAdministration drives the interactive administration
// commands through mrcic's scripting mode (-c with --answer) against a real
// host: the host_config menu with a refused and an accepted value, a paged
// table viewer, and close_host's confirmation, after which the host stops.
func TestInteractiveAdministration(t *testing.T) {
	h := hosttest.StartWith(t, hosttest.Options{ForceTLS: true})
	var acts []store.Activity
	for i := range 60 {
		acts = append(acts, store.Activity{IP: "192.0.2.9", ClientApp: "paging", Entry: fmt.Sprintf("row %02d", i)})
	}
	if err := h.Store.LogActivity(context.Background(), acts...); err != nil {
		t.Fatal(err)
	}
	pw := writeFile(t, "pw", hosttest.RootPassword+"\n")
	pin := writeFile(t, "cert.pem", string(h.Cert.CertPEM))
	// The scripting mode answers each prompt with the next --answer value.
	args := []string{"--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw,
		"-c", "host_config", "--answer", "1", "--answer", "0", "--answer", "12", "--answer", "", "--answer", "0"}
	r := runMrcic(t, "", args...)
	r2 := runMrcic(t, "", "--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw,
		"-c", "ls_act_log -client_app paging", "--answer", "n")
	r3 := runMrcic(t, "", "--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw,
		"-c", "close_host", "--answer", "close", "--answer", "CLOSE")
	r.stdout += r2.stdout + r3.stdout
	r.stderr += r2.stderr + r3.stderr
	for _, want := range []string{"select an option:", "err: value cannot be 0", "Auto Ban Threshold:", "12",
		"row 49", "next page (y/n)?", "err: type CLOSE exactly"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "row 50") {
		t.Errorf("the second page was shown although the answer was n")
	}
	s, _ := h.Store.Settings(context.Background())
	if s.AutoBanThreshold != 12 {
		t.Fatalf("auto_ban_threshold = %d, want 12", s.AutoBanThreshold)
	}
	<-h.Done()
}

// hostClosing is the notice a host that shuts down sends every session
// (host.NoticeClosing without its line breaks).
const hostClosing = "The host is shutting down; this session is ending."
