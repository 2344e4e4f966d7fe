package store

import "fmt"

// AdmissionSettings bound the connections that have not become sessions
// yet and how fast one address may open connections (docs/admission.md).
// They live in their own single-row table (admission_settings); a missing
// row means DefaultAdmissionSettings.
type AdmissionSettings struct {
	// MaxPending bounds connections, over all addresses, that have not
	// finished their set-up (client header, host header, TLS).
	MaxPending uint32
	// MaxPendingPerAddr bounds such connections from one address (one
	// IPv6 /64).
	MaxPendingPerAddr uint32
	// ConnRatePerAddr is the sustained number of connections per second
	// one address may open; ConnBurstPerAddr how many it may open at once.
	// A zero rate disables the rate limit.
	ConnRatePerAddr  float64
	ConnBurstPerAddr uint32
	// LimitLoopback applies the per-address limits (pending and rate) to
	// loopback addresses too. Off by default: local tools, tests and
	// benchmarks open many connections from 127.0.0.1, and loopback is
	// already exempt from bans by the spec. MaxPending always applies.
	LimitLoopback bool
}

// DefaultAdmissionSettings are the admission settings of a new host.
func DefaultAdmissionSettings() AdmissionSettings {
	return AdmissionSettings{
		MaxPending:        2048,
		MaxPendingPerAddr: 32,
		ConnRatePerAddr:   20,
		ConnBurstPerAddr:  100,
	}
}

// Validate reports settings that would refuse every connection.
func (a AdmissionSettings) Validate() error {
	switch {
	case a.MaxPending == 0:
		return fmt.Errorf("admission: max pending connections must be at least 1")
	case a.MaxPendingPerAddr == 0:
		return fmt.Errorf("admission: max pending connections per address must be at least 1")
	case a.ConnRatePerAddr < 0:
		return fmt.Errorf("admission: connection rate must not be negative")
	case a.ConnRatePerAddr > 0 && a.ConnBurstPerAddr == 0:
		return fmt.Errorf("admission: connection burst must be at least 1 when a rate is set")
	}
	return nil
}
