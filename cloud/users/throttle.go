package users

import (
	"context"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/store"
)

// Login throttling, kept in the database so that every cloud process counts
// the same failures.
//
//   - Per client IP (IPv6: per /64): the first ipFreeFailures failures in a
//     window cost nothing; each later one doubles a back-off, up to
//     ipMaxBackoff.
//   - Per account: at most AccountFailureLimit failures per window, from any
//     IP; then 429 until the window ends.
//   - The account limit never applies to a client IP from which the account
//     logged in successfully within knownClientTTL, so an attacker who burns
//     the account's failures cannot lock its owner out.
//
// An attempt is counted as a failure before its password is checked, under
// the row locks of its counters, and refunded if it succeeds: parallel
// requests therefore get no more guesses than sequential ones.
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

// errThrottledMsg is the text of a throttled login's 429.
const errThrottledMsg = "too many failed logins; retry later"

// ipSource is the throttled unit of a client address: IPv6 clients usually
// hold a whole /64.
func ipSource(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func ipKey(ip string) string           { return "ip:" + ipSource(ip) }
func accountKey(email string) string   { return "acct:" + email }
func knownKey(email, ip string) string { return "known:" + email + "|" + ip }

func ipBlock(n int, now time.Time) time.Time {
	if n <= ipFreeFailures {
		return time.Time{}
	}
	return now.Add(min(ipMaxBackoff, time.Second<<min(n-ipFreeFailures-1, 20)))
}

func accountBlock(n int, windowStart time.Time) time.Time {
	if n < AccountFailureLimit {
		return time.Time{}
	}
	return windowStart.Add(ThrottleWindow)
}

// admit reserves one login attempt for email (may be "") from ip: it
// returns how long to wait if a counter is blocked, and otherwise counts
// the attempt as a failure, all in one transaction under the counters'
// locks (IP first, then account: one order, so no deadlock).
func (s *Service) admit(ctx context.Context, email, ip string, now time.Time) (time.Duration, *reservation, error) {
	var (
		wait time.Duration
		res  *reservation
	)
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		wait, res = 0, &reservation{email: email, ip: ip, blocks: map[string][2]time.Time{}}
		ipRow, err := s.store.LockThrottle(tx, ipKey(ip), now, ThrottleWindow)
		if err != nil {
			return err
		}
		if ipRow.BlockedUntil.After(now) {
			wait = ipRow.BlockedUntil.Sub(now)
		}
		var acct *store.LoginThrottle
		if email != "" {
			if acct, err = s.store.LockThrottle(tx, accountKey(email), now, ThrottleWindow); err != nil {
				return err
			}
			known, err := s.knownClient(tx, email, ip, now)
			if err != nil {
				return err
			}
			if !known && acct.BlockedUntil.After(now) {
				wait = max(wait, acct.BlockedUntil.Sub(now))
			}
		}
		if wait > 0 {
			return nil
		}
		prev := ipRow.BlockedUntil
		ipRow.Failures++
		ipRow.BlockedUntil = ipBlock(ipRow.Failures, now)
		res.blocks[ipRow.Key] = [2]time.Time{prev, ipRow.BlockedUntil}
		if err := tx.Save(ipRow).Error; err != nil {
			return err
		}
		if acct == nil {
			return nil
		}
		prev = acct.BlockedUntil
		acct.Failures++
		acct.BlockedUntil = accountBlock(acct.Failures, acct.WindowStart)
		res.blocks[acct.Key] = [2]time.Time{prev, acct.BlockedUntil}
		return tx.Save(acct).Error
	})
	return wait, res, err
}

// reservation is one admitted attempt: its counters' blocks before and
// after it was counted.
type reservation struct {
	email, ip string
	blocks    map[string][2]time.Time
}

func (s *Service) knownClient(tx *gorm.DB, email, ip string, now time.Time) (bool, error) {
	var rows []store.LoginThrottle
	if err := tx.Where("key = ?", knownKey(email, ip)).Limit(1).Find(&rows).Error; err != nil {
		return false, err
	}
	return len(rows) == 1 && now.Sub(rows[0].WindowStart) < knownClientTTL, nil
}

// refund takes back the failure admit counted, for an attempt that turned
// out right (or was never checked): the count goes down by one, and a block
// that this attempt set, and nothing set since, is undone.
func (s *Service) refund(tx *gorm.DB, res *reservation, now time.Time) error {
	for _, k := range []string{ipKey(res.ip), accountKey(res.email)} {
		b, ok := res.blocks[k]
		if !ok {
			continue
		}
		r, err := s.store.LockThrottle(tx, k, now, ThrottleWindow)
		if err != nil {
			return err
		}
		r.Failures = max(0, r.Failures-1)
		if r.BlockedUntil.Equal(b[1]) {
			r.BlockedUntil = b[0]
		}
		if err := tx.Save(r).Error; err != nil {
			return err
		}
	}
	return nil
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

func throttled(wait time.Duration) error { return errs.Wait(wait, errThrottledMsg) }
