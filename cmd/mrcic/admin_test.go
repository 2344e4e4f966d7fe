package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
)

// TestInteractiveAdministration drives the host administration commands
// through mrcic's interactive prompt against a real host: the host_config
// menu with a refused and an accepted value, a paged table viewer, and
// close_host's confirmation, after which the host closes the session.
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
	stdin := strings.Join([]string{
		"host_config", "1", "0", "12", "", "0", // option 1: refused 0, accepted 12; back; exit
		"ls_act_log -client_app paging", "n", // first page, then no next page
		"close_host", "close", "CLOSE",
	}, "\n") + "\n"
	r := runMrcic(t, stdin, "--addr", h.Addr, "--cert-pin", pin, "--user", "root", "--password-file", pw)
	for _, want := range []string{"select an option:", "err: value cannot be 0", "Auto Ban Threshold:", "12",
		"row 49", "next page (y/n)?", "err: type CLOSE exactly", hostClosing} {
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

const hostClosing = "The host is shutting down; this session is ending."
