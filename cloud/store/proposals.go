package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Proposal states.
const (
	ProposalPending  = "pending"
	ProposalApproved = "approved"
	ProposalRejected = "rejected"
)

// PipelineProposal is a suggested next version of a pipeline with its
// rationale, waiting for an Engineer or Admin to approve or reject it.
type PipelineProposal struct {
	ID             uint64 `gorm:"primaryKey"`
	PipelineID     string
	BaseVersion    int
	Document       string
	Rationale      string
	Status         string
	ProposedBy     string
	CreatedAt      time.Time
	DecidedBy      string
	DecidedAt      *time.Time
	Reason         string
	AppliedVersion int
}

// Proposals is the repository of pipeline proposals.
type Proposals struct{ s *Store }

// Proposals returns the proposals repository.
func (s *Store) Proposals() *Proposals { return &Proposals{s} }

// Create stores p as pending.
func (r *Proposals) Create(ctx context.Context, p PipelineProposal, ev func(id uint64) auditrec.Event) (PipelineProposal, error) {
	p.Status = ProposalPending
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&p).Error; err != nil {
			return translate(err)
		}
		return appendEvent(tx, ev(p.ID))
	})
	return p, err
}

// List returns proposals (of status, when not ""), newest first, at most 500.
func (r *Proposals) List(ctx context.Context, status string) ([]PipelineProposal, error) {
	var out []PipelineProposal
	q := r.s.DB.WithContext(ctx).Order("id DESC").Limit(500)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	return out, q.Find(&out).Error
}

// Get returns proposal id.
func (r *Proposals) Get(ctx context.Context, id uint64) (PipelineProposal, error) {
	var p PipelineProposal
	err := r.s.DB.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	return p, translate(err)
}

// Decide moves proposal id from status from to status to, by whom and why
// (ErrConflict: it is no longer in from; ErrNotFound: no such proposal).
// ev, when not nil, is appended in the same transaction.
func (r *Proposals) Decide(ctx context.Context, id uint64, from, to, by, reason string, applied int, now time.Time, ev *auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		set := map[string]any{"status": to, "decided_by": by, "decided_at": now, "reason": reason, "applied_version": applied}
		if to == ProposalPending {
			set["decided_at"] = nil
		}
		res := tx.Model(&PipelineProposal{}).Where("id = ? AND status = ?", id, from).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			var n int64
			if err := tx.Model(&PipelineProposal{}).Where("id = ?", id).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return ErrNotFound
			}
			return fmt.Errorf("proposal %d is not %s: %w", id, from, ErrConflict)
		}
		if ev == nil {
			return nil
		}
		return appendEvent(tx, *ev)
	})
}
