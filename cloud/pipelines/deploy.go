package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/secretbind"
	"github.com/streamforge/streamforge/cloud/store"
)

// Deployer writes a config document as a gateway's next config version
// through the signed-bundle path (gateways.Service.Deploy, with the
// caller's identity and gateway access bound in), returning that version.
type Deployer func(ctx context.Context, gatewayID string, doc json.RawMessage) (configVersion int, err error)

// Targets are where a version goes: listed gateways, the approved
// gateways of a site, or both.
type Targets struct {
	Version  int      `json:"version,omitempty"` // 0: the newest
	Gateways []string `json:"gateways,omitempty"`
	Site     string   `json:"site,omitempty"`
}

// ErrInRollout is a deploy's result for a gateway that a running rollout
// holds.
var ErrInRollout = errs.New(errs.Conflict, "in a running rollout: wait for it to end or roll it back")

// MaxTargets bounds one deploy.
const MaxTargets = 1000

// Result is what happened at one gateway.
type Result struct {
	GatewayID     string `json:"gateway_id"`
	ConfigVersion int    `json:"config_version,omitempty"`
	Error         string `json:"error,omitempty"`
}

// Deployment is the outcome of a deploy.
type Deployment struct {
	PipelineID string   `json:"pipeline_id"`
	Version    int      `json:"version"`
	Results    []Result `json:"results"`
}

// Deploy writes one version of pipeline id to every target at once.
//
// This is the one-shot strategy; cloud/rollout stages a deployment (canary
// first, then waves, each waiting for the gateways' heartbeats to report
// the version applied, stopping above a failure threshold).
//
// access is the caller's gateway_access: a site's gateways outside it are
// left out (not named in the answer); listed ones are written by write,
// which refuses those outside it as not found.
func (s *Service) Deploy(ctx context.Context, o Origin, id string, t Targets, access []string, write Deployer) (Deployment, error) {
	targets, err := s.Resolve(ctx, t, access, MaxTargets)
	if err != nil {
		return Deployment{}, err
	}
	version, doc, err := s.Document(ctx, id, t.Version)
	if err != nil {
		return Deployment{}, err
	}
	// A rollout owns its gateways until it ends: a write beside it would
	// be taken for its version applied.
	busy, err := s.repo.InRollout(ctx, targets, store.GatewayFilter{All: rbac.Unrestricted(access), Access: access})
	if err != nil {
		return Deployment{}, fmt.Errorf("gateways in rollouts: %w", err)
	}
	out := Deployment{PipelineID: id, Version: version}
	var records []store.PipelineDeployment
	failed := 0
	for _, wave := range plan(targets) {
		for _, gw := range wave {
			r := Result{GatewayID: gw}
			if slices.Contains(busy, gw) {
				err = ErrInRollout
			} else {
				r.ConfigVersion, err = write(ctx, gw, doc)
			}
			if v := (*secretbind.Violation)(nil); errors.As(err, &v) && len(records) == failed {
				// The document sends a secret where it may not go: every
				// gateway would refuse alike, so the deploy is refused
				// while nothing is written.
				return Deployment{}, s.refuse(ctx, o, id, version, targets, v)
			}
			if err != nil {
				r.Error, failed = clientMessage(err), failed+1
			}
			out.Results = append(out.Results, r)
			records = append(records, store.PipelineDeployment{PipelineID: id, PipelineVersion: version, GatewayID: gw,
				ConfigVersion: r.ConfigVersion, Error: r.Error, DeployedBy: o.Actor})
		}
	}
	result := audit.ResultSuccess
	if failed > 0 {
		result = audit.ResultFailure
	}
	ev := o.Event("pipeline.deploy", "pipeline", id, "deploy", result)
	ev.Changes = map[string]audit.Change{"version": {New: version}, "gateways": {New: targets}}
	if failed > 0 {
		ev.Reason = fmt.Sprintf("%d of %d gateways not written", failed, len(targets))
	}
	if err := s.repo.RecordDeployment(ctx, records, ev); err != nil {
		return out, fmt.Errorf("record deployment of %s v%d: %w", id, version, err)
	}
	return out, nil
}

// refuse records a deploy refused for v (pipeline.deploy, denied) and
// returns v.
func (s *Service) refuse(ctx context.Context, o Origin, id string, version int, targets []string, v *secretbind.Violation) error {
	ev := o.Event("pipeline.deploy", "pipeline", id, "deploy", audit.ResultDenied)
	ev.Changes = map[string]audit.Change{"version": {New: version}, "gateways": {New: targets}}
	ev.Reason = v.Error()
	if err := s.repo.RecordDeployment(ctx, nil, ev); err != nil {
		return fmt.Errorf("record refused deployment of %s v%d: %w", id, version, err)
	}
	return v
}

// InRollout reports whether a running rollout holds gateway id (within
// access): a config written to it by hand (PUT /gateways/{id}/config)
// would be taken for the rollout's version applied, as a deploy's would.
func (s *Service) InRollout(ctx context.Context, id string, access []string) (bool, error) {
	busy, err := s.repo.InRollout(ctx, []string{id}, store.GatewayFilter{All: rbac.Unrestricted(access), Access: access})
	if err != nil {
		return false, fmt.Errorf("rollouts of %s: %w", id, err)
	}
	return len(busy) > 0, nil
}

// plan orders the targets into waves: one wave, everything at once
// (cloud/rollout stages a deployment in waves).
func plan(targets []string) [][]string { return [][]string{targets} }

// Document returns version (0: the newest) of pipeline id with its number.
func (s *Service) Document(ctx context.Context, id string, version int) (int, json.RawMessage, error) {
	p, err := s.repo.Get(ctx, id)
	if err != nil {
		return 0, nil, notFound(err, ErrNotFound)
	}
	if version == 0 {
		version = p.Version
	}
	v, err := s.repo.Version(ctx, id, version)
	if err != nil {
		return 0, nil, notFound(err, ErrVersionNotFound)
	}
	return version, json.RawMessage(v.Document), nil
}

// Resolve turns targets into a sorted list of distinct gateway ids, at
// most limit of them.
func (s *Service) Resolve(ctx context.Context, t Targets, access []string, limit int) ([]string, error) {
	ids := slices.Clone(t.Gateways)
	if t.Site != "" {
		site, err := s.repo.GatewaysOfSite(ctx, t.Site)
		if err != nil {
			return nil, fmt.Errorf("gateways of site %q: %w", t.Site, err)
		}
		for _, gw := range site {
			if rbac.CanAccessGateway(access, gw, t.Site) {
				ids = append(ids, gw)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch {
	case len(ids) == 0 && t.Site != "":
		return nil, errs.Invalid("site", "has no approved gateways within your gateway access")
	case len(ids) == 0:
		return nil, errs.Invalid("gateways", "name at least one gateway, or a site")
	case len(ids) > limit:
		return nil, errs.Invalid("gateways", fmt.Sprintf("at most %d per deploy", limit))
	case slices.Contains(ids, ""):
		return nil, errs.Invalid("gateways", "an empty gateway id")
	}
	return ids, nil
}

// clientMessage is what a caller may see of a gateway's failure: the
// client-safe text of an errs.Error or a sentinel, never a wrapped cause.
func clientMessage(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Kind != errs.Internal {
		return e.Msg
	}
	if r, ok := errs.Render(err); ok {
		return r.Message
	}
	return "not written (see the server log)"
}

// Deployments lists what was deployed where, with what each gateway
// reported since: applied when its applied config reached the version.
// Only the gateways within access (the caller's gateway_access) are
// listed: the others are "not found" to it everywhere else.
func (s *Service) Deployments(ctx context.Context, id string, access []string) ([]DeploymentView, error) {
	if _, err := s.repo.Get(ctx, id); err != nil {
		return nil, notFound(err, ErrNotFound)
	}
	ds, err := s.repo.Deployments(ctx, id, store.GatewayFilter{All: rbac.Unrestricted(access), Access: access})
	if err != nil {
		return nil, fmt.Errorf("deployments of %s: %w", id, err)
	}
	out := make([]DeploymentView, len(ds))
	for i, d := range ds {
		st := "pending"
		switch {
		case d.Error != "":
			st = "failed"
		case d.AppliedConfig >= d.ConfigVersion:
			st = "applied"
		case d.ConfigError != "":
			st = "failed"
		}
		out[i] = DeploymentView{Version: d.PipelineVersion, GatewayID: d.GatewayID, ConfigVersion: d.ConfigVersion,
			Status: st, Error: firstNonEmpty(d.Error, d.ConfigError), DeployedBy: d.DeployedBy, DeployedAt: d.CreatedAt}
	}
	return out, nil
}

// DeploymentView is one gateway's deployment and its status: pending,
// applied, or failed with its error.
type DeploymentView struct {
	Version       int       `json:"version"`
	GatewayID     string    `json:"gateway_id"`
	ConfigVersion int       `json:"config_version"`
	Status        string    `json:"status"`
	Error         string    `json:"error,omitempty"`
	DeployedBy    string    `json:"deployed_by"`
	DeployedAt    time.Time `json:"deployed_at"`
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
