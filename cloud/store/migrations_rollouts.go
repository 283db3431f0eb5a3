package store

import (
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// rolloutMigrations create staged rollouts and their per-gateway targets.
func rolloutMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611300200-rollouts", Migrate: func(tx *gorm.DB) error {
		type rollout struct {
			ID              uint64 `gorm:"primaryKey"`
			PipelineID      string `gorm:"size:128;not null;index:idx_rollouts_pipeline"`
			PipelineVersion int    `gorm:"not null"`
			State           string `gorm:"size:32;not null;index:idx_rollouts_state"`
			Reason          string `gorm:"type:text;not null;default:''"`
			Wave            int    `gorm:"not null;default:0"`
			Waves           int    `gorm:"not null"`
			MaxFailures     int    `gorm:"not null"`
			ApplyTimeout    int64  `gorm:"not null"`
			CreatedBy       string `gorm:"size:255;not null;default:''"`
			UpdatedBy       string `gorm:"size:255;not null;default:''"`
			Access          string `gorm:"type:text;not null;default:'[]'"`
			LeaseOwner      string `gorm:"size:128;not null;default:''"`
			LeaseUntil      time.Time
			CreatedAt       time.Time
			UpdatedAt       time.Time
		}
		type rolloutTarget struct {
			RolloutID     uint64 `gorm:"primaryKey;autoIncrement:false;index:idx_rollout_targets_status,priority:1"`
			GatewayID     string `gorm:"primaryKey;size:255;index:idx_rollout_targets_gateway"`
			Wave          int    `gorm:"not null"`
			Status        string `gorm:"size:16;not null;index:idx_rollout_targets_status,priority:2"`
			ConfigVersion int    `gorm:"not null;default:0"`
			Error         string `gorm:"type:text;not null;default:''"`
			DeployedAt    *time.Time
			PrevDocument  string `gorm:"type:text;not null;default:''"`
			RolledBack    bool   `gorm:"not null;default:false"`
		}
		if err := tx.Table("rollouts").Migrator().CreateTable(&rollout{}); err != nil {
			return fmt.Errorf("create rollouts: %w", err)
		}
		if err := tx.Table("rollout_targets").Migrator().CreateTable(&rolloutTarget{}); err != nil {
			return fmt.Errorf("create rollout_targets: %w", err)
		}
		return nil
	}}}
}
