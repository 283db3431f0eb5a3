package config

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Alarms configures alarm evaluation, security detection and the alert
// webhook (see docs/alarms.md). Zero durations and counts take the alarm
// package's defaults.
type Alarms struct {
	Interval, HeartbeatInterval, RaiseAfter, ClearAfter, Window time.Duration
	OfflineIntervals, LoginFailures, Denials, Enrollments       int
	// WebhookURL, when set, receives security alarms signed with
	// WebhookSecret (HMAC-SHA256), which is never logged.
	WebhookURL    string
	WebhookSecret []byte
}

// minAlarmInterval is the shortest STREAMFORGE_ALARM_INTERVAL.
const minAlarmInterval = 100 * time.Millisecond

type alarmRaw struct {
	interval, heartbeat, raise, clear, window, offline, logins, denials, enrollments, hookURL, hookSecretFile string
}

func (r *alarmRaw) settings() []setting {
	return []setting{
		{"STREAMFORGE_ALARM_INTERVAL", "alarm-interval", "15s", "how often alarm rules are evaluated", &r.interval},
		{"STREAMFORGE_ALARM_HEARTBEAT_INTERVAL", "alarm-heartbeat-interval", "30s", "the agents' heartbeat interval, for the offline rule", &r.heartbeat},
		{"STREAMFORGE_ALARM_OFFLINE_INTERVALS", "alarm-offline-intervals", "3", "heartbeat intervals without one after which a gateway is offline", &r.offline},
		{"STREAMFORGE_ALARM_RAISE_AFTER", "alarm-raise-after", "30s", "how long a condition (a device down, ...) must hold before its alarm is raised", &r.raise},
		{"STREAMFORGE_ALARM_CLEAR_AFTER", "alarm-clear-after", "60s", "how long a condition must be gone before its alarm clears", &r.clear},
		{"STREAMFORGE_ALERT_WINDOW", "alert-window", "10m", "window of the authorization-denial and enrollment-flood alerts", &r.window},
		{"STREAMFORGE_ALERT_LOGIN_FAILURES", "alert-login-failures", "10", "failed logins per account or per IP (in the login throttle's hour) past which a security alarm is raised", &r.logins},
		{"STREAMFORGE_ALERT_DENIALS", "alert-denials", "20", "authorization denials per window past which a security alarm is raised", &r.denials},
		{"STREAMFORGE_ALERT_ENROLLMENTS", "alert-enrollments", "30", "enrollment attempts per window past which a security alarm is raised", &r.enrollments},
		{"STREAMFORGE_ALERT_WEBHOOK_URL", "alert-webhook-url", "", "URL that security alarms are POSTed to (signed; see docs/alarms.md)", &r.hookURL},
		{"STREAMFORGE_ALERT_WEBHOOK_SECRET_FILE", "alert-webhook-secret-file", "", "file holding the webhook's HMAC secret (or STREAMFORGE_ALERT_WEBHOOK_SECRET)", &r.hookSecretFile},
	}
}

func (r *alarmRaw) parse() (Alarms, error) {
	var a Alarms
	durations := []struct {
		name, v string
		dst     *time.Duration
	}{
		{"STREAMFORGE_ALARM_INTERVAL", r.interval, &a.Interval}, {"STREAMFORGE_ALARM_HEARTBEAT_INTERVAL", r.heartbeat, &a.HeartbeatInterval},
		{"STREAMFORGE_ALARM_RAISE_AFTER", r.raise, &a.RaiseAfter}, {"STREAMFORGE_ALARM_CLEAR_AFTER", r.clear, &a.ClearAfter},
		{"STREAMFORGE_ALERT_WINDOW", r.window, &a.Window},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(strings.TrimSpace(d.v))
		if err != nil || v <= 0 {
			return a, fmt.Errorf("%s: %q is not a positive duration (like 30s)", d.name, d.v)
		}
		*d.dst = v
	}
	// The evaluator reads every gateway's state each interval: a
	// nanosecond made it a busy loop against the database.
	if a.Interval < minAlarmInterval {
		return a, fmt.Errorf("STREAMFORGE_ALARM_INTERVAL: %s is shorter than %s", a.Interval, minAlarmInterval)
	}
	counts := []struct {
		name, v string
		dst     *int
	}{
		{"STREAMFORGE_ALARM_OFFLINE_INTERVALS", r.offline, &a.OfflineIntervals}, {"STREAMFORGE_ALERT_LOGIN_FAILURES", r.logins, &a.LoginFailures},
		{"STREAMFORGE_ALERT_DENIALS", r.denials, &a.Denials}, {"STREAMFORGE_ALERT_ENROLLMENTS", r.enrollments, &a.Enrollments},
	}
	for _, c := range counts {
		n, err := strconv.Atoi(strings.TrimSpace(c.v))
		if err != nil || n < 1 {
			return a, fmt.Errorf("%s: %q is not a positive integer", c.name, c.v)
		}
		*c.dst = n
	}
	// The offline period is their product: past time.Duration's range it
	// wrapped to a negative one, and every gateway was offline at once.
	if a.HeartbeatInterval > time.Duration(math.MaxInt64)/time.Duration(a.OfflineIntervals) {
		return a, fmt.Errorf("STREAMFORGE_ALARM_HEARTBEAT_INTERVAL x STREAMFORGE_ALARM_OFFLINE_INTERVALS: %s x %d is longer than the control plane can count",
			a.HeartbeatInterval, a.OfflineIntervals)
	}
	a.WebhookURL = strings.TrimSpace(r.hookURL)
	secret := os.Getenv("STREAMFORGE_ALERT_WEBHOOK_SECRET")
	if r.hookSecretFile != "" {
		b, err := os.ReadFile(r.hookSecretFile)
		if err != nil {
			return a, fmt.Errorf("STREAMFORGE_ALERT_WEBHOOK_SECRET_FILE: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	a.WebhookSecret = []byte(secret)
	if a.WebhookURL != "" && len(a.WebhookSecret) < 16 {
		return a, fmt.Errorf("STREAMFORGE_ALERT_WEBHOOK_SECRET: at least 16 bytes are required with STREAMFORGE_ALERT_WEBHOOK_URL")
	}
	return a, nil
}
