// Package metrics holds the host's Prometheus metrics and the HTTP handler
// that serves them (with the runtime profiler under /debug/pprof/).
package metrics

import (
	"net/http"
	"net/http/pprof"

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
	}
	reg.MustRegister(m.FramesIn, m.FramesOut, m.SlowConsumers, m.AsyncsRefused, m.SessionsOpened,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mrci", Name: "sessions", Help: "Live sessions."}, sessions),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mrci", Name: "async_deliveries_total",
			Help: "Async deliveries made by the bus (one per receiving session)."}, deliveries),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Outbound delivery (slow consumers).
	m.CastStalls = c("cast_stalls_total", "Cast frames queued for a receiver over its soft limit; each made its sender wait up to a few ms.")
	reg.MustRegister(m.CastStalls)
	return m
}

// Handler serves /metrics and /debug/pprof/.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Inc adds one to c unless m is nil.
func (m *Metrics) Inc(c func(*Metrics) prometheus.Counter) {
	if m != nil {
		c(m).Inc()
	}
}
