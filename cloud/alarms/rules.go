package alarms

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// gatewayConditions applies the operational rules to one approved gateway.
// A gateway that is offline reports nothing else: its newest heartbeat is
// stale, and its devices may be fine. Silence is counted from watching at
// the earliest: after the control plane itself was down, gateways get an
// offline period's time to report again before they count as offline.
func gatewayConditions(now, watching time.Time, cfg *Config, g store.GatewayHealth) []Condition {
	var out []Condition
	cond := func(kind, sev, subject, msg string) {
		out = append(out, Condition{Kind: kind, Category: Operational, Severity: sev, GatewayID: g.ID, Subject: subject, Message: msg})
	}
	last := g.EnrolledAt
	if g.HeartbeatAt != nil {
		last = *g.HeartbeatAt
	}
	if last.Before(watching) {
		last = watching
	}
	if now.Sub(last) >= cfg.offlineAfter() {
		since := "never reported"
		if g.HeartbeatAt != nil {
			since = "no heartbeat since " + g.HeartbeatAt.UTC().Format(time.RFC3339)
		}
		cond(GatewayOffline, Critical, "", fmt.Sprintf("%s (offline after %s)", since, cfg.offlineAfter()))
		// An offline gateway's certificate still expires.
	} else {
		if g.ConfigError != "" {
			cond(ConfigFailed, Major, "", "config failed to apply: "+g.ConfigError)
		}
		var devices []wire.AdapterState
		_ = json.Unmarshal([]byte(g.Adapters), &devices) // written by the cloud from a checked heartbeat
		for _, d := range devices {
			if !d.Connected {
				msg := "device not answering"
				if d.LastError != "" {
					msg += ": " + d.LastError
				}
				cond(DeviceDown, Major, d.Name+"/"+d.Device, msg)
			}
		}
	}
	// step-ca's certificates last 24 h by default, so "expires within a
	// day" alone would hold from issue: only a certificate still presented
	// past its renewal point (gateways.TLSRenewAt) is a failed renewal, and
	// one that is also within CertWarning of its end is about to expire.
	if exp, renew := g.TLSCertExpiresAt, g.TLSCertRenewAt; exp != nil && renew != nil && now.After(*renew) {
		when := exp.UTC().Format(time.RFC3339)
		if exp.Sub(now) < cfg.CertWarning {
			cond(CertExpiring, Critical, "", "certificate not renewed and expiring "+when)
		} else {
			cond(CertRenewalFailed, Major, "", "certificate renewal overdue; it expires "+when)
		}
	}
	return out
}
