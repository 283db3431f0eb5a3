package store

import (
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// pipelineMigrations create the pipelines, their versions and deployments.
func pipelineMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611300100-pipelines", Migrate: func(tx *gorm.DB) error {
		type pipeline struct {
			ID          string `gorm:"primaryKey;size:128"`
			Description string `gorm:"type:text;not null;default:''"`
			Version     int    `gorm:"not null"`
			CreatedBy   string `gorm:"size:255;not null;default:''"`
			UpdatedBy   string `gorm:"size:255;not null;default:''"`
			CreatedAt   time.Time
			UpdatedAt   time.Time
		}
		type pipelineVersion struct {
			PipelineID string `gorm:"primaryKey;size:128"`
			Version    int    `gorm:"primaryKey;autoIncrement:false"`
			Document   string `gorm:"type:text;not null"`
			CreatedBy  string `gorm:"size:255;not null;default:''"`
			CreatedAt  time.Time
		}
		type pipelineDeployment struct {
			ID              uint64 `gorm:"primaryKey"`
			PipelineID      string `gorm:"size:128;not null;index:idx_pipeline_deployments_pipeline"`
			PipelineVersion int    `gorm:"not null"`
			GatewayID       string `gorm:"size:255;not null"`
			ConfigVersion   int    `gorm:"not null;default:0"`
			Error           string `gorm:"type:text;not null;default:''"`
			DeployedBy      string `gorm:"size:255;not null;default:''"`
			CreatedAt       time.Time
		}
		for _, t := range []struct {
			name  string
			model any
		}{{"pipelines", &pipeline{}}, {"pipeline_versions", &pipelineVersion{}}, {"pipeline_deployments", &pipelineDeployment{}}} {
			if err := tx.Table(t.name).Migrator().CreateTable(t.model); err != nil {
				return fmt.Errorf("create %s: %w", t.name, err)
			}
		}
		return nil
	}}}
}
