package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestHeartbeatFitPassesCheck: whatever an agent has to report, Fit makes
// a heartbeat Check accepts, cutting texts on rune boundaries.
func TestHeartbeatFitPassesCheck(t *testing.T) {
	long := strings.Repeat("é", 1000)
	hb := Heartbeat{Status: long, AgentVersion: long, CertRenewalError: long}
	for i := range 1000 {
		hb.Adapters = append(hb.Adapters, AdapterState{Name: fmt.Sprintf("adapter-%d-%s", i%100, long), Device: long, LastError: long})
	}
	var he *HeartbeatError
	if err := hb.Check(); !errors.As(err, &he) || he.Field != "status" {
		t.Fatalf("Check before Fit: %v", err)
	}
	hb.Fit()
	if err := hb.Check(); err != nil {
		t.Fatalf("Check after Fit: %v", err)
	}
	if len(hb.Adapters) != MaxHeartbeatEntries || !utf8.ValidString(hb.Adapters[0].LastError) || !strings.HasSuffix(hb.Status, "…") ||
		len(hb.CertRenewalError) > MaxHeartbeatCertError {
		t.Fatalf("Fit kept %d entries, last_error %q", len(hb.Adapters), hb.Adapters[0].LastError)
	}
}

// TestHeartbeatCheckNamesCertRenewalError: a renewal error past its limit
// is refused naming the field.
func TestHeartbeatCheckNamesCertRenewalError(t *testing.T) {
	hb := Heartbeat{CertRenewalError: strings.Repeat("x", MaxHeartbeatCertError+1)}
	var he *HeartbeatError
	if err := hb.Check(); !errors.As(err, &he) || he.Field != "cert_renewal_error" {
		t.Fatalf("Check: %v", err)
	}
}
