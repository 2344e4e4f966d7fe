// Package metrics holds the host's Prometheus metrics and the HTTP handler
// that serves them, the health probes and, when asked for, the runtime
// profiler under /debug/pprof/.
package metrics

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the host's counters. A nil *Metrics is valid and counts nothing.
type Metrics struct {
	reg            *prometheus.Registry
	FramesIn       prometheus.Counter
	FramesOut      prometheus.Counter
	SlowConsumers  prometheus.Counter
	AsyncsRefused  prometheus.Counter
	SessionsOpened prometheus.Counter

	// Admission and robustness (issue 8).
	ConnectionsRefused *prometheus.CounterVec // by reason
	Panics             *prometheus.CounterVec // by where
	AcceptErrors       prometheus.Counter
	// AuthAttempts counts password log-in attempts by result
	// ("accepted", "refused").
	AuthAttempts *prometheus.CounterVec
	// CommandSeconds is the time from a command call's first frame to its
	// IDLE, per command name (interactive calls include the time the user
	// takes to answer).
	CommandSeconds *prometheus.HistogramVec
	// Outbound delivery (slow consumers).
	CastStalls prometheus.Counter
}

// New creates the metrics; sessions and deliveries are read from the given
// functions at scrape time.
func New(sessions func() float64, deliveries func() float64) *Metrics {
	reg := prometheus.NewRegistry()
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mrci", Name: name, Help: help})
	}
	m := &Metrics{
		reg:            reg,
		FramesIn:       c("frames_in_total", "Frames received from clients."),
		FramesOut:      c("frames_out_total", "Frames queued for clients by sessions (casts excluded)."),
		SlowConsumers:  c("slow_consumers_total", "Sessions disconnected as slow consumers (outbound queue over its hard limit, mailbox overflow or write deadline missed)."),
		AsyncsRefused:  c("asyncs_refused_total", "Async commands from modules refused by the routing rules."),
		SessionsOpened: c("sessions_opened_total", "Sessions that completed set-up."),
		AuthAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mrci", Name: "auth_attempts_total",
			Help: "Password log-in attempts, by result."}, []string{"result"}),
		CommandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "mrci", Name: "command_seconds",
			Help:    "Time from a command call's first frame to its IDLE, by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"command"}),
	}
	m.ConnectionsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mrci", Name: "connections_refused_total",
		Help: "Connections refused before they became sessions, by reason."}, []string{"reason"})
	m.Panics = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mrci", Name: "panics_total",
		Help: "Panics recovered in command instances, inline commands and async handlers."}, []string{"where"})
	m.AcceptErrors = c("accept_errors_total", "Temporary accept errors (EMFILE, ENFILE, ...) the listener retried after a back-off.")
	reg.MustRegister(m.ConnectionsRefused, m.Panics, m.AcceptErrors)
	reg.MustRegister(m.FramesIn, m.FramesOut, m.SlowConsumers, m.AsyncsRefused, m.SessionsOpened,
		m.AuthAttempts, m.CommandSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mrci", Name: "sessions", Help: "Live sessions."}, sessions),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mrci", Name: "async_deliveries_total",
			Help: "Async deliveries made by the bus (one per receiving session)."}, deliveries),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Outbound delivery (slow consumers).
	m.CastStalls = c("cast_stalls_total", "Cast frames queued for a receiver over its soft limit; each made its sender wait up to a few ms.")
	reg.MustRegister(m.CastStalls)
	return m
}

// HandlerOptions choose what Handler serves besides /metrics.
type HandlerOptions struct {
	// Pprof adds the Go profiler under /debug/pprof/.
	Pprof bool
	// Ready, if set, answers /readyz: nil means ready (200), an error is
	// reported with 503.
	Ready func() error
}

// Handler serves /metrics, /healthz (the process answers: 200 "ok"),
// /readyz and, with Pprof, /debug/pprof/.
func (m *Metrics) Handler(o HandlerOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Refused counts a refused connection unless m is nil.
func (m *Metrics) Refused(reason string) {
	if m != nil {
		m.ConnectionsRefused.WithLabelValues(reason).Inc()
	}
}

// Panicked counts a recovered panic unless m is nil.
func (m *Metrics) Panicked(where string) {
	if m != nil {
		m.Panics.WithLabelValues(where).Inc()
	}
}

// GaugeFunc registers a gauge read from f at scrape time.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mrci", Name: name, Help: help}, f))
}

// CounterFunc registers a counter read from f at scrape time.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mrci", Name: name, Help: help}, f))
}

// AuthAttempt counts one password log-in attempt unless m is nil.
func (m *Metrics) AuthAttempt(accepted bool) {
	if m == nil {
		return
	}
	r := "refused"
	if accepted {
		r = "accepted"
	}
	m.AuthAttempts.WithLabelValues(r).Inc()
}

// ObserveCommand records the duration of one command call unless m is nil.
func (m *Metrics) ObserveCommand(command string, d time.Duration) {
	if m != nil {
		m.CommandSeconds.WithLabelValues(command).Observe(d.Seconds())
	}
}

// Inc adds one to c unless m is nil.
func (m *Metrics) Inc(c func(*Metrics) prometheus.Counter) {
	if m != nil {
		c(m).Inc()
	}
}

// Info registers a gauge of constant value 1 whose labels carry
// information (mrci_node_info{node_id="..."} 1), the Prometheus idiom for
// joining such labels onto other series.
func (m *Metrics) Info(name, help string, labels map[string]string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mrci", Name: name, Help: help, ConstLabels: labels})
	g.Set(1)
	m.reg.MustRegister(g)
}
