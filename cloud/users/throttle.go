package users

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/store"
)

// Login throttling, kept in the database so that every cloud process counts
// the same failures.
//
//   - Per client IP: the first ipFreeFailures failures in a window cost
//     nothing; each later one doubles a back-off, up to ipMaxBackoff.
//   - Per account: at most AccountFailureLimit failures per window, from any
//     IP; then 429 until the window ends.
//   - The account limit never applies to a client IP from which the account
//     logged in successfully within knownClientTTL, so an attacker who burns
//     the account's failures cannot lock its owner out.
const (
	ThrottleWindow      = time.Hour
	AccountFailureLimit = 100
	ipFreeFailures      = 5
	ipMaxBackoff        = 15 * time.Minute
	knownClientTTL      = 30 * 24 * time.Hour
)

var loginFailures = promauto.NewCounter(prometheus.CounterOpts{
	Name: "streamforge_login_failures_total",
	Help: "Failed password logins.",
})

// ThrottledError asks the client to wait.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %d s", e.Seconds())
}

// Seconds is RetryAfter rounded up to whole seconds, at least 1.
func (e *ThrottledError) Seconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

func ipKey(ip string) string           { return "ip:" + ip }
func accountKey(email string) string   { return "acct:" + email }
func knownKey(email, ip string) string { return "known:" + email + "|" + ip }

// throttled returns how long a login for email from ip must wait (0: go).
func (s *Service) throttled(ctx context.Context, email, ip string, now time.Time) time.Duration {
	keys := []string{ipKey(ip)}
	if email != "" {
		keys = append(keys, accountKey(email), knownKey(email, ip))
	}
	var rows []store.LoginThrottle
	if err := s.store.DB.WithContext(ctx).Where("key IN ?", keys).Find(&rows).Error; err != nil {
		s.log.Error("read login throttle", "err", err)
		return 0
	}
	byKey := map[string]store.LoginThrottle{}
	for _, r := range rows {
		byKey[r.Key] = r
	}
	var wait time.Duration
	if r, ok := byKey[ipKey(ip)]; ok && r.BlockedUntil.After(now) {
		wait = r.BlockedUntil.Sub(now)
	}
	known, isKnown := byKey[knownKey(email, ip)]
	isKnown = isKnown && now.Sub(known.WindowStart) < knownClientTTL
	if r, ok := byKey[accountKey(email)]; ok && !isKnown && r.BlockedUntil.After(now) {
		wait = max(wait, r.BlockedUntil.Sub(now))
	}
	return wait
}

// recordFailure counts one failed login for the client IP and the account.
func (s *Service) recordFailure(tx *gorm.DB, email, ip string, now time.Time) error {
	if _, err := s.store.Bump(tx, ipKey(ip), now, ThrottleWindow, func(n int, start time.Time) time.Time {
		if n <= ipFreeFailures {
			return time.Time{}
		}
		backoff := min(ipMaxBackoff, time.Second<<min(n-ipFreeFailures-1, 20))
		return now.Add(backoff)
	}); err != nil {
		return err
	}
	if email == "" {
		return nil
	}
	_, err := s.store.Bump(tx, accountKey(email), now, ThrottleWindow, func(n int, start time.Time) time.Time {
		if n < AccountFailureLimit {
			return time.Time{}
		}
		return start.Add(ThrottleWindow)
	})
	return err
}

// recordSuccess remembers that the account logs in from this client IP.
func (s *Service) recordSuccess(tx *gorm.DB, email, ip string, now time.Time) error {
	row := store.LoginThrottle{Key: knownKey(email, ip), WindowStart: now}
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"window_start"}),
	}).Create(&row).Error
}

// PruneThrottles forgets failure windows that are over and blocks that ended.
func (s *Service) PruneThrottles(ctx context.Context) error {
	now := s.Now()
	return s.store.DB.WithContext(ctx).
		Where("key NOT LIKE 'known:%' AND window_start < ? AND blocked_until < ?", now.Add(-ThrottleWindow), now).
		Or("key LIKE 'known:%' AND window_start < ?", now.Add(-knownClientTTL)).
		Delete(&store.LoginThrottle{}).Error
}
