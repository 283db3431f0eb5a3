package users

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

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

// knownPrefix starts the keys of rows that remember a client, rather than
// count failures.
const knownPrefix = "known:"

func ipKey(ip string) string           { return "ip:" + ipSource(ip) }
func accountKey(email string) string   { return "acct:" + email }
func knownKey(email, ip string) string { return knownPrefix + email + "|" + ip }

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
	err := s.repo.InTx(ctx, func(tx Tx) error {
		wait, res = 0, &reservation{email: email, ip: ip, blocks: map[string][2]time.Time{}}
		ipRow, err := tx.LockThrottle(ipKey(ip), now, ThrottleWindow)
		if err != nil {
			return err
		}
		if ipRow.BlockedUntil.After(now) {
			wait = ipRow.BlockedUntil.Sub(now)
		}
		var acct *store.LoginThrottle
		if email != "" {
			if acct, err = tx.LockThrottle(accountKey(email), now, ThrottleWindow); err != nil {
				return err
			}
			known, err := knownClient(tx, email, ip, now)
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
		if err := tx.SaveThrottle(ipRow); err != nil {
			return err
		}
		if acct == nil {
			return nil
		}
		prev = acct.BlockedUntil
		acct.Failures++
		acct.BlockedUntil = accountBlock(acct.Failures, acct.WindowStart)
		res.blocks[acct.Key] = [2]time.Time{prev, acct.BlockedUntil}
		return tx.SaveThrottle(acct)
	})
	return wait, res, err
}

// reservation is one admitted attempt: its counters' blocks before and
// after it was counted.
type reservation struct {
	email, ip string
	blocks    map[string][2]time.Time
}

// knownClient reports whether email logged in from ip within
// knownClientTTL.
func knownClient(tx Tx, email, ip string, now time.Time) (bool, error) {
	r, err := tx.Throttle(knownKey(email, ip))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("known client: %w", err)
	}
	return now.Sub(r.WindowStart) < knownClientTTL, nil
}

// refund takes back the failure admit counted, for an attempt that turned
// out right (or was never checked): the count goes down by one, and a block
// that this attempt set, and nothing set since, is undone.
func refund(tx Tx, res *reservation, now time.Time) error {
	for _, k := range []string{ipKey(res.ip), accountKey(res.email)} {
		b, ok := res.blocks[k]
		if !ok {
			continue
		}
		r, err := tx.LockThrottle(k, now, ThrottleWindow)
		if err != nil {
			return err
		}
		r.Failures = max(0, r.Failures-1)
		if r.BlockedUntil.Equal(b[1]) {
			r.BlockedUntil = b[0]
		}
		if err := tx.SaveThrottle(r); err != nil {
			return err
		}
	}
	return nil
}

// refundAlone refunds, in a transaction of its own, an attempt that was
// never checked. It runs even when the request was cancelled: the
// reservation must not stay counted. The caller's answer is the check's
// error, so a failed refund is logged.
func (s *Service) refundAlone(ctx context.Context, res *reservation, now time.Time, what string) {
	err := s.repo.InTx(context.WithoutCancel(ctx), func(tx Tx) error { return refund(tx, res, now) })
	if err != nil {
		s.log.Error("refund "+what, "err", err)
	}
}

// PruneThrottles forgets failure windows that are over and blocks that ended.
func (s *Service) PruneThrottles(ctx context.Context) error {
	now := s.Now()
	return s.repo.PruneThrottles(ctx, now, now.Add(-ThrottleWindow), knownPrefix, now.Add(-knownClientTTL))
}

func throttled(wait time.Duration) error { return errs.Wait(wait, errThrottledMsg) }
