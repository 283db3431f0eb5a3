package audit

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Page sizes for Query.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Filter selects records for Query. Empty fields do not filter. From is
// inclusive, To exclusive. Pages run newest first: pass the previous
// page's NextCursor as Cursor to get the older records after it.
type Filter struct {
	User            string
	EventTypePrefix string
	ResourceID      string
	From, To        time.Time
	Limit           int   // DefaultLimit when 0, at most MaxLimit
	Cursor          int64 // only records with seq < Cursor; 0 for the newest
	// Within, when set, narrows the query to what the reader may see
	// (gateway_access: see gateways.AuditScope).
	Within func(*gorm.DB) *gorm.DB
}

// Page is one page of Query results. NextCursor is nil on the last page.
type Page struct {
	Records    []Record `json:"records"`
	NextCursor *int64   `json:"next_cursor"`
}

// Query returns the records matching f, newest (highest seq) first.
func Query(db *gorm.DB, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := db.Model(&row{})
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
	if f.Within != nil {
		q = f.Within(q)
	}
	// One extra row tells whether another page follows.
	recs, err := find(q.Order("seq DESC").Limit(limit + 1))
	if err != nil {
		return Page{}, fmt.Errorf("audit query: %w", err)
	}
	p := Page{Records: recs}
	if len(recs) > limit {
		p.Records = recs[:limit]
		next := p.Records[limit-1].Seq
		p.NextCursor = &next
	}
	return p, nil
}

// likePrefix escapes LIKE's wildcards in p and appends one %.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

func timeRange(q *gorm.DB, from, to time.Time) *gorm.DB {
	if !from.IsZero() {
		q = q.Where(`"timestamp" >= ?`, dbTime(from))
	}
	if !to.IsZero() {
		q = q.Where(`"timestamp" < ?`, dbTime(to))
	}
	return q
}

// dbTime is t as stored: UTC microseconds. SQLite compares the text the
// driver writes, which orders correctly only between UTC values.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// find runs q and converts the rows (never nil, so JSON shows []).
func find(q *gorm.DB) ([]Record, error) {
	var rows []row
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(rows))
	for i := range rows {
		rec, err := rows[i].record()
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
