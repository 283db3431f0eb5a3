package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Rollout states.
const (
	RolloutRunning     = "running"
	RolloutStopped     = "stopped"
	RolloutDone        = "done"
	RolloutRollingBack = "rolling_back"
	RolloutRolledBack  = "rolled_back"
)

// Rollout target statuses: waiting for its wave, written and pending the
// gateway's report, applied, or failed.
const (
	TargetWaiting = "waiting"
	TargetPending = "pending"
	TargetApplied = "applied"
	TargetFailed  = "failed"
)

// ErrLeaseLost: another cloud process holds the rollout now.
var ErrLeaseLost = errors.New("rollout lease lost")

// Rollout is a staged deployment of a pipeline version: waves of targets
// (wave 0 is the canary), the current Wave, and the lease (LeaseOwner until
// LeaseUntil) of the cloud process advancing it.
type Rollout struct {
	ID              uint64 `gorm:"primaryKey"`
	PipelineID      string
	PipelineVersion int
	State           string
	Reason          string
	Wave            int
	Waves           int
	MaxFailures     int
	ApplyTimeout    time.Duration
	CreatedBy       string
	// UpdatedBy is who last changed its state by hand (a rollback).
	UpdatedBy string
	// Access is the creator's gateway_access, bound to every write.
	Access     []string `gorm:"serializer:json"`
	LeaseOwner string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// RolloutTarget is one gateway of a rollout. ConfigVersion is the config
// version written to it (by the rollout, or by its rollback once
// RolledBack); PrevDocument what it had before the rollout ("" none).
type RolloutTarget struct {
	RolloutID     uint64 `gorm:"primaryKey;autoIncrement:false"`
	GatewayID     string `gorm:"primaryKey"`
	Wave          int
	Status        string
	ConfigVersion int
	Error         string
	DeployedAt    *time.Time
	PrevDocument  string
	RolledBack    bool
}

// TargetStatus is a target with what its gateway reported: the config
// version it applied, and its latest heartbeat's config error and time.
type TargetStatus struct {
	RolloutTarget
	Site          string
	AppliedConfig int
	ConfigError   string
	HeartbeatAt   *time.Time
}

// Rollouts is the repository of staged rollouts.
type Rollouts struct{ s *Store }

// Rollouts returns the rollouts repository.
func (s *Store) Rollouts() *Rollouts { return &Rollouts{s} }

// Create stores r with its targets and audit event. A gateway in another
// running rollout (or one rolling back) is ErrConflict.
func (r *Rollouts) Create(ctx context.Context, ro Rollout, targets []RolloutTarget, ev auditrec.Event) (Rollout, error) {
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		var ids []string // the gateways it will write, and so holds
		for _, t := range targets {
			if t.Status != TargetFailed {
				ids = append(ids, t.GatewayID)
			}
		}
		busy, err := inRollout(tx, ids, 1)
		if err != nil {
			return err
		}
		if len(busy) > 0 {
			return fmt.Errorf("gateway %s is in a running rollout: %w", busy[0], ErrConflict)
		}
		if err := tx.Create(&ro).Error; err != nil {
			return err
		}
		for i := range targets {
			targets[i].RolloutID = ro.ID
		}
		if err := tx.CreateInBatches(&targets, 500).Error; err != nil {
			return err
		}
		ev.ResourceID = fmt.Sprint(ro.ID)
		return appendEvent(tx, ev)
	})
	return ro, err
}

// inRollout returns up to limit of the gateways ids that a running (or
// rolling back) rollout holds: every target but one it failed without
// writing (it never will, and its rollback has nothing to undo there).
func inRollout(db *gorm.DB, ids []string, limit int) ([]string, error) {
	var busy []string
	err := db.Table("rollout_targets AS t").Joins("JOIN rollouts r ON r.id = t.rollout_id").
		Where("r.state IN ? AND t.gateway_id IN ?", []string{RolloutRunning, RolloutRollingBack}, ids).
		Where("NOT (t.status = ? AND t.config_version = 0)", TargetFailed).
		Distinct().Order("t.gateway_id").Limit(limit).Pluck("t.gateway_id", &busy).Error
	return busy, err
}

// Existing returns those of the gateways ids that exist within f (a
// caller's gateway_access).
func (r *Rollouts) Existing(ctx context.Context, ids []string, f GatewayFilter) ([]string, error) {
	var out []string
	err := f.within(r.s.DB.WithContext(ctx).Model(&Gateway{}).Where("id IN ?", ids)).Pluck("id", &out).Error
	return out, err
}

// Get returns rollout id.
func (r *Rollouts) Get(ctx context.Context, id uint64) (Rollout, error) {
	var ro Rollout
	err := r.s.DB.WithContext(ctx).Where("id = ?", id).Take(&ro).Error
	return ro, translate(err)
}

// List returns pipeline id's rollouts, newest first (at most 50).
func (r *Rollouts) List(ctx context.Context, pipelineID string) ([]Rollout, error) {
	var out []Rollout
	err := r.s.DB.WithContext(ctx).Where("pipeline_id = ?", pipelineID).Order("id DESC").Limit(50).Find(&out).Error
	return out, err
}

// Targets returns rollout id's targets with their gateways' reports, in
// wave then gateway order; status "" is every status.
func (r *Rollouts) Targets(ctx context.Context, id uint64, status string) ([]TargetStatus, error) {
	var out []TargetStatus
	q := r.s.DB.WithContext(ctx).Table("rollout_targets AS t").
		Select("t.*, COALESCE(g.site, '') AS site, COALESCE(g.applied_config, 0) AS applied_config, "+
			"COALESCE((SELECT h.config_error FROM gateway_heartbeats h WHERE h.gateway_id = t.gateway_id ORDER BY h.received_at DESC LIMIT 1), '') AS config_error, "+
			"(SELECT h.received_at FROM gateway_heartbeats h WHERE h.gateway_id = t.gateway_id ORDER BY h.received_at DESC LIMIT 1) AS heartbeat_at").
		Joins("LEFT JOIN gateways g ON g.id = t.gateway_id").
		Where("t.rollout_id = ?", id)
	if status != "" {
		q = q.Where("t.status = ?", status)
	}
	err := q.Order("t.wave, t.gateway_id").Scan(&out).Error
	return out, err
}

// Waiting returns up to limit targets of wave still waiting to be written.
func (r *Rollouts) Waiting(ctx context.Context, id uint64, wave, limit int) ([]RolloutTarget, error) {
	var out []RolloutTarget
	err := r.s.DB.WithContext(ctx).Where("rollout_id = ? AND wave <= ? AND status = ?", id, wave, TargetWaiting).
		Order("gateway_id").Limit(limit).Find(&out).Error
	return out, err
}

// Counts returns how many of rollout id's targets are in each status.
func (r *Rollouts) Counts(ctx context.Context, id uint64) (map[string]int, error) {
	return r.CountsWithin(ctx, id, GatewayFilter{All: true})
}

// CountsWithin is Counts of the targets whose gateways f selects (a
// reader's gateway_access).
func (r *Rollouts) CountsWithin(ctx context.Context, id uint64, f GatewayFilter) (map[string]int, error) {
	var rows []struct {
		Status string
		N      int
	}
	q := r.s.DB.WithContext(ctx).Table("rollout_targets AS t")
	if !f.All {
		q = f.withinColumns(q.Joins("LEFT JOIN gateways g ON g.id = t.gateway_id"), "t.gateway_id", "g.site")
	}
	err := q.Select("t.status, COUNT(*) AS n").Where("t.rollout_id = ?", id).Group("t.status").Scan(&rows).Error
	out := map[string]int{}
	for _, row := range rows {
		out[row.Status] = row.N
	}
	return out, err
}

// Claim takes (or renews) the lease of every running or rolling-back
// rollout that no other process holds, until now+lease, for owner. Two
// processes never hold one rollout at once: the lease moves by a
// conditional update.
func (r *Rollouts) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration) ([]Rollout, error) {
	var cands []Rollout
	db := r.s.DB.WithContext(ctx)
	if err := db.Where("state IN ? AND (lease_owner = ? OR lease_until < ?)", []string{RolloutRunning, RolloutRollingBack}, owner, now).
		Order("id").Find(&cands).Error; err != nil {
		return nil, err
	}
	var out []Rollout
	for _, ro := range cands {
		ok, err := r.renew(db, ro, owner, now, lease)
		if err != nil {
			return out, err
		}
		if ok {
			ro.LeaseOwner, ro.LeaseUntil = owner, now.Add(lease)
			out = append(out, ro)
		}
	}
	return out, nil
}

// Renew extends owner's lease of ro; ErrLeaseLost when another process
// took it.
func (r *Rollouts) Renew(ctx context.Context, ro Rollout, owner string, now time.Time, lease time.Duration) error {
	ok, err := r.renew(r.s.DB.WithContext(ctx), ro, owner, now, lease)
	if err == nil && !ok {
		err = ErrLeaseLost
	}
	return err
}

func (r *Rollouts) renew(db *gorm.DB, ro Rollout, owner string, now time.Time, lease time.Duration) (bool, error) {
	res := db.Model(&Rollout{}).Where("id = ? AND state = ? AND (lease_owner = ? OR lease_until < ?)", ro.ID, ro.State, owner, now).
		Updates(map[string]any{"lease_owner": owner, "lease_until": now.Add(lease)})
	return res.RowsAffected == 1, res.Error
}

// SaveTargets stores the targets' status, version, error and write time.
func (r *Rollouts) SaveTargets(ctx context.Context, ts []RolloutTarget) error {
	if len(ts) == 0 {
		return nil
	}
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		for _, t := range ts {
			if err := tx.Model(&RolloutTarget{}).Where("rollout_id = ? AND gateway_id = ?", t.RolloutID, t.GatewayID).
				Updates(map[string]any{"status": t.Status, "config_version": t.ConfigVersion, "error": t.Error,
					"deployed_at": t.DeployedAt, "prev_document": t.PrevDocument, "rolled_back": t.RolledBack}).Error; err != nil {
				return fmt.Errorf("rollout %d target %s: %w", t.RolloutID, t.GatewayID, err)
			}
		}
		return nil
	})
}

// Transition moves rollout ro from its state to state (with reason and
// wave) and appends ev, if not nil, in one transaction. When owner is not
// empty, it must hold the lease (ErrLeaseLost otherwise); a state changed
// meanwhile is ErrConflict.
func (r *Rollouts) Transition(ctx context.Context, ro Rollout, owner, state, reason string, wave int, ev *auditrec.Event) error {
	fields := map[string]any{"state": state, "reason": reason, "wave": wave, "updated_at": time.Now().UTC()}
	if owner == "" && ev != nil {
		fields["updated_by"] = ev.User
	}
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&Rollout{}).Where("id = ? AND state = ?", ro.ID, ro.State)
		if owner != "" {
			q = q.Where("lease_owner = ?", owner)
		}
		res := q.Updates(fields)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			if owner != "" {
				return ErrLeaseLost
			}
			return fmt.Errorf("rollout %d is no longer %s: %w", ro.ID, ro.State, ErrConflict)
		}
		if ev == nil {
			return nil
		}
		return appendEvent(tx, *ev)
	})
}

// SupersededTargets returns those of rollout id's gateways that a later
// rollout has written to since, or whose stored config is newer than the
// one the rollout wrote (a deploy or a config edit since): a rollback must
// not undo either.
func (r *Rollouts) SupersededTargets(ctx context.Context, id uint64) ([]string, error) {
	var later, edited []string
	db := r.s.DB.WithContext(ctx)
	err := db.Table("rollout_targets AS t").
		// Only what each wrote (a config version): not a target waiting,
		// nor one failed without a write.
		Joins("JOIN rollout_targets l ON l.gateway_id = t.gateway_id AND l.rollout_id > t.rollout_id AND l.config_version > 0").
		Where("t.rollout_id = ? AND t.config_version > 0", id).Distinct().Order("t.gateway_id").Pluck("t.gateway_id", &later).Error
	if err != nil {
		return nil, err
	}
	err = db.Table("rollout_targets AS t").
		Joins("JOIN gateway_configs c ON c.gateway_id = t.gateway_id AND c.version > t.config_version").
		Where("t.rollout_id = ? AND t.config_version > 0 AND t.rolled_back = ?", id, false).
		Order("t.gateway_id").Pluck("t.gateway_id", &edited).Error
	if err != nil {
		return nil, err
	}
	ids := append(later, edited...)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// CurrentConfig returns the config document stored for gateway id ("" none).
func (r *Rollouts) CurrentConfig(ctx context.Context, gatewayID string) (string, error) {
	var docs []string
	err := r.s.DB.WithContext(ctx).Model(&GatewayConfig{}).Where("gateway_id = ?", gatewayID).Limit(1).Pluck("document", &docs).Error
	if err != nil || len(docs) == 0 {
		return "", err
	}
	return docs[0], nil
}
