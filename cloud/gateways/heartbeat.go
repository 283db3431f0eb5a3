package gateways

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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

// Heartbeats stores gateways' health reports and serves their history. Its
// writer goroutine runs from Start to Close.
type Heartbeats struct {
	repo   HeartbeatRepo
	set    *Settings
	log    *slog.Logger
	writer *batcher[hbRow]
}

// NewHeartbeats returns the heartbeat service over repo.
func NewHeartbeats(repo HeartbeatRepo, set *Settings, log *slog.Logger) *Heartbeats {
	s := &Heartbeats{repo: repo, set: set, log: log}
	s.writer = newHBWriter(s)
	return s
}

// Start starts the heartbeat writer.
func (s *Heartbeats) Start(ctx context.Context) { s.writer.start(ctx) }

// Close writes the heartbeats queued and stops the writer; heartbeats
// after it fail with ErrStopped.
func (s *Heartbeats) Close() { s.writer.close() }

// Heartbeat records a gateway's health report, and its summary (last seen,
// agent and applied config versions) when that changed or grew stale. a is
// the request's authentication, which read the summary already.
func (s *Heartbeats) Heartbeat(ctx context.Context, a Auth, hb wire.Heartbeat) error {
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
	now := s.set.Now()
	row := store.GatewayHeartbeat{GatewayID: a.GatewayID, ReceivedAt: now, Status: hb.Status, AgentVersion: hb.AgentVersion,
		ConfigVersion: hb.ConfigVersion, ConfigError: hb.ConfigError, BufferDepth: hb.BufferDepth,
		ReadingsTotal: int64(hb.ReadingsTotal), Adapters: string(adapters)}
	if err := s.insertHeartbeat(ctx, row); err != nil {
		return err
	}
	if s.set.OnHeartbeat != nil {
		s.set.OnHeartbeat(ctx, a.GatewayID, hb)
	}
	if a.LastSeen != nil && now.Sub(*a.LastSeen) < lastSeenPrecision && a.AgentVersion == hb.AgentVersion && a.AppliedConfig == hb.ConfigVersion {
		return nil
	}
	return s.repo.SetSummary(ctx, a.GatewayID, now, hb.AgentVersion, hb.ConfigVersion)
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
func (s *Heartbeats) Health(ctx context.Context, access []string, id string, limit int, cursor uint64) (HealthPage, error) {
	if _, err := readWithin(ctx, s.repo, access, id); err != nil {
		return HealthPage{}, err
	}
	if limit <= 0 {
		limit = DefaultHealthPage
	}
	limit = min(limit, MaxHealthPage)
	rows, err := s.repo.Heartbeats(ctx, id, cursor, limit+1)
	if err != nil {
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

func (s *Heartbeats) historyRows() int {
	if s.set.HistoryRows > 0 {
		return s.set.HistoryRows
	}
	return DefaultHistoryRows
}

func (s *Heartbeats) historyBytes() int {
	if s.set.HistoryBytes > 0 {
		return s.set.HistoryBytes
	}
	return DefaultHistoryBytes
}

// Prune deletes heartbeats older than HeartbeatRetention and expired nonces.
func (s *Heartbeats) Prune(ctx context.Context) error {
	now := s.set.Now()
	return s.repo.Prune(ctx, now.Add(-HeartbeatRetention), now)
}
