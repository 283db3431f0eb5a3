package store

import (
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Refusals that anyone can cause without an account (failed and throttled
// logins, refused tokens) are tallied instead of recorded one by one, so an
// anonymous flood cannot grow the chain without bound. Per source (an IPv4
// address or an IPv6 /64), event type, result, reason and user, within
// AuditTallyWindow:
//   - the first refusal is recorded at once (alerting sees it);
//   - the rest are counted in audit_tallies and recorded as one record,
//     whose changes.attempts holds their number, when the window closes.
//
// A source that tries more than AuditTallyUsersPerSource different users
// in a window is tallied under the user "(various)", so guessing names
// does not open a record per name either.
const (
	AuditTallyWindow         = 10 * time.Minute
	AuditTallyUsersPerSource = 20
	tallyVarious             = "(various)"
)

// AuditTally is an open tally: attempts counted since its first event.
type AuditTally struct {
	TallyKey    string    `gorm:"column:tally_key;primaryKey"`
	Source      string    `gorm:"column:source"`
	EventType   string    `gorm:"column:event_type"`
	UserEmail   string    `gorm:"column:user_email"`
	WindowStart time.Time `gorm:"column:window_start"`
	Attempts    int64     `gorm:"column:attempts"`
	Event       string    `gorm:"column:event"`
}

// TableName is the table tallies live in.
func (AuditTally) TableName() string { return "audit_tallies" }

// auditTime is t as stored: UTC microseconds. SQLite compares the text the
// driver writes, which orders correctly only between UTC values.
func auditTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// TallyAudit records e (see above) inside tx. now is the caller's clock.
func TallyAudit(tx *gorm.DB, e auditrec.Event, now time.Time) error {
	now = auditTime(now)
	src := auditrec.Source(e.IPAddress)
	key := func(user string) string {
		return auditrec.Clean(fmt.Sprintf("%s|%s|%s|%s|%s", src, e.EventType, e.Result, e.Reason, user), 1200)
	}
	var open []AuditTally
	if err := lockTallies(tx).Where("tally_key = ?", key(e.User)).Find(&open).Error; err != nil {
		return fmt.Errorf("audit tally: %w", err)
	}
	if len(open) == 0 && e.User != "" {
		var users int64
		if err := tx.Model(&AuditTally{}).Where("source = ? AND event_type = ? AND window_start > ?",
			src, e.EventType, now.Add(-AuditTallyWindow)).Count(&users).Error; err != nil {
			return fmt.Errorf("audit tally: %w", err)
		}
		if users >= AuditTallyUsersPerSource {
			e.User = tallyVarious
			if err := lockTallies(tx).Where("tally_key = ?", key(e.User)).Find(&open).Error; err != nil {
				return fmt.Errorf("audit tally: %w", err)
			}
		}
	}
	if len(open) == 1 && now.Sub(open[0].WindowStart) < AuditTallyWindow {
		return tx.Model(&AuditTally{}).Where("tally_key = ?", open[0].TallyKey).
			Update("attempts", gorm.Expr("attempts + 1")).Error
	}
	if len(open) == 1 {
		if err := closeTally(tx, open[0]); err != nil {
			return err
		}
	}
	ev, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit tally: %w", err)
	}
	t := AuditTally{TallyKey: key(e.User), Source: src, EventType: auditrec.ClampEventType(e.EventType),
		UserEmail: auditrec.ClampUser(e.User), WindowStart: now, Attempts: 1, Event: string(ev)}
	// Two processes may open the same tally at once; the loser counts into
	// the winner's row instead of recording a second first event.
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&t)
	if res.Error != nil {
		return fmt.Errorf("audit tally: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return tx.Model(&AuditTally{}).Where("tally_key = ?", t.TallyKey).
			Update("attempts", gorm.Expr("attempts + 1")).Error
	}
	_, err = AppendAudit(tx, e)
	return err
}

func lockTallies(tx *gorm.DB) *gorm.DB {
	if tx.Dialector.Name() == "postgres" {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// closeTally records the attempts after the first of a window, if any, and
// forgets the tally.
func closeTally(tx *gorm.DB, t AuditTally) error {
	if t.Attempts > 1 {
		var e auditrec.Event
		if err := json.Unmarshal([]byte(t.Event), &e); err != nil {
			return fmt.Errorf("audit tally %s: %w", t.TallyKey, err)
		}
		e.Timestamp = time.Time{}
		e.Changes = map[string]auditrec.Change{
			"attempts":     {New: t.Attempts - 1},
			"window_start": {New: t.WindowStart.UTC().Format(time.RFC3339)},
		}
		if _, err := AppendAudit(tx, e); err != nil {
			return err
		}
	}
	return tx.Where("tally_key = ?", t.TallyKey).Delete(&AuditTally{}).Error
}

// CloseTallies records every tally whose window is over. The server runs
// it periodically; each tally closes in its own transaction, once, even
// with several processes closing at the same time.
func (r AuditRepo) CloseTallies(now time.Time) error {
	var keys []string
	if err := r.db.Model(&AuditTally{}).Where("window_start <= ?", auditTime(now.Add(-AuditTallyWindow))).
		Pluck("tally_key", &keys).Error; err != nil {
		return fmt.Errorf("close audit tallies: %w", err)
	}
	for _, k := range keys {
		err := r.db.Transaction(func(tx *gorm.DB) error {
			var ts []AuditTally
			if err := lockTallies(tx).Where("tally_key = ? AND window_start <= ?", k, auditTime(now.Add(-AuditTallyWindow))).
				Find(&ts).Error; err != nil || len(ts) == 0 {
				return err
			}
			return closeTally(tx, ts[0])
		})
		if err != nil {
			return fmt.Errorf("close audit tally: %w", err)
		}
	}
	return nil
}

// OpenTallies are the tallies of eventType that counted more than their
// first event.
func (r AuditRepo) OpenTallies(eventType string) ([]AuditTally, error) {
	var open []AuditTally
	err := r.db.Where("event_type = ? AND attempts > 1", eventType).Find(&open).Error
	return open, err
}
