package audit

import "fmt"

// Page sizes for Query.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Querier runs filtered reads of the trail (store.AuditRepo).
type Querier interface {
	QueryAudit(f Filter) ([]Record, error)
}

// Query returns the records matching f, newest (highest seq) first, one
// page of f.Limit (DefaultLimit when 0, at most MaxLimit).
func Query(q Querier, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	// One extra row tells whether another page follows.
	f.Limit = limit + 1
	recs, err := q.QueryAudit(f)
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
