package gateways

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Fleet is what operators see and decide about gateways: the list, one
// gateway, the overview, and approval, disabling and deletion.
type Fleet struct {
	repo FleetRepo
	set  *Settings
}

// NewFleet returns the fleet service over repo.
func NewFleet(repo FleetRepo, set *Settings) *Fleet { return &Fleet{repo: repo, set: set} }

// Get returns one gateway, as ErrNotFound when it is outside access (so
// that ids outside a user's reach are not revealed).
func (s *Fleet) Get(ctx context.Context, access []string, id string) (View, error) {
	g, err := readWithin(ctx, s.repo, access, id)
	if err != nil {
		return View{}, err
	}
	deployed, _ := s.repo.DeployedVersion(ctx, id)
	return view(g, deployed), nil
}

// CheckAccess reports ErrNotFound when gateway id is outside access.
func (s *Fleet) CheckAccess(ctx context.Context, access []string, id string) error {
	_, err := readWithin(ctx, s.repo, access, id)
	return err
}

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
	if !store.GatewaySortable(strings.TrimPrefix(q.Sort, "-")) {
		return &ValidationError{"sort", "one of id, site, hostname, status, last_seen_at, enrolled_at, agent_version (prefix - for descending)"}
	}
	return nil
}

// Page returns one page of the gateways within access that match q.
func (s *Fleet) Page(ctx context.Context, access []string, q ListQuery) (ListPage, error) {
	if err := q.Validate(); err != nil {
		return ListPage{}, err
	}
	f := s.filter(access)
	f.Q, f.Status = q.Q, q.Status
	gs, total, err := s.repo.GatewayPage(ctx, f, strings.TrimPrefix(q.Sort, "-"), strings.HasPrefix(q.Sort, "-"),
		q.Limit, (q.Page-1)*q.Limit)
	if err != nil {
		return ListPage{}, err
	}
	pageIDs := make([]string, len(gs))
	for i := range gs {
		pageIDs[i] = gs[i].ID
	}
	deployed, err := s.repo.DeployedVersions(ctx, pageIDs)
	if err != nil {
		return ListPage{}, err
	}
	out := ListPage{Gateways: make([]View, len(gs)), Total: total, Page: q.Page, Limit: q.Limit}
	for i := range gs {
		out.Gateways[i] = view(&gs[i], deployed[gs[i].ID])
	}
	return out, nil
}

// filter selects the gateways within access; "offline" is judged at now.
func (s *Fleet) filter(access []string) store.GatewayFilter {
	return store.GatewayFilter{All: slices.Contains(access, rbac.AllGateways), Access: access,
		OfflineBefore: s.set.Now().Add(-OfflineAfter)}
}

// SiteOf returns the site of gateway id ("" when it has none or does not
// exist).
func (s *Fleet) SiteOf(ctx context.Context, id string) string { return s.repo.SiteOf(ctx, id) }

// SiteInUse reports whether a gateway or an enrollment token is at site
// (true when it cannot tell).
func (s *Fleet) SiteInUse(ctx context.Context, site string) bool { return s.repo.SiteInUse(ctx, site) }
