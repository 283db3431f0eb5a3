package gateways

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

// Overview windows: the fleet plots cover OverviewWindow in
// OverviewBucket steps; credentials expiring within ExpiringWithin are
// listed.
const (
	OverviewWindow = 30 * time.Minute
	OverviewBucket = time.Minute
	ExpiringWithin = 30 * 24 * time.Hour
	// overviewMaxRows bounds the heartbeat rows one overview reads, so a
	// very large fleet degrades to a shorter plot, not a slow page.
	overviewMaxRows = 200_000
)

// Overview is the fleet at a glance, within a user's gateway_access.
type Overview struct {
	// Counts by stored status, plus "online" and "offline" (approved
	// gateways by heartbeat age, see OfflineAfter).
	Counts       map[string]int64 `json:"counts"`
	OfflineAfter int              `json:"offline_after_seconds"`
	Series       []FleetPoint     `json:"series"`
	Expiring     []Expiring       `json:"expiring"`
}

// FleetPoint is the fleet's throughput and backlog in one bucket.
type FleetPoint struct {
	Time              time.Time `json:"time"`
	ReadingsPerSecond float64   `json:"readings_per_second"`
	BufferDepth       int64     `json:"buffer_depth"`
	Gateways          int       `json:"gateways"`
}

// Expiring is a gateway credential that expires soon: a gateway token
// within ExpiringWithin, or a TLS certificate past its renewal point
// (TLSRenewAt), expired ones included.
type Expiring struct {
	GatewayID  string    `json:"gateway_id"`
	Credential string    `json:"credential"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Overview summarises the gateways within access.
func (s *Service) Overview(ctx context.Context, access []string) (Overview, error) {
	now := s.Now()
	db := s.store.DB.WithContext(ctx)
	out := Overview{Counts: map[string]int64{}, OfflineAfter: int(OfflineAfter.Seconds()), Series: []FleetPoint{}, Expiring: []Expiring{}}
	var rows []struct {
		Status string
		N      int64
	}
	if err := withinAccess(db.Model(&store.Gateway{}), access).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return out, fmt.Errorf("count gateways by status: %w", err)
	}
	for _, r := range rows {
		out.Counts[r.Status] = r.N
	}
	var offline int64
	if err := s.filtered(db.Model(&store.Gateway{}), access, ListQuery{Status: "offline"}).Count(&offline).Error; err != nil {
		return out, fmt.Errorf("count offline gateways: %w", err)
	}
	out.Counts["offline"], out.Counts["online"] = offline, out.Counts[store.GatewayApproved]-offline

	ids := withinAccess(db.Model(&store.Gateway{}), access).Select("id")
	if err := db.Table("gateway_tokens").Select("gateway_id, expires_at").
		Where("revoked_at IS NULL AND expires_at > ? AND expires_at < ? AND gateway_id IN (?)", now, now.Add(ExpiringWithin), ids).
		Order("expires_at").Limit(50).Scan(&out.Expiring).Error; err != nil {
		return out, fmt.Errorf("expiring gateway tokens: %w", err)
	}
	for i := range out.Expiring {
		out.Expiring[i].Credential = "gateway token"
	}
	// TLS certificates are short-lived and renewed at 2/3 of their life:
	// one still presented past that point (or within a day of its end, or
	// expired) means the gateway's renewal is failing.
	var tls []Expiring
	if err := withinAccess(db.Model(&store.Gateway{}), access).Select("id AS gateway_id, tls_cert_expires_at AS expires_at").
		Where("status = ? AND tls_cert_renew_at < ?", store.GatewayApproved, now).
		Order("tls_cert_expires_at").Limit(50).Scan(&tls).Error; err != nil {
		return out, fmt.Errorf("overdue gateway TLS certificates: %w", err)
	}
	for i := range tls {
		tls[i].Credential = "TLS certificate"
	}
	out.Expiring = append(out.Expiring, tls...)
	// AK certificates are not listed: they last an hour and the agent
	// fetches a fresh one for every ACME order, so one about to expire is
	// the normal case, not a warning (ak_cert_expires_at is on the gateway).
	slices.SortFunc(out.Expiring, func(a, b Expiring) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	series, err := s.fleetSeries(ctx, access, now)
	if err != nil {
		return out, err
	}
	out.Series = series
	return out, nil
}

// fleetSeries sums, per bucket, each gateway's readings rate (from the
// growth of its readings_total between heartbeats) and its last buffer depth.
func (s *Service) fleetSeries(ctx context.Context, access []string, now time.Time) ([]FleetPoint, error) {
	db := s.store.DB.WithContext(ctx)
	start := now.Add(-OverviewWindow).Truncate(OverviewBucket)
	ids := withinAccess(db.Model(&store.Gateway{}), access).Select("id")
	rows, err := db.Model(&store.GatewayHeartbeat{}).Select("gateway_id, received_at, buffer_depth, readings_total").
		Where("received_at >= ? AND gateway_id IN (?)", start, ids).Order("gateway_id, received_at").Limit(overviewMaxRows).Rows()
	if err != nil {
		return nil, fmt.Errorf("fleet heartbeats: %w", err)
	}
	defer rows.Close()
	n := int(OverviewWindow/OverviewBucket) + 1
	type acc struct {
		rate  float64
		rates int
		depth int64
	}
	buckets := make([]FleetPoint, n)
	for i := range buckets {
		buckets[i].Time = start.Add(time.Duration(i) * OverviewBucket)
	}
	var (
		prevID    string
		prevAt    time.Time
		prevTotal int64
		cur       = map[int]*acc{} // this gateway's buckets
	)
	flush := func() {
		for b, a := range cur {
			buckets[b].BufferDepth += a.depth
			buckets[b].Gateways++
			if a.rates > 0 {
				buckets[b].ReadingsPerSecond += a.rate / float64(a.rates)
			}
		}
		cur = map[int]*acc{}
	}
	for rows.Next() {
		var id string
		var at time.Time
		var depth, total int64
		if err := rows.Scan(&id, &at, &depth, &total); err != nil {
			return nil, fmt.Errorf("fleet heartbeats: %w", err)
		}
		if id != prevID {
			flush()
			prevID, prevAt, prevTotal = id, time.Time{}, -1
		}
		b := int(at.Sub(start) / OverviewBucket)
		if b < 0 || b >= n {
			continue
		}
		a := cur[b]
		if a == nil {
			a = &acc{}
			cur[b] = a
		}
		a.depth = depth
		if dt := at.Sub(prevAt).Seconds(); prevTotal >= 0 && total >= prevTotal && dt > 0 {
			a.rate += float64(total-prevTotal) / dt
			a.rates++
		}
		prevAt, prevTotal = at, total
	}
	flush()
	return buckets, rows.Err()
}
