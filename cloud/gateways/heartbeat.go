package gateways

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// HealthView is one heartbeat as the API shows it.
type HealthView struct {
	ReceivedAt    time.Time `json:"received_at"`
	Status        string    `json:"status"`
	AgentVersion  string    `json:"agent_version"`
	ConfigVersion int       `json:"config_version"`
	BufferDepth   int64     `json:"buffer_depth"`
	ReadingsTotal int64     `json:"readings_total"`
	// ReadingsPerSecond is the growth of readings_total since the previous
	// heartbeat (null for the oldest one returned, or after an agent reset).
	ReadingsPerSecond *float64            `json:"readings_per_second"`
	Adapters          []wire.AdapterState `json:"adapters"`
}

// lastSeenPrecision is how stale a gateway's last_seen_at may grow before
// a heartbeat updates it (the heartbeat history keeps exact times): most
// heartbeats then cost one INSERT.
const lastSeenPrecision = 30 * time.Second

// Heartbeat records a gateway's health report, and its summary (last seen,
// agent and applied config versions) when that changed or grew stale. a is
// the request's authentication, which read the summary already.
func (s *Service) Heartbeat(ctx context.Context, a Auth, hb wire.Heartbeat) error {
	if len(hb.Status) > 32 || len(hb.AgentVersion) > 64 || len(hb.Adapters) > 256 || hb.BufferDepth < 0 || hb.ConfigVersion < 0 || hb.ReadingsTotal > math.MaxInt64 {
		return &ValidationError{"heartbeat", "status up to 32 characters, agent_version up to 64, at most 256 adapters, no negative numbers"}
	}
	adapters, err := json.Marshal(hb.Adapters)
	if err != nil {
		return err
	}
	now := s.Now()
	db := s.store.DB.WithContext(ctx)
	if err := s.insertHeartbeat(ctx, a.GatewayID, now, hb.Status, hb.AgentVersion, hb.ConfigVersion, hb.BufferDepth, int64(hb.ReadingsTotal), string(adapters)); err != nil {
		return err
	}
	if a.LastSeen != nil && now.Sub(*a.LastSeen) < lastSeenPrecision && a.AgentVersion == hb.AgentVersion && a.AppliedConfig == hb.ConfigVersion {
		return nil
	}
	return db.Model(&store.Gateway{}).Where("id = ?", a.GatewayID).Updates(map[string]any{
		"last_seen_at": now, "agent_version": hb.AgentVersion, "applied_config": hb.ConfigVersion,
	}).Error
}

// Health returns the newest heartbeats of a gateway within access.
func (s *Service) Health(ctx context.Context, access []string, id string, limit int) ([]HealthView, error) {
	if err := s.CheckAccess(ctx, access, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var rows []store.GatewayHeartbeat
	if err := s.store.DB.WithContext(ctx).Where("gateway_id = ?", id).Order("received_at DESC, id DESC").
		Limit(limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]HealthView, len(rows))
	for i, r := range rows {
		out[i] = HealthView{ReceivedAt: r.ReceivedAt, Status: r.Status, AgentVersion: r.AgentVersion,
			ConfigVersion: r.ConfigVersion, BufferDepth: r.BufferDepth, ReadingsTotal: r.ReadingsTotal}
		_ = json.Unmarshal([]byte(r.Adapters), &out[i].Adapters)
		if i > 0 { // rows are newest first: rows[i] is the one before rows[i-1]
			newer := rows[i-1]
			if dt := newer.ReceivedAt.Sub(r.ReceivedAt).Seconds(); dt > 0 && newer.ReadingsTotal >= r.ReadingsTotal {
				rate := float64(newer.ReadingsTotal-r.ReadingsTotal) / dt
				out[i-1].ReadingsPerSecond = &rate
			}
		}
	}
	return out, nil
}

// Prune deletes heartbeats older than HeartbeatRetention and expired nonces.
func (s *Service) Prune(ctx context.Context) error {
	now := s.Now()
	db := s.store.DB.WithContext(ctx)
	if err := db.Where("received_at < ?", now.Add(-HeartbeatRetention)).Delete(&store.GatewayHeartbeat{}).Error; err != nil {
		return err
	}
	return db.Where("expires_at < ?", now).Delete(&store.GatewayChallenge{}).Error
}
