package store

import (
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LockThrottle returns key's counters, creating them, locked until tx ends
// (FOR UPDATE on PostgreSQL; SQLite transactions take the write lock up
// front), with a window that is over already reset. Checking a limit and
// counting an attempt under this one lock is what makes throttling hold
// against parallel requests to several processes.
func (s *Store) LockThrottle(tx *gorm.DB, key string, now time.Time, window time.Duration) (*LoginThrottle, error) {
	fresh := LoginThrottle{Key: key, WindowStart: now}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh).Error; err != nil {
		return nil, err
	}
	q := tx
	if s.Dialect == "postgres" {
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
	r, err := s.LockThrottle(tx, key, now, window)
	if err != nil {
		return 0, err
	}
	r.Failures++
	r.BlockedUntil = until(r.Failures, r.WindowStart)
	return r.Failures, tx.Save(r).Error
}

// BlockedFor returns how long key is still blocked (0: not blocked).
func (s *Store) BlockedFor(tx *gorm.DB, key string, now time.Time) (time.Duration, error) {
	var rows []LoginThrottle
	if err := tx.Where("key = ?", key).Limit(1).Find(&rows).Error; err != nil {
		return 0, err
	}
	if len(rows) == 0 || !rows[0].BlockedUntil.After(now) {
		return 0, nil
	}
	return rows[0].BlockedUntil.Sub(now), nil
}
