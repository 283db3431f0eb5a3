// Package proposals owns the Copilot's suggested pipeline changes: a
// proposal is a next version of one pipeline with a rationale. It waits
// for an Engineer or Admin: approving applies it as a new pipeline version
// whose pipeline.update record carries approved_by; rejecting records why.
// Whoever proposes cannot apply (the routes require different
// permissions, and no one approves their own proposal, whatever roles
// they hold), so a Copilot never changes a pipeline on its own.
package proposals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/store"
)

// Errors clients see.
var (
	ErrNotFound = errs.New(errs.NotFound, "no such proposal")
	ErrDecided  = errs.New(errs.Conflict, "this proposal has been approved or rejected already")
	ErrStale    = errs.New(errs.Conflict, "the pipeline has a newer version than the proposal's base_version: reject it and propose again")
	ErrNoChange = errs.New(errs.Validation, "spec: the proposal changes nothing")
	ErrOwn      = errs.New(errs.Forbidden, "a proposal is approved by someone other than its author")
	ErrGone     = errs.New(errs.Conflict, "the pipeline this proposal was made on was deleted (the one of that id now is another): reject it")
)

// Repo is what the service needs of the store (store.Proposals).
type Repo interface {
	Create(ctx context.Context, p store.PipelineProposal, ev func(id uint64) audit.Event) (store.PipelineProposal, error)
	List(ctx context.Context, status string) ([]store.PipelineProposal, error)
	Get(ctx context.Context, id uint64) (store.PipelineProposal, error)
	Decide(ctx context.Context, id uint64, from, to, by, reason string, applied int, now time.Time, ev *audit.Event) error
}

// Pipelines is what the service needs of cloud/pipelines.
type Pipelines interface {
	Get(ctx context.Context, id string) (pipelines.Pipeline, error)
	Version(ctx context.Context, id string, version int) (pipelines.Version, error)
	UpdateApproved(ctx context.Context, o pipelines.Origin, approver, id string, base int, in pipelines.Input) (pipelines.Pipeline, error)
}

// Service is the proposals domain.
type Service struct {
	repo      Repo
	pipelines Pipelines
	// Now is the clock; tests move it.
	Now func() time.Time
}

// New returns the service.
func New(repo Repo, p Pipelines) *Service {
	return &Service{repo: repo, pipelines: p, Now: func() time.Time { return time.Now().UTC() }}
}

// Origin says who acts, for the audit trail.
type Origin = audit.Origin

// Proposal is a proposal as the API shows it, with its field-level
// changes against the version it was made on.
type Proposal struct {
	ID             uint64             `json:"id"`
	PipelineID     string             `json:"pipeline_id"`
	BaseVersion    int                `json:"base_version"`
	Spec           json.RawMessage    `json:"spec,omitempty"`
	Changes        []pipelines.Change `json:"changes,omitempty"`
	Rationale      string             `json:"rationale"`
	Status         string             `json:"status"`
	ProposedBy     string             `json:"proposed_by"`
	CreatedAt      time.Time          `json:"created_at"`
	DecidedBy      string             `json:"decided_by,omitempty"`
	DecidedAt      *time.Time         `json:"decided_at,omitempty"`
	Reason         string             `json:"reason,omitempty"`
	AppliedVersion int                `json:"applied_version,omitempty"`
}

// CreateInput is a new proposal: the whole next document of the pipeline
// (spec or spec_yaml) and why. BaseVersion (0: the newest) is the version
// it was made on.
type CreateInput struct {
	PipelineID  string `json:"pipeline_id"`
	BaseVersion int    `json:"base_version"`
	Rationale   string `json:"rationale"`
	pipelines.Input
}

// MaxText bounds a rationale or a rejection reason.
const MaxText = 4000

func text(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errs.Invalid(field, "required")
	case len(s) > MaxText:
		return "", errs.Invalid(field, fmt.Sprintf("at most %d bytes", MaxText))
	}
	return s, nil
}

// Create queues a proposal. It is validated as the agent would and must
// change something in the version it was made on, which must be the newest.
func (s *Service) Create(ctx context.Context, o Origin, in CreateInput) (Proposal, error) {
	rationale, err := text("rationale", in.Rationale)
	if err != nil {
		return Proposal{}, err
	}
	if in.PipelineID == "" {
		return Proposal{}, errs.Invalid("pipeline_id", "required")
	}
	doc, err := pipelines.Validate(in.Input)
	if err != nil {
		return Proposal{}, err
	}
	cur, err := s.pipelines.Get(ctx, in.PipelineID)
	if err != nil {
		return Proposal{}, err
	}
	if in.BaseVersion == 0 {
		in.BaseVersion = cur.Version
	}
	if in.BaseVersion != cur.Version {
		return Proposal{}, pipelines.ErrStale
	}
	changes, err := pipelines.Diff(cur.Spec, doc)
	if err != nil {
		return Proposal{}, fmt.Errorf("diff proposal for %s: %w", in.PipelineID, err)
	}
	if len(changes) == 0 {
		return Proposal{}, ErrNoChange
	}
	row := store.PipelineProposal{PipelineID: in.PipelineID, BaseVersion: in.BaseVersion, Document: string(doc),
		Rationale: rationale, ProposedBy: o.Actor, CreatedAt: s.Now()}
	row, err = s.repo.Create(ctx, row, func(id uint64) audit.Event {
		ev := o.Event("proposal.create", "pipeline", in.PipelineID, "propose", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"proposal": {New: id}, "base_version": {New: in.BaseVersion}}
		for _, c := range changes {
			ev.Changes[c.Path] = audit.Change{Old: c.Old, New: c.New}
		}
		return ev
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("queue proposal for %s: %w", in.PipelineID, err)
	}
	p := view(row)
	p.Spec, p.Changes = doc, changes
	return p, nil
}

// List returns proposals of status ("" for all), newest first.
func (s *Service) List(ctx context.Context, status string) ([]Proposal, error) {
	switch status {
	case "", store.ProposalPending, store.ProposalApproved, store.ProposalRejected:
	default:
		return nil, errs.Invalid("status", "pending, approved or rejected")
	}
	rows, err := s.repo.List(ctx, status)
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	out := make([]Proposal, len(rows))
	for i, r := range rows {
		out[i] = view(r)
	}
	return out, nil
}

// Get returns proposal id with its document and its changes against its
// base version (none when that version is gone with its pipeline).
func (s *Service) Get(ctx context.Context, id uint64) (Proposal, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return Proposal{}, err
	}
	p := view(r)
	p.Spec = json.RawMessage(r.Document)
	base, err := s.pipelines.Version(ctx, r.PipelineID, r.BaseVersion)
	switch {
	case errors.Is(err, pipelines.ErrVersionNotFound):
	case err != nil:
		return Proposal{}, err
	default:
		if p.Changes, err = pipelines.Diff(base.Spec, p.Spec); err != nil {
			return Proposal{}, fmt.Errorf("diff proposal %d: %w", id, err)
		}
	}
	return p, nil
}

// Approve applies proposal id as the pipeline's next version. The
// pipeline.update record names the proposer as its user and the approver
// in approved_by (with the approver's address: that request applied it).
// The proposal is claimed first, so a concurrent reject or second approve
// cannot also act on it; if applying fails the claim is undone.
func (s *Service) Approve(ctx context.Context, o Origin, id uint64) (Proposal, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return Proposal{}, err
	}
	// Four eyes: an account holding both the Copilot's role and an
	// Engineer's would otherwise apply its own change, recorded as reviewed.
	if r.ProposedBy == o.Actor {
		return Proposal{}, ErrOwn
	}
	// The base version must be the one proposed on: a pipeline deleted and
	// created again under its id has a version of that number too, made
	// after the proposal, and would get the old proposal's whole document.
	base, err := s.pipelines.Version(ctx, r.PipelineID, r.BaseVersion)
	switch {
	case errors.Is(err, pipelines.ErrVersionNotFound): // the update below says what is wrong
	case err != nil:
		return Proposal{}, err
	case base.CreatedAt.After(r.CreatedAt):
		return Proposal{}, ErrGone
	}
	now := s.Now()
	if err := s.decided(s.repo.Decide(ctx, id, store.ProposalPending, store.ProposalApproved, o.Actor, "", 0, now, nil)); err != nil {
		return Proposal{}, err
	}
	proposer := Origin{Actor: r.ProposedBy, IP: o.IP, UserAgent: o.UserAgent}
	pl, err := s.pipelines.UpdateApproved(ctx, proposer, o.Actor, r.PipelineID, r.BaseVersion, pipelines.Input{Spec: json.RawMessage(r.Document)})
	if err != nil {
		if uerr := s.repo.Decide(context.WithoutCancel(ctx), id, store.ProposalApproved, store.ProposalPending, "", "", 0, now, nil); uerr != nil {
			err = errors.Join(err, fmt.Errorf("return proposal %d to pending: %w", id, uerr))
		}
		if errors.Is(err, pipelines.ErrStale) {
			return Proposal{}, ErrStale
		}
		return Proposal{}, err
	}
	ev := o.Event("proposal.approve", "pipeline", r.PipelineID, "approve", audit.ResultSuccess)
	ev.ApprovedBy = &o.Actor
	ev.Changes = map[string]audit.Change{"proposal": {New: id}, "status": {Old: store.ProposalPending, New: store.ProposalApproved},
		"version": {Old: r.BaseVersion, New: pl.Version}}
	if err := s.repo.Decide(ctx, id, store.ProposalApproved, store.ProposalApproved, o.Actor, "", pl.Version, now, &ev); err != nil {
		return Proposal{}, fmt.Errorf("record approval of proposal %d: %w", id, err)
	}
	r.Status, r.DecidedBy, r.DecidedAt, r.AppliedVersion = store.ProposalApproved, o.Actor, &now, pl.Version
	return view(r), nil
}

// Reject closes proposal id without applying it, recording why.
func (s *Service) Reject(ctx context.Context, o Origin, id uint64, reason string) (Proposal, error) {
	reason, err := text("reason", reason)
	if err != nil {
		return Proposal{}, err
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return Proposal{}, err
	}
	now := s.Now()
	ev := o.Event("proposal.reject", "pipeline", r.PipelineID, "reject", audit.ResultSuccess)
	ev.Reason = reason
	ev.Changes = map[string]audit.Change{"proposal": {New: id}, "status": {Old: store.ProposalPending, New: store.ProposalRejected}}
	if err := s.decided(s.repo.Decide(ctx, id, store.ProposalPending, store.ProposalRejected, o.Actor, reason, 0, now, &ev)); err != nil {
		return Proposal{}, err
	}
	r.Status, r.DecidedBy, r.DecidedAt, r.Reason = store.ProposalRejected, o.Actor, &now, reason
	return view(r), nil
}

func (s *Service) load(ctx context.Context, id uint64) (store.PipelineProposal, error) {
	r, err := s.repo.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, ErrNotFound
	}
	return r, err
}

func (s *Service) decided(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return ErrDecided
	}
	return err
}

func view(r store.PipelineProposal) Proposal {
	return Proposal{ID: r.ID, PipelineID: r.PipelineID, BaseVersion: r.BaseVersion, Rationale: r.Rationale, Status: r.Status,
		ProposedBy: r.ProposedBy, CreatedAt: r.CreatedAt, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, Reason: r.Reason,
		AppliedVersion: r.AppliedVersion}
}
