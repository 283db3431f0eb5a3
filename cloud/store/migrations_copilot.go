package store

import (
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// copilotMigrations create service accounts and their API tokens, pipeline
// proposals and connection tests (#12, Copilot and test connection).
func copilotMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611300200-copilot", Migrate: func(tx *gorm.DB) error {
		type serviceAccount struct {
			ID            uint64 `gorm:"primaryKey"`
			Name          string `gorm:"size:64;not null;uniqueIndex:idx_service_accounts_name"`
			Description   string `gorm:"type:text;not null;default:''"`
			Roles         string `gorm:"type:text;not null"`
			GatewayAccess string `gorm:"type:text;not null"`
			Disabled      bool   `gorm:"not null;default:false"`
			CreatedBy     string `gorm:"size:255;not null;default:''"`
			CreatedAt     time.Time
		}
		type serviceAccountToken struct {
			ID        uint64    `gorm:"primaryKey"`
			AccountID uint64    `gorm:"not null;index:idx_service_account_tokens_account"`
			Prefix    string    `gorm:"size:32;not null;uniqueIndex:idx_service_account_tokens_prefix"`
			Hash      string    `gorm:"size:64;not null"`
			ExpiresAt time.Time `gorm:"not null"`
			RevokedAt *time.Time
			CreatedBy string `gorm:"size:255;not null;default:''"`
			CreatedAt time.Time
		}
		type pipelineProposal struct {
			ID             uint64 `gorm:"primaryKey"`
			PipelineID     string `gorm:"size:128;not null;index:idx_pipeline_proposals_pipeline"`
			BaseVersion    int    `gorm:"not null"`
			Document       string `gorm:"type:text;not null"`
			Rationale      string `gorm:"type:text;not null"`
			Status         string `gorm:"size:16;not null;index:idx_pipeline_proposals_status"`
			ProposedBy     string `gorm:"size:255;not null"`
			CreatedAt      time.Time
			DecidedBy      string `gorm:"size:255;not null;default:''"`
			DecidedAt      *time.Time
			Reason         string `gorm:"type:text;not null;default:''"`
			AppliedVersion int    `gorm:"not null;default:0"`
		}
		type connectionTest struct {
			ID uint64 `gorm:"primaryKey"`
			// (status, gateway_id) serves both the per-second read of the
			// gateways with tests waiting and a gateway's own tests.
			GatewayID       string `gorm:"size:255;not null;index:idx_connection_tests_status_gateway,priority:2"`
			Status          string `gorm:"size:16;not null;index:idx_connection_tests_status_gateway,priority:1"`
			PipelineID      string `gorm:"size:128;not null"`
			PipelineVersion int    `gorm:"not null"`
			Adapter         string `gorm:"type:text;not null"`
			Device          string `gorm:"size:255;not null"`
			PollGroup       string `gorm:"size:255;not null"`
			RequestedBy     string `gorm:"size:255;not null"`
			CreatedAt       time.Time
			SentAt          *time.Time
			DoneAt          *time.Time
			Result          string `gorm:"type:text;not null;default:''"`
		}
		for _, t := range []struct {
			name  string
			model any
		}{{"service_accounts", &serviceAccount{}}, {"service_account_tokens", &serviceAccountToken{}},
			{"pipeline_proposals", &pipelineProposal{}}, {"connection_tests", &connectionTest{}}} {
			if err := tx.Table(t.name).Migrator().CreateTable(t.model); err != nil {
				return fmt.Errorf("create %s: %w", t.name, err)
			}
		}
		return nil
	}}}
}
