package gateways

import (
	"context"
	"encoding/json"
	"errors"
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
	ConfigError   string    `json:"config_error,omitempty"`
	BufferDepth   int64     `json:"buffer_depth"`
	ReadingsTotal int64     `json:"readings_total"`
	// ReadingsPerSecond is the growth of readings_total since the previous
	// heartbeat (null for the oldest one returned, or after an agent reset).
	ReadingsPerSecond *float64            `json:"readings_per_second"`
	Adapters          []wire.AdapterState `json:"adapters"`
}

// History bounds. Each gateway keeps at most HistoryRows heartbeats and
// HistoryBytes of adapter state (wire.Heartbeat.Check bounds one
// heartbeat); the oldest go first. Health pages hold at most
// MaxHealthPage heartbeats and about maxHealthPageBytes.
const (
	DefaultHistoryRows  = 2000
	DefaultHistoryBytes = 4 << 20
	DefaultHealthPage   = 20
	MaxHealthPage       = 100
	maxHealthPageBytes  = 1 << 20
)

// lastSeenPrecision is how stale a gateway's last_seen_at may grow before
// a heartbeat updates it (the heartbeat history keeps exact times): most
// heartbeats then cost one INSERT.
const lastSeenPrecision = 30 * time.Second

// Heartbeat records a gateway's health report, and its summary (last seen,
// agent and applied config versions) when that changed or grew stale. a is
// the request's authentication, which read the summary already.
func (s *Service) Heartbeat(ctx context.Context, a Auth, hb wire.Heartbeat) error {
	if err := hb.Check(); err != nil {
		var he *wire.HeartbeatError
		if errors.As(err, &he) {
			return &ValidationError{he.Field, he.Limit}
		}
		return err
	}
	if hb.ReadingsTotal > math.MaxInt64 {
		return &ValidationError{"readings_total", "at most 2^63-1"}
	}
	adapters, err := json.Marshal(hb.Adapters)
	if err != nil {
		return err
	}
	now := s.Now()
	db := s.store.DB.WithContext(ctx)
	if err := s.insertHeartbeat(ctx, a.GatewayID, now, hb.Status, hb.AgentVersion, hb.ConfigVersion, hb.ConfigError, hb.BufferDepth, int64(hb.ReadingsTotal), string(adapters)); err != nil {
		return err
	}
	if s.OnHeartbeat != nil {
		s.OnHeartbeat(ctx, a.GatewayID, hb)
	}
	if a.LastSeen != nil && now.Sub(*a.LastSeen) < lastSeenPrecision && a.AgentVersion == hb.AgentVersion && a.AppliedConfig == hb.ConfigVersion {
		return nil
	}
	return db.Model(&store.Gateway{}).Where("id = ?", a.GatewayID).Updates(map[string]any{
		"last_seen_at": now, "agent_version": hb.AgentVersion, "applied_config": hb.ConfigVersion,
	}).Error
}

// HealthPage is a page of heartbeats, newest first. NextCursor, when set,
// asks for the next (older) page.
type HealthPage struct {
	Heartbeats []HealthView `json:"heartbeats"`
	NextCursor *uint64      `json:"next_cursor"`
}

// Health returns a page of a gateway's heartbeats (within access), newest
// first: at most limit (DefaultHealthPage when 0, at most MaxHealthPage)
// and about a MiB, older than cursor when it is set.
func (s *Service) Health(ctx context.Context, access []string, id string, limit int, cursor uint64) (HealthPage, error) {
	if err := s.CheckAccess(ctx, access, id); err != nil {
		return HealthPage{}, err
	}
	if limit <= 0 {
		limit = DefaultHealthPage
	}
	limit = min(limit, MaxHealthPage)
	q := s.store.DB.WithContext(ctx).Where("gateway_id = ?", id)
	if cursor > 0 {
		q = q.Where("id < ?", cursor)
	}
	var rows []store.GatewayHeartbeat
	if err := q.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return HealthPage{}, err
	}
	page := HealthPage{Heartbeats: []HealthView{}}
	size := 0
	for i, r := range rows {
		if i == limit || (i > 0 && size+len(r.Adapters) > maxHealthPageBytes) {
			next := rows[i-1].ID
			page.NextCursor = &next
			break
		}
		size += len(r.Adapters)
		v := HealthView{ReceivedAt: r.ReceivedAt, Status: r.Status, AgentVersion: r.AgentVersion,
			ConfigVersion: r.ConfigVersion, ConfigError: r.ConfigError, BufferDepth: r.BufferDepth, ReadingsTotal: r.ReadingsTotal}
		_ = json.Unmarshal([]byte(r.Adapters), &v.Adapters)
		if i > 0 { // rows are newest first: rows[i] is the one before rows[i-1]
			newer := rows[i-1]
			if dt := newer.ReceivedAt.Sub(r.ReceivedAt).Seconds(); dt > 0 && newer.ReadingsTotal >= r.ReadingsTotal {
				rate := float64(newer.ReadingsTotal-r.ReadingsTotal) / dt
				page.Heartbeats[i-1].ReadingsPerSecond = &rate
			}
		}
		page.Heartbeats = append(page.Heartbeats, v)
	}
	return page, nil
}

// trimHistory deletes gateway id's heartbeats past the newest HistoryRows
// or past HistoryBytes of adapter state, newest counted first.
func (s *Service) trimHistory(ctx context.Context, id string) error {
	return s.store.DB.WithContext(ctx).Exec(`DELETE FROM gateway_heartbeats WHERE id IN (
		SELECT id FROM (
			SELECT id, ROW_NUMBER() OVER (ORDER BY id DESC) AS n, SUM(LENGTH(adapters)) OVER (ORDER BY id DESC) AS bytes
			FROM gateway_heartbeats WHERE gateway_id = ?
		) AS h WHERE n > ? OR bytes > ?)`, id, s.historyRows(), s.historyBytes()).Error
}

func (s *Service) historyRows() int {
	if s.HistoryRows > 0 {
		return s.HistoryRows
	}
	return DefaultHistoryRows
}

func (s *Service) historyBytes() int {
	if s.HistoryBytes > 0 {
		return s.HistoryBytes
	}
	return DefaultHistoryBytes
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
