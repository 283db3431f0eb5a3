// Package alarms owns the control plane's alarms: the rules that raise them
// from what gateways report (and from their silence) and from security
// detections, the hold-off that keeps a flapping condition from spamming,
// the evaluator that applies the rules on a timer, acknowledgements, and
// the optional signed webhook. The alarms themselves live in cloud/store.
package alarms

import (
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

// Categories.
const (
	Operational = "operational"
	Security    = store.AlarmSecurity
)

// Severities.
const (
	Critical = "critical"
	Major    = "major"
	Minor    = "minor"
	Warning  = "warning"
)

// Kinds of alarm.
const (
	GatewayOffline    = "gateway_offline"
	DeviceDown        = "device_down"
	CertExpiring      = "certificate_expiring"
	CertRenewalFailed = "certificate_renewal_failed"
	// CertRenewalError: the agent reports that its last renewal attempt
	// failed (heartbeat cert_renewal_error), so the alarm comes at the
	// first failure rather than once the cloud sees the old certificate
	// still presented past its renewal point.
	CertRenewalError   = "certificate_renewal_error"
	ConfigFailed       = "config_failed"
	LoginFailuresIP    = "login_failures_ip"
	LoginFailuresUser  = "login_failures_account"
	AdminNewIP         = "admin_login_new_ip"
	AuthzDenialBurst   = "authorization_denial_burst"
	EnrollmentFlood    = "enrollment_flood"
	AuditVerifyFailure = "audit_verification_failure"
)

// Condition is a state that, held past the raise hold-off, is an alarm.
type Condition struct {
	Kind, Category, Severity string
	GatewayID, Subject       string
	Message                  string
	// Immediate conditions skip the raise hold-off: they are counts over a
	// window already, or events.
	Immediate bool
}

// Key names the condition: one open alarm per key.
func (c Condition) Key() string { return c.Kind + "|" + c.GatewayID + "|" + c.Subject }

// Config sets the rules' thresholds and the hold-offs.
type Config struct {
	// Interval is how often the evaluator runs.
	Interval time.Duration
	// HeartbeatInterval is the agents' heartbeat interval; a gateway is
	// offline after OfflineIntervals of them without one.
	HeartbeatInterval time.Duration
	OfflineIntervals  int
	// RaiseAfter is how long a condition must hold before it is raised
	// (a device down for more than RaiseAfter), ClearAfter how long it
	// must be gone before its alarm clears.
	RaiseAfter, ClearAfter time.Duration
	// CertWarning: a gateway certificate expiring within it raises an alarm.
	CertWarning time.Duration
	// Security detection: more than LoginFailures failed logins per
	// account or per IP in the login throttle's window, more than
	// Denials authorization denials or Enrollments enrollment attempts in
	// Window. Event alarms (an admin from a new IP, an audit verification
	// failure) clear Window after they were last seen.
	LoginFailures, Denials, Enrollments int
	LoginWindow, Window                 time.Duration
}

// Defaults fills the zero fields with values that suit a laptop and a
// production fleet alike.
func (c *Config) Defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, 15*time.Second)
	def(&c.HeartbeatInterval, 30*time.Second)
	def(&c.RaiseAfter, 30*time.Second)
	def(&c.ClearAfter, time.Minute)
	def(&c.CertWarning, 24*time.Hour)
	def(&c.LoginWindow, time.Hour)
	def(&c.Window, 10*time.Minute)
	if c.OfflineIntervals <= 0 {
		c.OfflineIntervals = 3
	}
	if c.LoginFailures <= 0 {
		c.LoginFailures = 10
	}
	if c.Denials <= 0 {
		c.Denials = 20
	}
	if c.Enrollments <= 0 {
		c.Enrollments = 30
	}
}

// offlineAfter is the silence after which a gateway is offline.
func (c *Config) offlineAfter() time.Duration {
	return time.Duration(c.OfflineIntervals) * c.HeartbeatInterval
}
