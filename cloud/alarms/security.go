package alarms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Security detection, as the spec's incident response asks ("automated
// alerts: failed logins, unusual access patterns"). Everything is read
// from the database (the login throttle's counters and the audit trail),
// so every cloud replica sees the same counts and the same alarms.

// securityConditions are the detections that hold while a count over a
// window stays above its threshold.
func securityConditions(ctx context.Context, st Store, now time.Time, cfg *Config) ([]Condition, error) {
	var out []Condition
	sec := func(kind, sev, subject, msg string) {
		out = append(out, Condition{Kind: kind, Category: Security, Severity: sev, Subject: subject, Message: msg, Immediate: true})
	}
	fails, err := st.LoginFailuresOver(ctx, now.Add(-cfg.LoginWindow), cfg.LoginFailures)
	if err != nil {
		return nil, fmt.Errorf("failed logins: %w", err)
	}
	for _, f := range fails {
		if ip, ok := strings.CutPrefix(f.Key, "ip:"); ok {
			sec(LoginFailuresIP, Major, ip, fmt.Sprintf("%d failed logins from %s within %s", f.Failures, ip, cfg.LoginWindow))
		} else if acct, ok := strings.CutPrefix(f.Key, "acct:"); ok {
			sec(LoginFailuresUser, Major, acct, fmt.Sprintf("%d failed logins for account %s within %s", f.Failures, acct, cfg.LoginWindow))
		}
	}
	for _, b := range []struct {
		event, kind string
		limit       int
		what        string
	}{
		{"authorization.denied", AuthzDenialBurst, cfg.Denials, "authorization denials"},
		{"gateway.enroll", EnrollmentFlood, cfg.Enrollments, "enrollment attempts"},
	} {
		n, err := st.CountAuditEvents(ctx, b.event, now.Add(-cfg.Window))
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", b.event, err)
		}
		if n > int64(b.limit) {
			sec(b.kind, Major, "", fmt.Sprintf("%d %s within %s", n, b.what, cfg.Window))
		}
	}
	return out, nil
}

// adminLoginEvents reads the Admin logins recorded after *cursor and
// returns one event alarm per login from an IP the account never logged in
// from before; it advances *cursor.
func adminLoginEvents(ctx context.Context, st Store, cursor *int64) ([]Condition, error) {
	var out []Condition
	for {
		logins, last, err := st.RoleLoginsAfter(ctx, rbac.Admin, *cursor, 500)
		if err != nil {
			return nil, fmt.Errorf("admin logins: %w", err)
		}
		for _, l := range logins {
			if l.FirstFromIP {
				out = append(out, Condition{Kind: AdminNewIP, Category: Security, Severity: Major, Subject: l.User + " from " + l.IP,
					Message: fmt.Sprintf("admin %s logged in from %s, an address never seen for this account", l.User, l.IP), Immediate: true})
			}
		}
		if last == *cursor {
			return out, nil
		}
		*cursor = last
	}
}

func auditFailure(problem string) Condition {
	return Condition{Kind: AuditVerifyFailure, Category: Security, Severity: Critical,
		Message: "audit chain verification failed: " + problem, Immediate: true}
}

// AlarmWriter is what RaiseAuditFailure needs of the database.
type AlarmWriter interface {
	RaiseAlarm(ctx context.Context, a *store.Alarm) error
	TouchOpenAlarm(ctx context.Context, key string, now time.Time, message string) error
}

// RaiseAuditFailure opens (or refreshes) the audit verification alarm
// from outside a running evaluator, such as `streamforge-cloud audit
// verify`; the serving processes' evaluators clear it ALERT_WINDOW later.
// A newly opened alarm is posted to hook (nil: no webhook) before it
// returns, as an evaluator would have.
func RaiseAuditFailure(ctx context.Context, st AlarmWriter, problem string, now time.Time, hook *Webhook) error {
	c := auditFailure(problem)
	now = now.UTC()
	a := store.Alarm{Key: c.Key(), Kind: c.Kind, Category: c.Category, Severity: c.Severity, Message: c.Message, FirstSeen: now, LastSeen: now}
	err := st.RaiseAlarm(ctx, &a)
	if errors.Is(err, store.ErrConflict) {
		return st.TouchOpenAlarm(ctx, a.Key, now, c.Message)
	}
	if err == nil && hook != nil {
		hook.deliver(Notification{Event: "alarm.raised", Alarm: a})
	}
	return err
}
