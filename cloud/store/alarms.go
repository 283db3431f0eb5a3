package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Alarm states.
const (
	AlarmActive       = "active"
	AlarmAcknowledged = "acknowledged"
	AlarmCleared      = "cleared"
	// AlarmSecurity is the category of security alarms, which only audit
	// readers see.
	AlarmSecurity = "security"
)

// Alarm is one raised condition (cloud/alarms owns the rules). OpenKey
// equals Key until the alarm clears and is NULL after: its unique index
// lets a condition have at most one open alarm, even with several cloud
// replicas evaluating, while cleared alarms stay as history.
type Alarm struct {
	ID        uint64     `gorm:"primaryKey" json:"id"`
	OpenKey   *string    `json:"-"`
	Key       string     `json:"key"`
	Kind      string     `json:"kind"`
	Category  string     `json:"category"`
	Severity  string     `json:"severity"`
	GatewayID string     `json:"gateway_id,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Message   string     `json:"message"`
	State     string     `json:"state"`
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	AckedBy   string     `json:"acknowledged_by,omitempty"`
	AckedAt   *time.Time `json:"acknowledged_at,omitempty"`
	ClearedAt *time.Time `json:"cleared_at,omitempty"`
}

func alarmMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611300100-alarms", Migrate: func(tx *gorm.DB) error {
		type alarm struct {
			ID        uint64  `gorm:"primaryKey"`
			OpenKey   *string `gorm:"size:512;uniqueIndex:idx_alarm_open_key"`
			Key       string  `gorm:"size:512;not null"`
			Kind      string  `gorm:"size:64;not null"`
			Category  string  `gorm:"size:32;not null;index:idx_alarm_list,priority:2"`
			Severity  string  `gorm:"size:16;not null"`
			GatewayID string  `gorm:"size:255;not null;default:'';index:idx_alarm_gateway"`
			Subject   string  `gorm:"size:320;not null;default:''"`
			Message   string  `gorm:"size:1024;not null;default:''"`
			State     string  `gorm:"size:16;not null;index:idx_alarm_list,priority:1"`
			FirstSeen time.Time
			LastSeen  time.Time
			AckedBy   string `gorm:"size:255;not null;default:''"`
			AckedAt   *time.Time
			ClearedAt *time.Time
		}
		if err := tx.Table("alarms").Migrator().CreateTable(&alarm{}); err != nil {
			return fmt.Errorf("create alarms: %w", err)
		}
		return nil
	}}}
}

// OpenAlarms returns the alarms not cleared.
func (s *Store) OpenAlarms(ctx context.Context) ([]Alarm, error) {
	var out []Alarm
	err := s.DB.WithContext(ctx).Where("state <> ?", AlarmCleared).Order("id").Find(&out).Error
	return out, translate(err)
}

// RaiseAlarm inserts a as active; ErrConflict when its key is open already
// (another replica raised it first).
func (s *Store) RaiseAlarm(ctx context.Context, a *Alarm) error {
	key := a.Key
	a.OpenKey, a.State, a.ID = &key, AlarmActive, 0
	return translate(s.DB.WithContext(ctx).Create(a).Error)
}

// TouchAlarm records that open alarm id still holds at now.
func (s *Store) TouchAlarm(ctx context.Context, id uint64, now time.Time, message string) error {
	return translate(s.DB.WithContext(ctx).Model(&Alarm{}).Where("id = ? AND state <> ?", id, AlarmCleared).
		Updates(map[string]any{"last_seen": now, "message": message}).Error)
}

// ClearAlarm closes open alarm id at now; ErrNotFound when it is not open
// (another replica cleared it first).
func (s *Store) ClearAlarm(ctx context.Context, id uint64, now time.Time) error {
	res := s.DB.WithContext(ctx).Model(&Alarm{}).Where("id = ? AND state <> ?", id, AlarmCleared).
		Updates(map[string]any{"state": AlarmCleared, "open_key": nil, "cleared_at": now})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate(res.Error)
}

// ErrAlarmClosed means an acknowledgement came for an alarm that is no
// longer active (acknowledged already, or cleared).
var ErrAlarmClosed = errors.New("alarm is not active")

// ErrAlarmHidden means the alarm exists but lies outside the caller's
// view (another site's, or a security alarm for a non-auditor): callers
// answer it like ErrNotFound, and audit it as a denial.
var ErrAlarmHidden = errors.New("alarm outside the caller's view")

// AckAlarm acknowledges active alarm id as by at now, with its audit
// record ev in the same transaction. ErrNotFound when there is no such
// alarm, ErrAlarmHidden when it is not within scope (the caller's view).
func (s *Store) AckAlarm(ctx context.Context, id uint64, by string, now time.Time, scope AlarmScope, ev auditrec.Event) (Alarm, error) {
	var a Alarm
	err := s.Tx(ctx, func(tx *gorm.DB) error {
		err := scope.apply(tx.Where("id = ?", id)).Take(&a).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			var n int64
			if cerr := tx.Model(&Alarm{}).Where("id = ?", id).Count(&n).Error; cerr != nil {
				return cerr
			}
			if n > 0 {
				return ErrAlarmHidden
			}
		}
		if err != nil {
			return err
		}
		if a.State != AlarmActive {
			return ErrAlarmClosed
		}
		res := tx.Model(&Alarm{}).Where("id = ? AND state = ?", id, AlarmActive).
			Updates(map[string]any{"state": AlarmAcknowledged, "acked_by": by, "acked_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrAlarmClosed
		}
		a.State, a.AckedBy, a.AckedAt = AlarmAcknowledged, by, &now
		_, err = AppendAudit(tx, ev)
		return err
	})
	if errors.Is(err, ErrAlarmClosed) || errors.Is(err, ErrAlarmHidden) {
		return a, err
	}
	return a, translate(err)
}

// AlarmFilter selects alarms; zero fields select all.
type AlarmFilter struct {
	State, Category, Severity, GatewayID, Kind string
	// Open selects active and acknowledged alarms (State then unused).
	Open bool
	// Scope limits the alarms to those the caller may see.
	Scope AlarmScope
	Limit int
	// Cursor, when set, asks for alarms with a smaller id (older).
	Cursor uint64
}

// ListAlarms returns alarms newest first.
func (s *Store) ListAlarms(ctx context.Context, f AlarmFilter) ([]Alarm, error) {
	q := s.DB.WithContext(ctx).Model(&Alarm{})
	for col, v := range map[string]string{"state": f.State, "category": f.Category, "severity": f.Severity, "gateway_id": f.GatewayID, "kind": f.Kind} {
		if v != "" && !(col == "state" && f.Open) {
			q = q.Where(col+" = ?", v)
		}
	}
	if f.Open {
		q = q.Where("state <> ?", AlarmCleared)
	}
	if f.Cursor > 0 {
		q = q.Where("id < ?", f.Cursor)
	}
	q = f.Scope.apply(q)
	var out []Alarm
	err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error
	return out, translate(err)
}

// AlarmScope is what one caller may see: gateway alarms of the gateways
// Access reaches (ids, sites or "*"), and security alarms (which name no
// gateway) only when Security is set.
type AlarmScope struct {
	Access   []string
	Security bool
}

func (sc AlarmScope) apply(q *gorm.DB) *gorm.DB {
	if !sc.Security {
		q = q.Where("category <> ?", AlarmSecurity)
	}
	if slices.Contains(sc.Access, "*") {
		return q
	}
	access := sc.Access
	if len(access) == 0 {
		access = []string{""} // IN () is not valid SQL; "" names nothing
	}
	sites := q.Session(&gorm.Session{NewDB: true}).Table("gateways").Select("id").Where("site IN ? AND site <> ''", access)
	within := "(gateway_id <> '' AND (gateway_id IN ? OR gateway_id IN (?)))"
	if sc.Security {
		return q.Where("(category = ? OR "+within+")", AlarmSecurity, access, sites)
	}
	return q.Where(within, access, sites)
}

// CountOpenAlarms counts the open alarms by category and severity.
func (s *Store) CountOpenAlarms(ctx context.Context) (map[[2]string]int, error) {
	var rows []struct {
		Category, Severity string
		N                  int
	}
	err := s.DB.WithContext(ctx).Model(&Alarm{}).Select("category, severity, COUNT(*) AS n").
		Where("state <> ?", AlarmCleared).Group("category, severity").Scan(&rows).Error
	out := map[[2]string]int{}
	for _, r := range rows {
		out[[2]string{r.Category, r.Severity}] = r.N
	}
	return out, translate(err)
}

// TouchOpenAlarm records that the open alarm of key still holds at now;
// ErrNotFound when none is open.
func (s *Store) TouchOpenAlarm(ctx context.Context, key string, now time.Time, message string) error {
	res := s.DB.WithContext(ctx).Model(&Alarm{}).Where("open_key = ?", key).Updates(map[string]any{"last_seen": now, "message": message})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate(res.Error)
}
