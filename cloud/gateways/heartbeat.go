package gateways

import (
	"context"
	"encoding/json"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// HealthView is one heartbeat as the API shows it.
type HealthView struct {
	ReceivedAt    time.Time           `json:"received_at"`
	Status        string              `json:"status"`
	AgentVersion  string              `json:"agent_version"`
	ConfigVersion int                 `json:"config_version"`
	BufferDepth   int64               `json:"buffer_depth"`
	Adapters      []wire.AdapterState `json:"adapters"`
}

// Heartbeat records a gateway's health report and when it was last seen.
func (s *Service) Heartbeat(ctx context.Context, id string, hb wire.Heartbeat) error {
	if len(hb.Status) > 32 || len(hb.AgentVersion) > 64 || len(hb.Adapters) > 256 || hb.BufferDepth < 0 || hb.ConfigVersion < 0 {
		return &ValidationError{"heartbeat", "status up to 32 characters, agent_version up to 64, at most 256 adapters, no negative numbers"}
	}
	adapters, err := json.Marshal(hb.Adapters)
	if err != nil {
		return err
	}
	now := s.Now()
	// Two statements without a transaction: the history row and the
	// gateway's summary need not change together, and heartbeats are the
	// fleet's most frequent write.
	db := s.store.DB.WithContext(ctx)
	row := store.GatewayHeartbeat{GatewayID: id, ReceivedAt: now, Status: hb.Status, AgentVersion: hb.AgentVersion,
		ConfigVersion: hb.ConfigVersion, BufferDepth: hb.BufferDepth, Adapters: string(adapters)}
	if err := db.Create(&row).Error; err != nil {
		return err
	}
	return db.Model(&store.Gateway{}).Where("id = ?", id).Updates(map[string]any{
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
			ConfigVersion: r.ConfigVersion, BufferDepth: r.BufferDepth}
		_ = json.Unmarshal([]byte(r.Adapters), &out[i].Adapters)
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
