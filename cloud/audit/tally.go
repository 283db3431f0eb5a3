package audit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Refusals that anyone can cause without an account (failed and throttled
// logins, refused tokens) are tallied instead of recorded one by one, so an
// anonymous flood cannot grow the chain without bound. Per source (an IPv4
// address or an IPv6 /64), event type, result, reason and user, within
// TallyWindow:
//   - the first refusal is recorded at once (alerting sees it);
//   - the rest are counted in audit_tallies and recorded as one record,
//     whose changes.attempts holds their number, when the window closes.
//
// A source that tries more than TallyUsersPerSource different users in a
// window is tallied under the user "(various)", so guessing names does not
// open a record per name either.
const (
	TallyWindow         = 10 * time.Minute
	TallyUsersPerSource = 20
	tallyVarious        = "(various)"
)

func createTallies(tx *gorm.DB) error {
	tsType := "DATETIME"
	if tx.Dialector.Name() == "postgres" {
		tsType = "TIMESTAMPTZ"
	}
	for _, s := range []string{
		fmt.Sprintf(`CREATE TABLE audit_tallies (
			tally_key VARCHAR(1200) PRIMARY KEY,
			source VARCHAR(64) NOT NULL,
			event_type VARCHAR(100) NOT NULL,
			user_email VARCHAR(255) NOT NULL DEFAULT '',
			window_start %s NOT NULL,
			attempts BIGINT NOT NULL,
			event TEXT NOT NULL
		)`, tsType),
		`CREATE INDEX idx_audit_tallies_source ON audit_tallies (source, event_type)`,
		`CREATE INDEX idx_audit_tallies_window ON audit_tallies (window_start)`,
	} {
		if err := tx.Exec(s).Error; err != nil {
			return fmt.Errorf("audit tallies migration: %w", err)
		}
	}
	return nil
}

type tally struct {
	TallyKey    string    `gorm:"column:tally_key;primaryKey"`
	Source      string    `gorm:"column:source"`
	EventType   string    `gorm:"column:event_type"`
	UserEmail   string    `gorm:"column:user_email"`
	WindowStart time.Time `gorm:"column:window_start"`
	Attempts    int64     `gorm:"column:attempts"`
	Event       string    `gorm:"column:event"`
}

func (tally) TableName() string { return "audit_tallies" }

// Source is the address an event is tallied under: IPv6 clients usually
// hold a whole /64, so it counts as one source.
func Source(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return clean(ip, limits.ip)
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Tally records e (see above) inside tx. now is the caller's clock.
func Tally(tx *gorm.DB, e Event, now time.Time) error {
	now = dbTime(now)
	src := Source(e.IPAddress)
	key := func(user string) string {
		return clean(fmt.Sprintf("%s|%s|%s|%s|%s", src, e.EventType, e.Result, e.Reason, user), 1200)
	}
	var open []tally
	if err := lockTallies(tx).Where("tally_key = ?", key(e.User)).Find(&open).Error; err != nil {
		return fmt.Errorf("audit tally: %w", err)
	}
	if len(open) == 0 && e.User != "" {
		var users int64
		if err := tx.Model(&tally{}).Where("source = ? AND event_type = ? AND window_start > ?",
			src, e.EventType, now.Add(-TallyWindow)).Count(&users).Error; err != nil {
			return fmt.Errorf("audit tally: %w", err)
		}
		if users >= TallyUsersPerSource {
			e.User = tallyVarious
			if err := lockTallies(tx).Where("tally_key = ?", key(e.User)).Find(&open).Error; err != nil {
				return fmt.Errorf("audit tally: %w", err)
			}
		}
	}
	if len(open) == 1 && now.Sub(open[0].WindowStart) < TallyWindow {
		return tx.Model(&tally{}).Where("tally_key = ?", open[0].TallyKey).
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
	t := tally{TallyKey: key(e.User), Source: src, EventType: clean(e.EventType, limits.eventType),
		UserEmail: clean(e.User, limits.user), WindowStart: now, Attempts: 1, Event: string(ev)}
	// Two processes may open the same tally at once; the loser counts into
	// the winner's row instead of recording a second first event.
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&t)
	if res.Error != nil {
		return fmt.Errorf("audit tally: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return tx.Model(&tally{}).Where("tally_key = ?", t.TallyKey).
			Update("attempts", gorm.Expr("attempts + 1")).Error
	}
	_, err = Append(tx, e)
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
func closeTally(tx *gorm.DB, t tally) error {
	if t.Attempts > 1 {
		var e Event
		if err := json.Unmarshal([]byte(t.Event), &e); err != nil {
			return fmt.Errorf("audit tally %s: %w", t.TallyKey, err)
		}
		e.Timestamp = time.Time{}
		e.Changes = map[string]Change{
			"attempts":     {New: t.Attempts - 1},
			"window_start": {New: t.WindowStart.UTC().Format(time.RFC3339)},
		}
		if _, err := Append(tx, e); err != nil {
			return err
		}
	}
	return tx.Where("tally_key = ?", t.TallyKey).Delete(&tally{}).Error
}

// CloseTallies records every tally whose window is over. The server runs it
// periodically; each tally closes in its own transaction, once, even with
// several processes closing at the same time.
func CloseTallies(db *gorm.DB, now time.Time) error {
	var keys []string
	if err := db.Model(&tally{}).Where("window_start <= ?", dbTime(now.Add(-TallyWindow))).
		Pluck("tally_key", &keys).Error; err != nil {
		return fmt.Errorf("close audit tallies: %w", err)
	}
	for _, k := range keys {
		err := db.Transaction(func(tx *gorm.DB) error {
			var ts []tally
			if err := lockTallies(tx).Where("tally_key = ? AND window_start <= ?", k, dbTime(now.Add(-TallyWindow))).
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

// attempts is how many events a record with these changes stands for: the
// attempts of a closed tally, otherwise one.
func attempts(changes string) int64 {
	c, err := decodeChanges(changes)
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
