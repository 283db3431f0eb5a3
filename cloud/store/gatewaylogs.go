package store

import (
	"context"
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// GatewayLog is one log line a gateway's agent shipped (scrubbed of
// secrets by the agent). Level is the line's rank in wire.LogLevels, so
// "this level or above" is one comparison.
type GatewayLog struct {
	ID         uint64 `gorm:"primaryKey"`
	GatewayID  string
	Seq        uint64
	Time       time.Time
	Level      int
	Message    string
	Attrs      string
	ReceivedAt time.Time
}

// GatewayLogQuery selects a gateway's log lines, newest first: at least
// MinLevel, logged within [From, To] (zero: open), and with an ID below
// Before (the cursor of the previous page; 0: from the newest).
type GatewayLogQuery struct {
	GatewayID string
	MinLevel  int
	From, To  time.Time
	Before    uint64
	Limit     int
}

// AppendGatewayLogs stores lines of gateway id and deletes its lines past
// the newest keep, in one transaction: the table stays bounded per gateway.
func (s *Store) AppendGatewayLogs(ctx context.Context, id string, lines []GatewayLog, keep int) error {
	if len(lines) == 0 {
		return nil
	}
	return translate(s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(lines, 100).Error; err != nil {
			return fmt.Errorf("insert gateway logs: %w", err)
		}
		err := tx.Exec(`DELETE FROM gateway_logs WHERE gateway_id = ? AND id <= (
			SELECT id FROM gateway_logs WHERE gateway_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, id, id, keep).Error
		if err != nil {
			return fmt.Errorf("trim gateway logs: %w", err)
		}
		return nil
	}))
}

// GatewayLogs returns the lines q selects.
func (s *Store) GatewayLogs(ctx context.Context, q GatewayLogQuery) ([]GatewayLog, error) {
	db := s.DB.WithContext(ctx).Where("gateway_id = ? AND level >= ?", q.GatewayID, q.MinLevel)
	if !q.From.IsZero() {
		db = db.Where("time >= ?", q.From)
	}
	if !q.To.IsZero() {
		db = db.Where("time <= ?", q.To)
	}
	if q.Before > 0 {
		db = db.Where("id < ?", q.Before)
	}
	var out []GatewayLog
	err := db.Order("id DESC").Limit(q.Limit).Find(&out).Error
	return out, translate(err)
}

// gatewayLogMigrations create gateway_logs. Its lines go with their
// gateway (ON DELETE CASCADE), so deleting a gateway needs no step here.
func gatewayLogMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611300100-gateway-logs", Migrate: func(tx *gorm.DB) error {
		type gateway struct {
			ID string `gorm:"primaryKey;size:64"`
		}
		type gatewayLog struct {
			ID         uint64  `gorm:"primaryKey;autoIncrement;index:idx_gateway_logs_gateway,priority:2"`
			GatewayID  string  `gorm:"size:64;not null;index:idx_gateway_logs_gateway,priority:1"`
			Gateway    gateway `gorm:"foreignKey:GatewayID;references:ID;constraint:OnDelete:CASCADE"`
			Seq        uint64  `gorm:"not null"`
			Time       time.Time
			Level      int    `gorm:"not null"`
			Message    string `gorm:"type:text;not null"`
			Attrs      string `gorm:"type:text;not null"`
			ReceivedAt time.Time
		}
		if err := tx.Table("gateway_logs").Migrator().CreateTable(&gatewayLog{}); err != nil {
			return fmt.Errorf("gateway_logs: %w", err)
		}
		return nil
	}}}
}
