package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/store"
)

// Compliance windows and thresholds from the security spec.
const (
	GDPRWindow           = 90 * 24 * time.Hour
	ISO27001Window       = 30 * 24 * time.Hour
	ISO27001FailureLimit = 5 // more than this many failures is reported
	eventAuthFailure     = "authentication.failure"
)

// ConfigChangePrefixes are the event types that form the SOC 2
// configuration-change trail: pipelines, gateways (approval, claims,
// config), generic configuration, users (accounts, roles, gateway access)
// and gateway enrollment.
var ConfigChangePrefixes = []string{"pipeline.", "gateway.", "config.", "user.", "enrollment."}

// Reports is what the compliance reports read (store.AuditRepo, scoped to
// the reader with Within).
type Reports interface {
	UserEvents(user string, since time.Time) ([]Record, error)
	EventsWithPrefixes(prefixes []string, from, to time.Time) ([]Record, error)
	EventsOfType(eventType string, since time.Time) ([]store.AuditEventCount, error)
	OpenTallies(eventType string) ([]store.AuditTally, error)
}

// GDPRUserEvents is the GDPR access report: every record of the last 90
// days before now that user performed, or whose subject is the user's
// account (resource "user", resource_id the email), newest first.
func GDPRUserEvents(r Reports, user string, now time.Time) ([]Record, error) {
	recs, err := r.UserEvents(user, now.Add(-GDPRWindow))
	if err != nil {
		return nil, fmt.Errorf("audit gdpr report: %w", err)
	}
	return recs, nil
}

// SOC2ConfigChanges is the SOC 2 configuration-change trail: records whose
// event type starts with one of ConfigChangePrefixes with timestamps in
// [from, to), oldest first. (The spec's sample SQL lacks parentheses around
// its ORs, so its time range would not apply to pipeline events; this one
// applies it to all.)
func SOC2ConfigChanges(r Reports, from, to time.Time) ([]Record, error) {
	recs, err := r.EventsWithPrefixes(ConfigChangePrefixes, from, to)
	if err != nil {
		return nil, fmt.Errorf("audit soc2 report: %w", err)
	}
	return recs, nil
}

// FailedLogins is one row of the ISO 27001 access-control review.
type FailedLogins struct {
	User     string    `json:"user"`
	Failures int64     `json:"failed_logins"`
	Last     time.Time `json:"last_failure"`
}

// ISO27001FailedLogins lists the users with more than five failed logins
// in the 30 days before now, most failures first. Every attempt counts:
// a tallied record stands for its attempts, and tallies still open count
// too.
func ISO27001FailedLogins(r Reports, now time.Time) ([]FailedLogins, error) {
	recs, err := r.EventsOfType(eventAuthFailure, now.Add(-ISO27001Window))
	if err != nil {
		return nil, fmt.Errorf("audit iso27001 report: %w", err)
	}
	open, err := r.OpenTallies(eventAuthFailure)
	if err != nil {
		return nil, fmt.Errorf("audit iso27001 report: %w", err)
	}
	byUser := map[string]*FailedLogins{}
	count := func(user string, n int64, at time.Time) {
		f := byUser[user]
		if f == nil {
			f = &FailedLogins{User: user}
			byUser[user] = f
		}
		f.Failures += n
		if at.After(f.Last) {
			f.Last = at.UTC()
		}
	}
	for _, r := range recs {
		count(r.UserEmail, attempts(r.Changes), r.Timestamp)
	}
	for _, t := range open {
		count(t.UserEmail, t.Attempts-1, now)
	}
	out := []FailedLogins{}
	for _, f := range byUser {
		if f.Failures > ISO27001FailureLimit {
			out = append(out, *f)
		}
	}
	slices.SortFunc(out, func(a, b FailedLogins) int {
		if c := cmp.Compare(b.Failures, a.Failures); c != 0 {
			return c
		}
		return strings.Compare(a.User, b.User)
	})
	return out, nil
}

// attempts is how many events a record with these changes stands for: the
// attempts of a closed tally, otherwise one.
func attempts(changes string) int64 {
	c, err := auditrec.DecodeChanges(changes)
	if err != nil {
		return 1
	}
	if n, ok := c["attempts"].New.(json.Number); ok {
		if v, err := n.Int64(); err == nil && v > 0 {
			return v
		}
	}
	return 1
}
