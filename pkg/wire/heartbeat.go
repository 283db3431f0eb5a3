package wire

import (
	"fmt"
	"unicode/utf8"
)

// Heartbeat limits: the control plane refuses a heartbeat past any of them
// (400 naming the field), and the agent's Fit keeps its own within them.
const (
	MaxHeartbeatStatus       = 32
	MaxHeartbeatAgentVersion = 64
	MaxHeartbeatConfigError  = 512
	MaxHeartbeatCertError    = 512
	// MaxHeartbeatEntries bounds the adapter device entries, and
	// MaxHeartbeatAdapters the distinct adapter names among them.
	MaxHeartbeatEntries  = 256
	MaxHeartbeatAdapters = 64
	MaxAdapterName       = 64
	MaxAdapterDevice     = 128
	MaxAdapterLastError  = 256
	// MaxConfigVersion bounds a config version, reported or deployed: the
	// control plane deploys past the version a gateway reports applying,
	// and a report near the top of int64 made that next version overflow
	// into a negative one, which the gateway refuses for ever.
	MaxConfigVersion = 1<<31 - 1
)

// HeartbeatError names the field of a heartbeat past its limit.
type HeartbeatError struct{ Field, Limit string }

func (e *HeartbeatError) Error() string { return e.Field + ": " + e.Limit }

// Check reports the first field of hb past its limit.
func (hb *Heartbeat) Check() error {
	switch {
	case len(hb.Status) > MaxHeartbeatStatus:
		return &HeartbeatError{"status", fmt.Sprintf("at most %d bytes", MaxHeartbeatStatus)}
	case len(hb.AgentVersion) > MaxHeartbeatAgentVersion:
		return &HeartbeatError{"agent_version", fmt.Sprintf("at most %d bytes", MaxHeartbeatAgentVersion)}
	case len(hb.ConfigError) > MaxHeartbeatConfigError:
		return &HeartbeatError{"config_error", fmt.Sprintf("at most %d bytes", MaxHeartbeatConfigError)}
	case len(hb.CertRenewalError) > MaxHeartbeatCertError:
		return &HeartbeatError{"cert_renewal_error", fmt.Sprintf("at most %d bytes", MaxHeartbeatCertError)}
	case hb.BufferDepth < 0 || hb.ConfigVersion < 0:
		return &HeartbeatError{"buffer_depth", "buffer_depth and config_version cannot be negative"}
	case hb.ConfigVersion > MaxConfigVersion:
		return &HeartbeatError{"config_version", fmt.Sprintf("at most %d", MaxConfigVersion)}
	case hb.BufferBytes < 0 || hb.BufferMaxBytes < 0:
		return &HeartbeatError{"buffer_bytes", "buffer_bytes and buffer_max_bytes cannot be negative"}
	case len(hb.Adapters) > MaxHeartbeatEntries:
		return &HeartbeatError{"adapters", fmt.Sprintf("at most %d adapter devices", MaxHeartbeatEntries)}
	}
	names := map[string]bool{}
	for i, a := range hb.Adapters {
		switch {
		case len(a.Name) > MaxAdapterName:
			return &HeartbeatError{fmt.Sprintf("adapters[%d].name", i), fmt.Sprintf("at most %d bytes", MaxAdapterName)}
		case len(a.Device) > MaxAdapterDevice:
			return &HeartbeatError{fmt.Sprintf("adapters[%d].device", i), fmt.Sprintf("at most %d bytes", MaxAdapterDevice)}
		case len(a.LastError) > MaxAdapterLastError:
			return &HeartbeatError{fmt.Sprintf("adapters[%d].last_error", i), fmt.Sprintf("at most %d bytes", MaxAdapterLastError)}
		}
		names[a.Name] = true
		if len(names) > MaxHeartbeatAdapters {
			return &HeartbeatError{"adapters", fmt.Sprintf("at most %d distinct adapter names", MaxHeartbeatAdapters)}
		}
	}
	return nil
}

// Fit shortens what an agent reports to the limits Check enforces: long
// texts are cut (on a UTF-8 boundary, marked with "…"), and entries past
// the limits are dropped. Control characters are escaped (Printable): the
// control plane refuses a heartbeat that holds one, and error texts carry
// them (a proxy's HTML error page in an ACME error is several lines). An
// agent's heartbeat then never fails for what it has to report.
func (hb *Heartbeat) Fit() {
	hb.Status = cut(Printable(hb.Status), MaxHeartbeatStatus)
	hb.AgentVersion = cut(Printable(hb.AgentVersion), MaxHeartbeatAgentVersion)
	hb.ConfigError = cut(Printable(hb.ConfigError), MaxHeartbeatConfigError)
	hb.CertRenewalError = cut(Printable(hb.CertRenewalError), MaxHeartbeatCertError)
	names := map[string]bool{}
	kept := hb.Adapters[:0]
	for _, a := range hb.Adapters {
		if len(kept) == MaxHeartbeatEntries {
			break
		}
		a.Name, a.Device = cut(Printable(a.Name), MaxAdapterName), cut(Printable(a.Device), MaxAdapterDevice)
		a.LastError = cut(Printable(a.LastError), MaxAdapterLastError)
		if !names[a.Name] && len(names) == MaxHeartbeatAdapters {
			continue
		}
		names[a.Name] = true
		kept = append(kept, a)
	}
	hb.Adapters = kept
}

// cut shortens s to at most n bytes on a rune boundary, ending in "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	end := n - len(ellipsis)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + ellipsis
}
