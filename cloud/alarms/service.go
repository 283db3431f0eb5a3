package alarms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Errors clients see.
var (
	ErrNotFound  = errs.New(errs.NotFound, "no such alarm")
	ErrNotActive = errs.New(errs.Conflict, "alarm is not active (acknowledged or cleared already)")
	// ErrOutsideView answers like ErrNotFound (nobody learns which alarms
	// exist elsewhere); the API audits it as a denial.
	ErrOutsideView = errs.New(errs.NotFound, "no such alarm")
)

// Alarm is an alarm as the API shows it (the store's row), named here so
// that the API's handlers need not import cloud/store.
type Alarm = store.Alarm

// Repo is what the API's alarm service needs of the database.
type Repo interface {
	ListAlarms(ctx context.Context, f store.AlarmFilter) ([]store.Alarm, error)
	AckAlarm(ctx context.Context, id uint64, by string, now time.Time, scope store.AlarmScope, ev audit.Event) (store.Alarm, error)
}

// Service lists and acknowledges alarms for users.
type Service struct {
	repo Repo
	Now  func() time.Time
}

// NewService returns the alarm service over repo.
func NewService(repo Repo) *Service { return &Service{repo: repo, Now: time.Now} }

// Viewer is who asks: security alarms are shown only to those who may
// read the audit trail, and gateway alarms only within gateway_access.
type Viewer struct {
	Permissions []string
	Access      []string
}

func (v Viewer) scope() store.AlarmScope {
	return store.AlarmScope{Access: v.Access, Security: slices.Contains(v.Permissions, rbac.AuditRead)}
}

// Query filters a list.
type Query struct {
	State, Category, Severity, GatewayID, Kind string
	Limit                                      int
	Cursor                                     uint64
}

// Page is a page of alarms, newest first.
type Page struct {
	Alarms     []store.Alarm `json:"alarms"`
	NextCursor *uint64       `json:"next_cursor"`
}

// MaxPage bounds a page.
const MaxPage = 200

// List returns the alarms v may see that match q.
func (s *Service) List(ctx context.Context, v Viewer, q Query) (Page, error) {
	switch q.State {
	case "", "open", store.AlarmActive, store.AlarmAcknowledged, store.AlarmCleared:
	default:
		return Page{}, errs.Invalid("state", "want open, active, acknowledged or cleared")
	}
	switch q.Category {
	case "", Operational, Security:
	default:
		return Page{}, errs.Invalid("category", "want operational or security")
	}
	switch q.Severity {
	case "", Critical, Major, Minor, Warning:
	default:
		return Page{}, errs.Invalid("severity", "want critical, major, minor or warning")
	}
	if q.Limit <= 0 || q.Limit > MaxPage {
		q.Limit = min(max(q.Limit, 50), MaxPage)
	}
	f := store.AlarmFilter{State: q.State, Open: q.State == "open", Category: q.Category, Severity: q.Severity,
		GatewayID: q.GatewayID, Kind: q.Kind, Scope: v.scope(), Limit: q.Limit + 1, Cursor: q.Cursor}
	rows, err := s.repo.ListAlarms(ctx, f)
	if err != nil {
		return Page{}, fmt.Errorf("list alarms: %w", err)
	}
	p := Page{Alarms: rows}
	if len(rows) > q.Limit {
		p.Alarms = rows[:q.Limit]
		next := p.Alarms[q.Limit-1].ID
		p.NextCursor = &next
	}
	if p.Alarms == nil {
		p.Alarms = []store.Alarm{}
	}
	return p, nil
}

// Ack acknowledges alarm id for v, recording who did it (origin) in the
// audit trail in the same transaction.
func (s *Service) Ack(ctx context.Context, v Viewer, origin audit.Origin, id uint64) (store.Alarm, error) {
	ev := origin.Event("alarm.acknowledge", "alarm", strconv.FormatUint(id, 10), "acknowledge", audit.ResultSuccess)
	now := s.Now().UTC()
	ev.Changes = map[string]audit.Change{"state": {Old: store.AlarmActive, New: store.AlarmAcknowledged}}
	a, err := s.repo.AckAlarm(ctx, id, origin.Actor, now, v.scope(), ev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return a, ErrNotFound
	case errors.Is(err, store.ErrAlarmHidden):
		return a, ErrOutsideView
	case errors.Is(err, store.ErrAlarmClosed):
		return a, ErrNotActive
	case err != nil:
		return a, fmt.Errorf("acknowledge alarm %d: %w", id, err)
	}
	return a, nil
}
