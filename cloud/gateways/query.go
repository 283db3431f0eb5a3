package gateways

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Paging limits of the gateway list: the dashboard asks for 50 at a time;
// the cap keeps one request from reading the whole fleet.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// OfflineAfter is the heartbeat age after which an approved gateway counts
// as offline (agents beat every 15 s by default).
const OfflineAfter = 2 * time.Minute

// ListQuery selects one page of gateways. Filtering, sorting and paging
// run in the database, so a page costs the same with 10 or 10,000 gateways.
type ListQuery struct {
	// Q matches id, site or hostname (case-insensitive substring).
	Q string
	// Status is a stored status, or "offline" (approved, no heartbeat for
	// OfflineAfter) or "online".
	Status string
	// Sort is a field name, "-" first for descending.
	Sort  string
	Page  int // from 1
	Limit int
}

// ListPage is one page of gateways and the count of all that match.
type ListPage struct {
	Gateways []View `json:"gateways"`
	Total    int64  `json:"total"`
	Page     int    `json:"page"`
	Limit    int    `json:"limit"`
}

var sortColumns = map[string]string{
	"id": "id", "site": "site", "hostname": "hostname", "status": "status",
	"last_seen_at": "last_seen_at", "enrolled_at": "enrolled_at", "agent_version": "agent_version",
}

var listStatuses = []string{store.GatewayActivating, store.GatewayPending, store.GatewayApproved,
	store.GatewayRejected, store.GatewayDisabled, "offline", "online"}

// Validate normalises q and names the first bad field.
func (q *ListQuery) Validate() error {
	if q.Page == 0 {
		q.Page = 1
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	switch {
	case q.Page < 1 || q.Page > 1_000_000:
		return &ValidationError{"page", "a page number from 1"}
	case q.Limit < 1 || q.Limit > MaxPageSize:
		return &ValidationError{"limit", fmt.Sprintf("from 1 to %d", MaxPageSize)}
	case len(q.Q) > 255:
		return &ValidationError{"q", "at most 255 characters"}
	case q.Status != "" && !slices.Contains(listStatuses, q.Status):
		return &ValidationError{"status", "one of " + strings.Join(listStatuses, ", ")}
	}
	if q.Sort == "" {
		q.Sort = "id"
	}
	if _, ok := sortColumns[strings.TrimPrefix(q.Sort, "-")]; !ok {
		return &ValidationError{"sort", "one of id, site, hostname, status, last_seen_at, enrolled_at, agent_version (prefix - for descending)"}
	}
	return nil
}

// Page returns one page of the gateways within access that match q.
func (s *Service) Page(ctx context.Context, access []string, q ListQuery) (ListPage, error) {
	if err := q.Validate(); err != nil {
		return ListPage{}, err
	}
	db := s.filtered(s.store.DB.WithContext(ctx).Model(&store.Gateway{}), access, q)
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return ListPage{}, fmt.Errorf("count gateways: %w", err)
	}
	col := sortColumns[strings.TrimPrefix(q.Sort, "-")]
	dir := "ASC"
	if strings.HasPrefix(q.Sort, "-") {
		dir = "DESC"
	}
	var gs []store.Gateway
	order := col + " " + dir
	if col == "last_seen_at" { // never seen: the oldest heartbeat
		order = map[string]string{"ASC": "last_seen_at ASC NULLS FIRST", "DESC": "last_seen_at DESC NULLS LAST"}[dir]
	}
	if col != "id" {
		order += ", id"
	}
	// A deferred join: the offset walks an index for ids only, and just the
	// page's rows (wide ones, with keys and TPM evidence) are read.
	ids := db.Session(&gorm.Session{}).Select("id").Order(order).Limit(q.Limit).Offset((q.Page - 1) * q.Limit)
	if err := s.store.DB.WithContext(ctx).Where("id IN (?)", ids).Order(order).Find(&gs).Error; err != nil {
		return ListPage{}, fmt.Errorf("list gateways: %w", err)
	}
	pageIDs := make([]string, len(gs))
	for i := range gs {
		pageIDs[i] = gs[i].ID
	}
	deployed, err := s.deployedOf(ctx, pageIDs)
	if err != nil {
		return ListPage{}, err
	}
	out := ListPage{Gateways: make([]View, len(gs)), Total: total, Page: q.Page, Limit: q.Limit}
	for i := range gs {
		out.Gateways[i] = view(&gs[i], deployed[gs[i].ID])
	}
	return out, nil
}

// filtered applies gateway_access and q's search and status to db.
func (s *Service) filtered(db *gorm.DB, access []string, q ListQuery) *gorm.DB {
	db = withinAccess(db, access)
	if q.Q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.Q)) + "%"
		db = db.Where(store.GatewaySearchExpr+` LIKE ? ESCAPE '\'`, like)
	}
	cutoff := s.Now().Add(-OfflineAfter)
	switch q.Status {
	case "":
	case "offline":
		db = db.Where("status = ? AND (last_seen_at IS NULL OR last_seen_at < ?)", store.GatewayApproved, cutoff)
	case "online":
		db = db.Where("status = ? AND last_seen_at >= ?", store.GatewayApproved, cutoff)
	default:
		db = db.Where("status = ?", q.Status)
	}
	return db
}

// withinAccess is rbac.CanAccessGateway as SQL: "*", gateway ids or sites.
func withinAccess(db *gorm.DB, access []string) *gorm.DB {
	if slices.Contains(access, rbac.AllGateways) {
		return db
	}
	if len(access) == 0 {
		return db.Where("1 = 0")
	}
	return db.Where("(id IN ? OR (site <> '' AND site IN ?))", access, access)
}

func (s *Service) deployedOf(ctx context.Context, ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var cs []store.GatewayConfig
	if err := s.store.DB.WithContext(ctx).Select("gateway_id", "version").Where("gateway_id IN ?", ids).Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("deployed config versions: %w", err)
	}
	for _, c := range cs {
		out[c.GatewayID] = c.Version
	}
	return out, nil
}
