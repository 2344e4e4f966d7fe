package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandlerProbesAndPprof(t *testing.T) {
	m := New(func() float64 { return 0 }, func() float64 { return 0 })
	var notReady error = errors.New("not listening")
	h := m.Handler(HandlerOptions{Ready: func() error { return notReady }})
	if code, body := get(h, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code, body := get(h, "/readyz"); code != 503 || !strings.Contains(body, "not listening") {
		t.Fatalf("/readyz not ready: %d %q", code, body)
	}
	notReady = nil
	if code, _ := get(h, "/readyz"); code != 200 {
		t.Fatalf("/readyz ready: %d", code)
	}
	if code, _ := get(h, "/debug/pprof/"); code != 404 {
		t.Fatalf("pprof without the option: %d", code)
	}
	if code, _ := get(m.Handler(HandlerOptions{Pprof: true}), "/debug/pprof/"); code != 200 {
		t.Fatalf("pprof with the option: %d", code)
	}
	m.AuthAttempt(true)
	m.AuthAttempt(false)
	m.AuthAttempt(false)
	m.ObserveCommand("host_info", time.Millisecond)
	_, body := get(h, "/metrics")
	for _, want := range []string{`mrci_auth_attempts_total{result="accepted"} 1`, `mrci_auth_attempts_total{result="refused"} 2`,
		`mrci_command_seconds_count{command="host_info"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var nilM *Metrics
	nilM.AuthAttempt(true)
	nilM.ObserveCommand("x", time.Second)
}
