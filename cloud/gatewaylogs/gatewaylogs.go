// Package gatewaylogs keeps the recent log lines that gateways ship (each
// already scrubbed of secrets by its agent), bounded per gateway, and
// answers queries by level and time. Who may read a gateway's lines
// (logs:read and gateway_access) is decided by the caller.
package gatewaylogs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Repo is the storage the service needs (cloud/store implements it).
type Repo interface {
	AppendGatewayLogs(ctx context.Context, gatewayID string, lines []store.GatewayLog, keep int) error
	GatewayLogs(ctx context.Context, q store.GatewayLogQuery) ([]store.GatewayLog, error)
}

// Defaults.
const (
	// DefaultKeep lines per gateway: with lines of at most about 3 KiB, a
	// gateway holds at most about 15 MiB, typically well under 1 MiB.
	DefaultKeep  = 5000
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Service stores and queries gateway log lines.
type Service struct {
	repo Repo
	// Keep bounds the lines kept per gateway (DefaultKeep when 0).
	Keep int
	Now  func() time.Time
}

// New returns a service over repo.
func New(repo Repo) *Service { return &Service{repo: repo, Now: time.Now} }

// Line is a stored log line as the API shows it.
type Line struct {
	ID         uint64    `json:"id"`
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Level      string    `json:"level"`
	Message    string    `json:"message"`
	Attrs      string    `json:"attrs,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// Page is one page of lines, newest first; NextCursor (0: none) fetches
// the next older page.
type Page struct {
	Lines      []Line `json:"lines"`
	NextCursor uint64 `json:"next_cursor,omitempty"`
}

// Filter selects lines: at least Level (empty: all), logged within
// [From, To] by the gateway's clock (zero: open), older than Cursor.
type Filter struct {
	Level    string
	From, To time.Time
	Limit    int
	Cursor   uint64
}

// Ingest stores a batch from gateway id. Lines the agent evicted before
// shipping become one WARN line saying how many, so a reader sees the gap.
func (s *Service) Ingest(ctx context.Context, id string, b wire.LogBatch) error {
	if err := b.Check(); err != nil {
		return errs.Invalid("log batch", err.Error())
	}
	now := s.Now().UTC()
	rows := make([]store.GatewayLog, 0, len(b.Entries)+1)
	if b.Dropped > 0 {
		rows = append(rows, store.GatewayLog{GatewayID: id, Time: now, Level: wire.LogLevelRank("WARN"), ReceivedAt: now,
			Message: fmt.Sprintf("%d log lines were evicted from the agent's ring before they could be shipped", b.Dropped)})
	}
	for _, e := range b.Entries {
		rows = append(rows, store.GatewayLog{GatewayID: id, Seq: e.Seq, Time: e.Time.UTC(), Level: wire.LogLevelRank(e.Level),
			Message: e.Message, Attrs: e.Attrs, ReceivedAt: now})
	}
	keep := s.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	if err := s.repo.AppendGatewayLogs(ctx, id, rows, keep); err != nil {
		return fmt.Errorf("store logs of gateway %s: %w", id, err)
	}
	return nil
}

// Query returns the lines of gateway id that f selects.
func (s *Service) Query(ctx context.Context, id string, f Filter) (Page, error) {
	q := store.GatewayLogQuery{GatewayID: id, From: f.From, To: f.To, Before: f.Cursor, Limit: f.Limit}
	if f.Level != "" {
		if q.MinLevel = wire.LogLevelRank(strings.ToUpper(f.Level)); q.MinLevel < 0 {
			return Page{}, errs.Invalid("level", "one of debug, info, warn, error")
		}
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return Page{}, errs.Invalid("limit", fmt.Sprintf("between 1 and %d", MaxLimit))
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return Page{}, errs.Invalid("to", "before from")
	}
	rows, err := s.repo.GatewayLogs(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("query logs of gateway %s: %w", id, err)
	}
	page := Page{Lines: make([]Line, len(rows))}
	for i, r := range rows {
		page.Lines[i] = Line{ID: r.ID, Seq: r.Seq, Time: r.Time.UTC(), Level: wire.LogLevels[r.Level], Message: r.Message,
			Attrs: r.Attrs, ReceivedAt: r.ReceivedAt.UTC()}
	}
	if len(rows) == q.Limit {
		page.NextCursor = rows[len(rows)-1].ID
	}
	return page, nil
}
