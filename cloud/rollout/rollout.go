// Package rollout is staged deployment of a pipeline version: a canary set
// of gateways first, then the rest in waves, each wave written when the
// previous one has applied (as the gateways' heartbeats report), stopping
// by itself above a failure threshold, and rolled back in one call to what
// each gateway had before. The state lives in the database; the Engine
// advances running rollouts under a lease, so that of several cloud
// processes one at a time moves a rollout.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Errors clients see.
var (
	ErrNotFound       = errs.New(errs.NotFound, "no such rollout")
	ErrBusy           = errs.New(errs.Conflict, "a gateway of this rollout is in another running rollout: wait for it or roll it back")
	ErrAlreadyRolling = errs.New(errs.Conflict, "this rollout is already rolled back (or rolling back)")
)

// Limits and defaults of a rollout.
const (
	MaxTargets          = 10000
	DefaultApplyTimeout = 5 * time.Minute
	MinApplyTimeout     = time.Second
	MaxApplyTimeout     = 24 * time.Hour
)

// Repo is what rollouts need of the store (store.Rollouts).
type Repo interface {
	Create(ctx context.Context, ro store.Rollout, targets []store.RolloutTarget, ev audit.Event) (store.Rollout, error)
	Get(ctx context.Context, id uint64) (store.Rollout, error)
	List(ctx context.Context, pipelineID string) ([]store.Rollout, error)
	Targets(ctx context.Context, id uint64, status string) ([]store.TargetStatus, error)
	Waiting(ctx context.Context, id uint64, wave, limit int) ([]store.RolloutTarget, error)
	Counts(ctx context.Context, id uint64) (map[string]int, error)
	CountsWithin(ctx context.Context, id uint64, f store.GatewayFilter) (map[string]int, error)
	Existing(ctx context.Context, ids []string, f store.GatewayFilter) ([]string, error)
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration) ([]store.Rollout, error)
	Renew(ctx context.Context, ro store.Rollout, owner string, now time.Time, lease time.Duration) error
	SaveTargets(ctx context.Context, ts []store.RolloutTarget) error
	Transition(ctx context.Context, ro store.Rollout, owner, state, reason string, wave int, ev *audit.Event) error
	SupersededTargets(ctx context.Context, id uint64) ([]string, error)
	CurrentConfig(ctx context.Context, gatewayID string) (string, error)
}

// Pipelines is what rollouts need of the pipelines domain.
type Pipelines interface {
	Resolve(ctx context.Context, t pipelines.Targets, access []string, limit int) ([]string, error)
	Document(ctx context.Context, id string, version int) (int, json.RawMessage, error)
}

// Service creates rollouts, shows their status and rolls them back; the
// Engine advances them.
type Service struct {
	repo      Repo
	pipelines Pipelines
}

// New returns the service.
func New(repo Repo, p Pipelines) *Service { return &Service{repo: repo, pipelines: p} }

// Request is a staged deployment of a pipeline version to targets.
type Request struct {
	pipelines.Targets
	// Canary is the first wave (at least one gateway; default 1).
	Canary *Size `json:"canary,omitempty"`
	// Wave is the size of each later wave (default: all the rest at once).
	Wave *Size `json:"wave,omitempty"`
	// FailureThreshold: the rollout stops once more gateways than this
	// have failed (default 0: at the first failure).
	FailureThreshold *Size `json:"failure_threshold,omitempty"`
	// ApplyTimeout: a written gateway that has not applied within it
	// counts as failed (Go duration, default 5m).
	ApplyTimeout string `json:"apply_timeout,omitempty"`
}

// Create plans a rollout of req for pipeline id and stores it running;
// the Engine writes its canary wave next.
func (s *Service) Create(ctx context.Context, o audit.Origin, id string, req Request, access []string) (View, error) {
	timeout, err := applyTimeout(req.ApplyTimeout)
	if err != nil {
		return View{}, err
	}
	for name, size := range map[string]*Size{"canary": req.Canary, "wave": req.Wave, "failure_threshold": req.FailureThreshold} {
		if size != nil && size.Err() != nil {
			return View{}, errs.Invalid(name, size.Err().Error())
		}
	}
	version, _, err := s.pipelines.Document(ctx, id, req.Version)
	if err != nil {
		return View{}, err
	}
	targets, err := s.pipelines.Resolve(ctx, req.Targets, access, MaxTargets)
	if err != nil {
		return View{}, err
	}
	unreachable, err := s.unreachable(ctx, targets, access)
	if err != nil {
		return View{}, err
	}
	waves := Waves(targets, sizeOr(req.Canary, Size{N: 1}), sizeOr(req.Wave, Size{}))
	threshold := sizeOr(req.FailureThreshold, Size{}).Of(len(targets))
	ro := store.Rollout{PipelineID: id, PipelineVersion: version, State: store.RolloutRunning, Waves: len(waves),
		MaxFailures: threshold, ApplyTimeout: timeout, CreatedBy: o.Actor, Access: access}
	var ts []store.RolloutTarget
	sizes := make([]int, len(waves))
	for w, gws := range waves {
		sizes[w] = len(gws)
		for _, gw := range gws {
			t := store.RolloutTarget{GatewayID: gw, Wave: w, Status: store.TargetWaiting}
			if unreachable[gw] {
				now := time.Now().UTC()
				t.Status, t.Error, t.DeployedAt = store.TargetFailed, notWritten+"gateway not found", &now
			}
			ts = append(ts, t)
		}
	}
	ev := o.Event("rollout.create", "rollout", "", "deploy", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"pipeline": {New: id}, "version": {New: version}, "gateways": {New: targets},
		"waves": {New: sizes}, "max_failures": {New: threshold}, "apply_timeout": {New: timeout.String()}}
	ro, err = s.repo.Create(ctx, ro, ts, ev)
	if errors.Is(err, store.ErrConflict) {
		return View{}, ErrBusy
	}
	if err != nil {
		return View{}, fmt.Errorf("create rollout of %s v%d: %w", id, version, err)
	}
	return s.Get(ctx, id, ro.ID, access)
}

// unreachable returns those of targets that do not exist or lie outside
// access, alike (nothing tells one from the other). They fail at once,
// as their write would: "not written: gateway not found". The rollout
// holds no such gateway, so one naming another site's gateways neither
// keeps that site's rollouts off them nor learns, by a 409, that one runs.
func (s *Service) unreachable(ctx context.Context, targets, access []string) (map[string]bool, error) {
	found, err := s.repo.Existing(ctx, targets, store.GatewayFilter{All: rbac.Unrestricted(access), Access: access})
	if err != nil {
		return nil, fmt.Errorf("gateways of a rollout: %w", err)
	}
	out := make(map[string]bool, len(targets))
	for _, id := range targets {
		out[id] = true
	}
	for _, id := range found {
		delete(out, id)
	}
	return out, nil
}

func applyTimeout(s string) (time.Duration, error) {
	if s == "" {
		return DefaultApplyTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinApplyTimeout || d > MaxApplyTimeout {
		return 0, errs.Invalid("apply_timeout", fmt.Sprintf("want a duration from %s to %s, like \"5m\"", MinApplyTimeout, MaxApplyTimeout))
	}
	return d, nil
}

func sizeOr(s *Size, def Size) Size {
	if s == nil {
		return def
	}
	return *s
}

// View is a rollout as the API shows it.
type View struct {
	ID           uint64         `json:"id"`
	PipelineID   string         `json:"pipeline_id"`
	Version      int            `json:"version"`
	State        string         `json:"state"`
	Reason       string         `json:"reason,omitempty"`
	Wave         int            `json:"wave"`
	Waves        int            `json:"waves"`
	MaxFailures  int            `json:"max_failures"`
	ApplyTimeout string         `json:"apply_timeout"`
	CreatedBy    string         `json:"created_by"`
	UpdatedBy    string         `json:"updated_by,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Counts       map[string]int `json:"counts"`
	Gateways     []TargetView   `json:"gateways,omitempty"`
}

// TargetView is one gateway of a rollout: waiting (its wave has not
// started), pending, applied, or failed with its error. RolledBack: its
// config version is the rollback's.
type TargetView struct {
	GatewayID     string     `json:"gateway_id"`
	Wave          int        `json:"wave"`
	Status        string     `json:"status"`
	ConfigVersion int        `json:"config_version,omitempty"`
	Error         string     `json:"error,omitempty"`
	DeployedAt    *time.Time `json:"deployed_at,omitempty"`
	RolledBack    bool       `json:"rolled_back,omitempty"`
}

func view(ro store.Rollout) View {
	return View{ID: ro.ID, PipelineID: ro.PipelineID, Version: ro.PipelineVersion, State: ro.State, Reason: ro.Reason,
		Wave: ro.Wave, Waves: ro.Waves, MaxFailures: ro.MaxFailures, ApplyTimeout: ro.ApplyTimeout.String(),
		CreatedBy: ro.CreatedBy, UpdatedBy: ro.UpdatedBy, CreatedAt: ro.CreatedAt, UpdatedAt: ro.UpdatedAt}
}

// List returns pipeline id's rollouts, newest first, with their counts
// of the gateways within access (the caller's gateway_access).
func (s *Service) List(ctx context.Context, id string, access []string) ([]View, error) {
	ros, err := s.repo.List(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rollouts of %s: %w", id, err)
	}
	within := store.GatewayFilter{All: rbac.Unrestricted(access), Access: access}
	out := make([]View, len(ros))
	for i, ro := range ros {
		out[i] = view(ro)
		if out[i].Counts, err = s.repo.CountsWithin(ctx, ro.ID, within); err != nil {
			return nil, fmt.Errorf("rollout %d: %w", ro.ID, err)
		}
		if !within.All && out[i].Reason != "" {
			// The reason may name gateways: shown when all are within access.
			every, err := s.repo.Counts(ctx, ro.ID)
			if err != nil {
				return nil, fmt.Errorf("rollout %d: %w", ro.ID, err)
			}
			if total(every) != total(out[i].Counts) {
				out[i].Reason = hiddenReason
			}
		}
	}
	return out, nil
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// Get returns rollout rid of pipeline id with the status of every gateway
// within access (the caller's gateway_access): the others are "not found"
// to it everywhere else, so they are neither listed nor counted.
func (s *Service) Get(ctx context.Context, id string, rid uint64, access []string) (View, error) {
	ro, err := s.load(ctx, id, rid)
	if err != nil {
		return View{}, err
	}
	return s.scoped(ctx, ro, access)
}

// hiddenReason replaces a reason that may name gateways (a stop names
// the failed ones) for a caller who cannot see every gateway of the rollout.
const hiddenReason = "stopped or rolled back (the reason names gateways outside your gateway access; an unrestricted user sees it)"

func (s *Service) scoped(ctx context.Context, ro store.Rollout, access []string) (View, error) {
	ts, err := s.repo.Targets(ctx, ro.ID, "")
	if err != nil {
		return View{}, fmt.Errorf("rollout %d targets: %w", ro.ID, err)
	}
	v := view(ro)
	v.Counts = map[string]int{}
	v.Gateways = make([]TargetView, 0, len(ts))
	now := time.Now()
	for _, t := range ts {
		if !rbac.CanAccessGateway(access, t.GatewayID, t.Site) {
			if v.Reason != "" {
				v.Reason = hiddenReason
			}
			continue
		}
		if t.Status == store.TargetPending {
			// A stopped rollout's pending gateways are no longer watched
			// by the engine: their status is read from their reports here.
			t.Status, t.Error = Classify(t, now, ro.ApplyTimeout)
		}
		v.Counts[t.Status]++
		v.Gateways = append(v.Gateways, TargetView{GatewayID: t.GatewayID, Wave: t.Wave, Status: t.Status, ConfigVersion: t.ConfigVersion,
			Error: t.Error, DeployedAt: t.DeployedAt, RolledBack: t.RolledBack})
	}
	return v, nil
}

func (s *Service) load(ctx context.Context, id string, rid uint64) (store.Rollout, error) {
	ro, err := s.repo.Get(ctx, rid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ro.PipelineID != id) {
		return store.Rollout{}, ErrNotFound
	}
	if err != nil {
		return store.Rollout{}, fmt.Errorf("rollout %d: %w", rid, err)
	}
	return ro, nil
}

// Rollback asks for rollout rid to be rolled back: every gateway it wrote
// gets, as a new config version, what it had before (the Engine writes
// them, as it writes waves). The caller's access must reach every gateway
// written, and nothing may have written to one of them since (a later
// rollout, a deploy, a config edit): the rollback would overwrite it.
func (s *Service) Rollback(ctx context.Context, o audit.Origin, id string, rid uint64, access []string) (View, error) {
	ro, err := s.load(ctx, id, rid)
	if err != nil {
		return View{}, err
	}
	if ro.State == store.RolloutRollingBack || ro.State == store.RolloutRolledBack {
		return View{}, ErrAlreadyRolling
	}
	ts, err := s.repo.Targets(ctx, rid, "")
	if err != nil {
		return View{}, fmt.Errorf("rollout %d targets: %w", rid, err)
	}
	for _, t := range ts {
		if t.ConfigVersion > 0 && !rbac.CanAccessGateway(access, t.GatewayID, t.Site) { // written to
			return View{}, errs.New(errs.Forbidden, "this rollout wrote to gateways outside your gateway access")
		}
	}
	later, err := s.repo.SupersededTargets(ctx, rid)
	if err != nil {
		return View{}, fmt.Errorf("rollout %d: %w", rid, err)
	}
	if len(later) > 0 {
		return View{}, errs.New(errs.Conflict, "a newer config has been written since (a later rollout, deploy or config edit) to "+
			strings.Join(first(later, 5), ", ")+": a rollback would overwrite it; roll back that rollout, or deploy the version you want")
	}
	ev := o.Event("rollout.rollback", "rollout", strconv.FormatUint(rid, 10), "rollback", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"state": {Old: ro.State, New: store.RolloutRollingBack}, "pipeline": {New: id},
		"version": {New: ro.PipelineVersion}}
	reason := "rollback requested by " + o.Actor
	if err := s.repo.Transition(ctx, ro, "", store.RolloutRollingBack, reason, ro.Wave, &ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return View{}, errs.New(errs.Conflict, "the rollout changed meanwhile: reload it")
		}
		return View{}, fmt.Errorf("roll back rollout %d: %w", rid, err)
	}
	return s.Get(ctx, id, rid, access)
}

func first[T any](s []T, n int) []T { return s[:min(n, len(s))] }
