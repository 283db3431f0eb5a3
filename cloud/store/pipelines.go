package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Pipeline is a named, versioned definition of a gateway's data path
// (pkg/pipeline.Spec); Version is its newest version.
type Pipeline struct {
	ID          string `gorm:"primaryKey;size:128"`
	Description string
	Version     int
	CreatedBy   string
	UpdatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PipelineVersion is one immutable version of a pipeline's document (JSON).
type PipelineVersion struct {
	PipelineID string `gorm:"primaryKey;size:128"`
	Version    int    `gorm:"primaryKey;autoIncrement:false"`
	Document   string
	CreatedBy  string
	CreatedAt  time.Time
}

// PipelineDeployment records that a pipeline version was written to a
// gateway as its config version ConfigVersion (or why it was not: Error).
// Whether the gateway applied it comes from its heartbeats.
type PipelineDeployment struct {
	ID              uint64 `gorm:"primaryKey"`
	PipelineID      string `gorm:"size:128;index:idx_pipeline_deployments_pipeline"`
	PipelineVersion int
	GatewayID       string `gorm:"size:255"`
	ConfigVersion   int
	Error           string
	DeployedBy      string
	CreatedAt       time.Time
}

// Pipelines is the repository of pipelines, their versions and deployments.
// Every change appends its audit event in the same transaction.
type Pipelines struct{ s *Store }

// Pipelines returns the pipelines repository.
func (s *Store) Pipelines() *Pipelines { return &Pipelines{s} }

// Create stores p with its first version (doc) and the audit event.
func (r *Pipelines) Create(ctx context.Context, p Pipeline, doc string, ev auditrec.Event) (Pipeline, error) {
	p.Version = 1
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&p).Error; err != nil {
			return translate(err)
		}
		v := PipelineVersion{PipelineID: p.ID, Version: 1, Document: doc, CreatedBy: p.CreatedBy}
		if err := tx.Create(&v).Error; err != nil {
			return err
		}
		return appendEvent(tx, ev)
	})
	return p, err
}

// AddVersion stores doc as pipeline id's next version (and description,
// when not nil, as its description). base, when not 0,
// must be the newest version (ErrConflict otherwise: someone else saved
// first). event builds the audit event from the previous version inside
// the transaction, so the recorded old values are the ones replaced.
func (r *Pipelines) AddVersion(ctx context.Context, id string, base int, doc, by string, description *string,
	event func(prev Pipeline, prevVersion PipelineVersion) (auditrec.Event, error)) (Pipeline, error) {
	var p Pipeline
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).Take(&p).Error; err != nil {
			return translate(err)
		}
		if base != 0 && base != p.Version {
			return fmt.Errorf("pipeline %s is at version %d, not %d: %w", id, p.Version, base, ErrConflict)
		}
		var prev PipelineVersion
		if err := tx.Where("pipeline_id = ? AND version = ?", id, p.Version).Take(&prev).Error; err != nil {
			return fmt.Errorf("pipeline %s version %d: %w", id, p.Version, translate(err))
		}
		ev, err := event(p, prev)
		if err != nil {
			return err
		}
		// The conditional update makes two concurrent saves of one version
		// conflict instead of both writing the same next version.
		now := time.Now().UTC().Truncate(time.Microsecond)
		set := map[string]any{"version": p.Version + 1, "updated_by": by, "updated_at": now}
		if description != nil {
			set["description"], p.Description = *description, *description
		}
		res := tx.Model(&Pipeline{}).Where("id = ? AND version = ?", id, p.Version).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("pipeline %s changed meanwhile: %w", id, ErrConflict)
		}
		p.Version, p.UpdatedBy, p.UpdatedAt = p.Version+1, by, now
		v := PipelineVersion{PipelineID: id, Version: p.Version, Document: doc, CreatedBy: by}
		if err := tx.Create(&v).Error; err != nil {
			return translate(err)
		}
		return appendEvent(tx, ev)
	})
	return p, err
}

// Get returns pipeline id.
func (r *Pipelines) Get(ctx context.Context, id string) (Pipeline, error) {
	var p Pipeline
	err := r.s.DB.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	return p, translate(err)
}

// List returns every pipeline by id.
func (r *Pipelines) List(ctx context.Context) ([]Pipeline, error) {
	var out []Pipeline
	err := r.s.DB.WithContext(ctx).Order("id").Find(&out).Error
	return out, err
}

// Versions returns pipeline id's versions, newest first, without documents.
func (r *Pipelines) Versions(ctx context.Context, id string) ([]PipelineVersion, error) {
	var out []PipelineVersion
	err := r.s.DB.WithContext(ctx).Select("pipeline_id", "version", "created_by", "created_at").
		Where("pipeline_id = ?", id).Order("version DESC").Find(&out).Error
	return out, err
}

// Version returns one version with its document.
func (r *Pipelines) Version(ctx context.Context, id string, version int) (PipelineVersion, error) {
	var v PipelineVersion
	err := r.s.DB.WithContext(ctx).Where("pipeline_id = ? AND version = ?", id, version).Take(&v).Error
	return v, translate(err)
}

// Delete removes pipeline id, its versions and its deployment records.
//
// Its running rollouts stop in the same transaction, each with the event
// stopped gives it: a rollout writes each wave from the pipeline's version
// when the wave starts, and a pipeline created next under the same id
// would otherwise have its document written by the old rollout's later
// waves, which nobody deployed.
func (r *Pipelines) Delete(ctx context.Context, id string, ev auditrec.Event, stopped func(rollout uint64) auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&Pipeline{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		var running []Rollout
		if err := tx.Where("pipeline_id = ? AND state = ?", id, RolloutRunning).Find(&running).Error; err != nil {
			return err
		}
		for _, ro := range running {
			stop := stopped(ro.ID)
			if err := tx.Model(&Rollout{}).Where("id = ? AND state = ?", ro.ID, RolloutRunning).
				Updates(map[string]any{"state": RolloutStopped, "reason": stop.Reason, "updated_at": time.Now().UTC()}).Error; err != nil {
				return err
			}
			if err := appendEvent(tx, stop); err != nil {
				return err
			}
		}
		for _, m := range []any{&PipelineVersion{}, &PipelineDeployment{}} {
			if err := tx.Where("pipeline_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return appendEvent(tx, ev)
	})
}

// RecordDeployment stores the outcome of one deploy with its audit event.
func (r *Pipelines) RecordDeployment(ctx context.Context, ds []PipelineDeployment, ev auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		if len(ds) > 0 {
			if err := tx.Create(&ds).Error; err != nil {
				return err
			}
		}
		return appendEvent(tx, ev)
	})
}

// DeploymentStatus is a deployment with what its gateway reported since.
type DeploymentStatus struct {
	PipelineDeployment
	// AppliedConfig is the config version the gateway last reported
	// applying, ConfigError its latest heartbeat's error with a config.
	AppliedConfig int
	ConfigError   string
}

// Deployments returns pipeline id's deployments to the gateways f selects
// (its gateway_access), newest first (at most 500).
func (r *Pipelines) Deployments(ctx context.Context, id string, f GatewayFilter) ([]DeploymentStatus, error) {
	var out []DeploymentStatus
	q := r.s.DB.WithContext(ctx).Table("pipeline_deployments AS d")
	err := f.withinColumns(q, "d.gateway_id", "g.site").
		Select("d.*, COALESCE(g.applied_config, 0) AS applied_config, COALESCE((SELECT h.config_error FROM gateway_heartbeats h "+
			"WHERE h.gateway_id = d.gateway_id ORDER BY h.id DESC LIMIT 1), '') AS config_error").
		Joins("LEFT JOIN gateways g ON g.id = d.gateway_id").
		Where("d.pipeline_id = ?", id).Order("d.id DESC").Limit(500).Scan(&out).Error
	return out, err
}

// InRollout returns those of the gateways ids within f (a caller's
// gateway_access: it learns nothing of others) that a running (or
// rolling back) rollout holds.
func (r *Pipelines) InRollout(ctx context.Context, ids []string, f GatewayFilter) ([]string, error) {
	db := r.s.DB.WithContext(ctx)
	if !f.All {
		var within []string
		if err := f.within(db.Model(&Gateway{}).Where("id IN ?", ids)).Pluck("id", &within).Error; err != nil {
			return nil, err
		}
		ids = within
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return inRollout(db, ids, len(ids))
}

// GatewaysOfSite returns the ids of the approved gateways of site.
func (r *Pipelines) GatewaysOfSite(ctx context.Context, site string) ([]string, error) {
	var ids []string
	err := r.s.DB.WithContext(ctx).Model(&Gateway{}).Where("site = ? AND status = ?", site, GatewayApproved).
		Order("id").Pluck("id", &ids).Error
	return ids, err
}

func appendEvent(tx *gorm.DB, ev auditrec.Event) error {
	if _, err := AppendAudit(tx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", ev.EventType, err)
	}
	return nil
}
