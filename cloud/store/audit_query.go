package store

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// QueryAudit returns up to f.Limit records matching f, newest (highest
// seq) first.
func (r AuditRepo) QueryAudit(f auditrec.Filter) ([]auditrec.Record, error) {
	q := r.db.Model(&auditrec.Row{})
	if f.User != "" {
		q = q.Where("user_email = ?", f.User)
	}
	if f.EventTypePrefix != "" {
		q = q.Where(`event_type LIKE ? ESCAPE '\'`, likePrefix(f.EventTypePrefix))
	}
	if f.ResourceID != "" {
		q = q.Where("resource_id = ?", f.ResourceID)
	}
	q = timeRange(q, f.From, f.To)
	if f.Cursor > 0 {
		q = q.Where("seq < ?", f.Cursor)
	}
	return findAudit(r.within(q).Order("seq DESC").Limit(f.Limit))
}

// Within is the repository whose reports and queries show only what a
// reader confined to scope may see; nil scope sees everything.
func (r AuditRepo) Within(scope *auditrec.Scope) AuditRepo {
	r.scope = scope
	return r
}

// within narrows q to r's scope (see auditrec.Scope).
func (r AuditRepo) within(q *gorm.DB) *gorm.DB {
	if r.scope == nil {
		return q
	}
	access := r.scope.Sites
	if len(access) == 0 {
		access = []string{""} // IN () is not valid SQL; "" names nothing
	}
	gateways := q.Session(&gorm.Session{NewDB: true}).Table("gateways").Select("id").
		Where("site IN ? AND site <> ''", access)
	tokens := q.Session(&gorm.Session{NewDB: true}).Table("enrollment_tokens").Select("id").
		Where("site IN ? AND site <> ''", access)
	// Alarm records (acknowledgements, refused ones) name the alarm by id:
	// a gateway's alarm only within access, a security alarm (no gateway)
	// for every audit reader, as the alarm list shows them.
	alarms := q.Session(&gorm.Session{NewDB: true}).Table("alarms").Select("CAST(id AS TEXT)").
		Where("gateway_id = '' OR gateway_id IN ? OR gateway_id IN (?)", access, gateways)
	return q.Where(`NOT (resource IN ('gateway', 'gateway_config') OR resource LIKE '/api/v1/gateways/%') `+
		`OR resource_id IN ? OR resource_id IN (?)`, access, gateways).
		Where(`resource <> 'enrollment_token' OR resource_id IN (?)`, tokens).
		Where(`NOT (resource = 'rollout' OR event_type IN ?) OR user_email = ?`, multiGatewayEvents, r.scope.User).
		Where(`NOT (resource = 'alarm' OR resource LIKE '/api/v1/alarms/%') OR resource_id IN (?) OR user_email = ?`, alarms, r.scope.User)
}

// multiGatewayEvents (and every "rollout" record) name gateways in their
// changes or reason (#12) under a pipeline or rollout as resource, so the
// gateway rule above cannot place them.
var multiGatewayEvents = []string{"pipeline.deploy", "pipeline.test"}

// UserEvents returns, newest first, the records after since that user
// performed or whose subject is the user's account (resource "user",
// resource_id the email).
func (r AuditRepo) UserEvents(user string, since time.Time) ([]auditrec.Record, error) {
	q := r.db.Model(&auditrec.Row{}).
		Where("(user_email = ? OR (resource = ? AND resource_id = ?))", user, "user", user).
		Where(`"timestamp" > ?`, auditTime(since))
	return findAudit(r.within(q).Order("seq DESC"))
}

// EventsWithPrefixes returns, oldest first, the records whose event type
// starts with one of prefixes, with timestamps in [from, to).
func (r AuditRepo) EventsWithPrefixes(prefixes []string, from, to time.Time) ([]auditrec.Record, error) {
	var cond *gorm.DB
	clean := r.db.Session(&gorm.Session{NewDB: true})
	for _, p := range prefixes {
		c := clean.Where(`event_type LIKE ? ESCAPE '\'`, likePrefix(p))
		if cond == nil {
			cond = c
		} else {
			cond = cond.Or(c)
		}
	}
	q := timeRange(r.db.Model(&auditrec.Row{}).Where(cond), from, to)
	return findAudit(r.within(q).Order("seq"))
}

// AuditEventCount is the raw material of a count of events per user.
type AuditEventCount struct {
	UserEmail string
	Changes   string
	Timestamp time.Time
}

// EventsOfType returns user, changes and time of the records of eventType
// after since.
func (r AuditRepo) EventsOfType(eventType string, since time.Time) ([]AuditEventCount, error) {
	var recs []AuditEventCount
	err := r.db.Model(&auditrec.Row{}).Select(`user_email, changes, "timestamp"`).
		Where("event_type = ?", eventType).Where(`"timestamp" > ?`, auditTime(since)).
		Scan(&recs).Error
	return recs, err
}

// likePrefix escapes LIKE's wildcards in p and appends one %.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

func timeRange(q *gorm.DB, from, to time.Time) *gorm.DB {
	if !from.IsZero() {
		q = q.Where(`"timestamp" >= ?`, auditTime(from))
	}
	if !to.IsZero() {
		q = q.Where(`"timestamp" < ?`, auditTime(to))
	}
	return q
}

// findAudit runs q and converts the rows (never nil, so JSON shows []).
func findAudit(q *gorm.DB) ([]auditrec.Record, error) {
	var rows []auditrec.Row
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	recs := make([]auditrec.Record, 0, len(rows))
	for i := range rows {
		rec, err := rows[i].Record()
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
