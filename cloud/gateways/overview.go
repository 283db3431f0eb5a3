package gateways

import (
	"context"
	"fmt"
	"maps"
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
func (s *Fleet) Overview(ctx context.Context, access []string) (Overview, error) {
	f := s.filter(access)
	now := s.set.Now()
	out := Overview{Counts: map[string]int64{}, OfflineAfter: int(OfflineAfter.Seconds()), Series: []FleetPoint{}, Expiring: []Expiring{}}
	counts, err := s.repo.CountByStatus(ctx, f)
	if err != nil {
		return out, fmt.Errorf("count gateways by status: %w", err)
	}
	maps.Copy(out.Counts, counts)
	offline := f
	offline.Status = "offline"
	n, err := s.repo.CountGateways(ctx, offline)
	if err != nil {
		return out, fmt.Errorf("count offline gateways: %w", err)
	}
	out.Counts["offline"], out.Counts["online"] = n, out.Counts[store.GatewayApproved]-n

	tokens, err := s.repo.ExpiringTokens(ctx, f, now, now.Add(ExpiringWithin), 50)
	if err != nil {
		return out, fmt.Errorf("expiring gateway tokens: %w", err)
	}
	// TLS certificates are short-lived and renewed at 2/3 of their life:
	// one still presented past that point (or within a day of its end, or
	// expired) means the gateway's renewal is failing.
	tls, err := s.repo.OverdueTLSCerts(ctx, f, now, 50)
	if err != nil {
		return out, fmt.Errorf("overdue gateway TLS certificates: %w", err)
	}
	for _, e := range tokens {
		out.Expiring = append(out.Expiring, Expiring{GatewayID: e.GatewayID, Credential: "gateway token", ExpiresAt: e.ExpiresAt})
	}
	for _, e := range tls {
		out.Expiring = append(out.Expiring, Expiring{GatewayID: e.GatewayID, Credential: "TLS certificate", ExpiresAt: e.ExpiresAt})
	}
	// AK certificates are not listed: they last an hour and the agent
	// fetches a fresh one for every ACME order, so one about to expire is
	// the normal case, not a warning (ak_cert_expires_at is on the gateway).
	slices.SortFunc(out.Expiring, func(a, b Expiring) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	if out.Series, err = s.fleetSeries(ctx, f, now); err != nil {
		return out, err
	}
	return out, nil
}

// fleetSeries sums, per bucket, each gateway's readings rate (from the
// growth of its readings_total between heartbeats) and its last buffer depth.
func (s *Fleet) fleetSeries(ctx context.Context, f store.GatewayFilter, now time.Time) ([]FleetPoint, error) {
	start := now.Add(-OverviewWindow).Truncate(OverviewBucket)
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
	err := s.repo.EachFleetHeartbeat(ctx, f, start, overviewMaxRows, func(h store.FleetHeartbeat) {
		if h.GatewayID != prevID {
			flush()
			prevID, prevAt, prevTotal = h.GatewayID, time.Time{}, -1
		}
		b := int(h.ReceivedAt.Sub(start) / OverviewBucket)
		if b < 0 || b >= n {
			return
		}
		a := cur[b]
		if a == nil {
			a = &acc{}
			cur[b] = a
		}
		a.depth = h.BufferDepth
		if dt := h.ReceivedAt.Sub(prevAt).Seconds(); prevTotal >= 0 && h.ReadingsTotal >= prevTotal && dt > 0 {
			a.rate += float64(h.ReadingsTotal-prevTotal) / dt
			a.rates++
		}
		prevAt, prevTotal = h.ReceivedAt, h.ReadingsTotal
	})
	if err != nil {
		return nil, fmt.Errorf("fleet heartbeats: %w", err)
	}
	flush()
	return buckets, nil
}
