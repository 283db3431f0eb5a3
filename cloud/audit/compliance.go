package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Compliance windows and thresholds from the security spec.
const (
	GDPRWindow             = 90 * 24 * time.Hour
	ISO27001Window         = 30 * 24 * time.Hour
	ISO27001FailureLimit   = 5 // more than this many failures is reported
	eventAuthFailure       = "authentication.failure"
	subjectResourceOfUsers = "user"
)

// ConfigChangePrefixes are the event types that form the SOC 2
// configuration-change trail: pipelines, gateways (approval, claims,
// config), generic configuration, users (accounts, roles, gateway access)
// and gateway enrollment.
var ConfigChangePrefixes = []string{"pipeline.", "gateway.", "config.", "user.", "enrollment."}

// GDPRUserEvents is the GDPR access report: every record of the last 90
// days before now that user performed, or whose subject is the user's
// account (resource "user", resource_id the email), newest first.
func GDPRUserEvents(db *gorm.DB, user string, now time.Time) ([]Record, error) {
	q := db.Model(&row{}).
		Where("(user_email = ? OR (resource = ? AND resource_id = ?))", user, subjectResourceOfUsers, user).
		Where(`"timestamp" > ?`, dbTime(now.Add(-GDPRWindow)))
	recs, err := find(q.Order("seq DESC"))
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
func SOC2ConfigChanges(db *gorm.DB, from, to time.Time) ([]Record, error) {
	var cond *gorm.DB
	// The prefixes are grouped on a clean session: db may carry conditions
	// of its own (a reader's gateway_access), which apply once, below.
	clean := db.Session(&gorm.Session{NewDB: true})
	for _, p := range ConfigChangePrefixes {
		c := clean.Where(`event_type LIKE ? ESCAPE '\'`, likePrefix(p))
		if cond == nil {
			cond = c
		} else {
			cond = cond.Or(c)
		}
	}
	q := timeRange(db.Model(&row{}).Where(cond), from, to)
	recs, err := find(q.Order("seq"))
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
func ISO27001FailedLogins(db *gorm.DB, now time.Time) ([]FailedLogins, error) {
	var recs []struct {
		UserEmail string
		Changes   string
		Timestamp time.Time
	}
	since := dbTime(now.Add(-ISO27001Window))
	err := db.Model(&row{}).Select(`user_email, changes, "timestamp"`).
		Where("event_type = ?", eventAuthFailure).Where(`"timestamp" > ?`, since).
		Scan(&recs).Error
	if err != nil {
		return nil, fmt.Errorf("audit iso27001 report: %w", err)
	}
	var open []tally
	if err := db.Where("event_type = ? AND attempts > 1", eventAuthFailure).Find(&open).Error; err != nil {
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
