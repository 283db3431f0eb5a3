package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// lockThrottle returns key's counters, creating them, locked until tx ends
// (FOR UPDATE on PostgreSQL; SQLite transactions take the write lock up
// front), with a window that is over already reset. Checking a limit and
// counting an attempt under this one lock is what makes throttling hold
// against parallel requests to several processes.
func lockThrottle(tx *gorm.DB, dialect, key string, now time.Time, window time.Duration) (*LoginThrottle, error) {
	fresh := LoginThrottle{Key: key, WindowStart: now}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh).Error; err != nil {
		return nil, err
	}
	q := tx
	if dialect == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var r LoginThrottle
	if err := q.Where("key = ?", key).Take(&r).Error; err != nil {
		return nil, err
	}
	if now.Sub(r.WindowStart) >= window {
		r.Failures, r.WindowStart = 0, now
	}
	return &r, nil
}

// Bump counts one failure for key in its window (a new window begins when
// the old one is over), stores the block that until computes from the
// count and the window start, and returns the count. Callers run it in a
// transaction.
func (s *Store) Bump(tx *gorm.DB, key string, now time.Time, window time.Duration,
	until func(n int, windowStart time.Time) time.Time) (int, error) {
	r, err := lockThrottle(tx, s.Dialect, key, now, window)
	if err != nil {
		return 0, err
	}
	r.Failures++
	r.BlockedUntil = until(r.Failures, r.WindowStart)
	return r.Failures, tx.Save(r).Error
}

// BlockedFor returns how long key is still blocked (0: not blocked).
func (s *Store) BlockedFor(tx *gorm.DB, key string, now time.Time) (time.Duration, error) {
	r, err := findThrottle(tx, key)
	if err != nil || r == nil || !r.BlockedUntil.After(now) {
		return 0, err
	}
	return r.BlockedUntil.Sub(now), nil
}

// findThrottle returns key's counters, nil when there are none.
func findThrottle(tx *gorm.DB, key string) (*LoginThrottle, error) {
	var rows []LoginThrottle
	if err := tx.Where("key = ?", key).Limit(1).Find(&rows).Error; err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// LockThrottle is lockThrottle in this transaction.
func (t *UserTx) LockThrottle(key string, now time.Time, window time.Duration) (*LoginThrottle, error) {
	return lockThrottle(t.tx, t.dialect, key, now, window)
}

// SaveThrottle writes counters that LockThrottle returned.
func (t *UserTx) SaveThrottle(r *LoginThrottle) error { return t.tx.Save(r).Error }

// Throttle returns key's counters without locking them, or ErrNotFound.
func (t *UserTx) Throttle(key string) (*LoginThrottle, error) {
	r, err := findThrottle(t.tx, key)
	if err == nil && r == nil {
		err = ErrNotFound
	}
	return r, err
}

// TouchThrottle sets key's window start to now, creating its row: the
// users service keeps "this account logged in from this client" this way.
func (t *UserTx) TouchThrottle(key string, now time.Time) error {
	row := LoginThrottle{Key: key, WindowStart: now}
	return t.tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"window_start"}),
	}).Create(&row).Error
}

// PruneThrottles deletes counters whose window began before windowBefore
// and whose block is over by now, and rows under keepPrefix (touched, not
// counted) whose window began before keepBefore.
func (r *Users) PruneThrottles(ctx context.Context, now, windowBefore time.Time, keepPrefix string, keepBefore time.Time) error {
	like := keepPrefix + "%"
	return r.s.DB.WithContext(ctx).
		Where("key NOT LIKE ? AND window_start < ? AND blocked_until < ?", like, windowBefore, now).
		Or("key LIKE ? AND window_start < ?", like, keepBefore).
		Delete(&LoginThrottle{}).Error
}
