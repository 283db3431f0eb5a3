// Package pipelines is the pipelines domain: named, versioned definitions
// of a gateway's data path (pkg/pipeline.Spec), validated with the agent's
// own code, every change a new version with its field-level audit record,
// a diff between any two versions, and deployment of a version to gateways
// through their signed config bundles.
package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/pipeline"
)

// Errors clients see.
var (
	ErrNotFound        = errs.New(errs.NotFound, "no such pipeline")
	ErrVersionNotFound = errs.New(errs.NotFound, "no such pipeline version")
	ErrExists          = errs.New(errs.Conflict, "a pipeline with this id exists")
	ErrStale           = errs.New(errs.Conflict, "the pipeline has a newer version than base_version: reload it and edit that")
)

// MaxSpecBytes bounds a pipeline document.
const MaxSpecBytes = 256 << 10

// Repo is what the service needs of the store (store.Pipelines).
type Repo interface {
	Create(ctx context.Context, p store.Pipeline, doc string, ev audit.Event) (store.Pipeline, error)
	AddVersion(ctx context.Context, id string, base int, doc, by string, description *string,
		event func(prev store.Pipeline, prevVersion store.PipelineVersion) (audit.Event, error)) (store.Pipeline, error)
	Get(ctx context.Context, id string) (store.Pipeline, error)
	List(ctx context.Context) ([]store.Pipeline, error)
	Versions(ctx context.Context, id string) ([]store.PipelineVersion, error)
	Version(ctx context.Context, id string, version int) (store.PipelineVersion, error)
	Delete(ctx context.Context, id string, ev audit.Event, stopped func(rollout uint64) audit.Event) error
	RecordDeployment(ctx context.Context, ds []store.PipelineDeployment, ev audit.Event) error
	Deployments(ctx context.Context, id string, f store.GatewayFilter) ([]store.DeploymentStatus, error)
	GatewaysOfSite(ctx context.Context, site string) ([]string, error)
	InRollout(ctx context.Context, ids []string, f store.GatewayFilter) ([]string, error)
}

// Service is the pipelines domain.
type Service struct {
	repo Repo
}

// New returns the service over repo.
func New(repo Repo) *Service { return &Service{repo: repo} }

// Origin says who acts, for the audit trail.
type Origin = audit.Origin

// Input is a pipeline document as a client sends it: Spec, a JSON object,
// or SpecYAML, the same as YAML text (one of them).
type Input struct {
	Spec     json.RawMessage `json:"spec,omitempty"`
	SpecYAML string          `json:"spec_yaml,omitempty"`
}

// Pipeline is a pipeline as the API shows it.
type Pipeline struct {
	ID          string          `json:"id"`
	Description string          `json:"description"`
	Version     int             `json:"version"`
	Spec        json.RawMessage `json:"spec,omitempty"`
	CreatedBy   string          `json:"created_by"`
	UpdatedBy   string          `json:"updated_by"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Version is one version as the API shows it.
type Version struct {
	Version   int             `json:"version"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Validate checks a document as the agent would and returns it as compact
// JSON, the form stored and deployed. Its errors name the field path.
func Validate(in Input) (json.RawMessage, error) {
	src, doc, err := in.source()
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.Parse(src); err != nil {
		return nil, errs.New(errs.Validation, specError(err.Error()))
	}
	return doc, nil
}

// specError places a validation message in the request: a field path
// ("kafka.brokers: ...") goes under spec, anything else (a YAML syntax or
// duplicate-key error) follows "spec: ".
func specError(msg string) string {
	if strings.HasPrefix(msg, "yaml:") || strings.HasPrefix(msg, "line ") || strings.HasPrefix(msg, "the configuration") {
		return "spec: " + msg
	}
	return "spec." + msg
}

// source returns the text to validate and the document as compact JSON.
func (in Input) source() (src []byte, doc json.RawMessage, err error) {
	switch {
	case len(in.Spec) > 0 && in.SpecYAML != "":
		return nil, nil, errs.Invalid("spec", "send spec or spec_yaml, not both")
	case len(in.Spec) > MaxSpecBytes || len(in.SpecYAML) > MaxSpecBytes:
		return nil, nil, errs.Invalid("spec", fmt.Sprintf("at most %d bytes", MaxSpecBytes))
	case in.SpecYAML != "":
		if err := checkExpansion([]byte(in.SpecYAML)); err != nil {
			return nil, nil, errs.Invalid("spec_yaml", err.Error())
		}
		var v any
		if err := yaml.Unmarshal([]byte(in.SpecYAML), &v); err != nil {
			return nil, nil, errs.Invalid("spec_yaml", "not YAML: "+err.Error())
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, nil, errs.Invalid("spec_yaml", "must be a map of settings (kafka: ..., adapters: ...)")
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, nil, errs.Invalid("spec_yaml", "holds values JSON cannot carry")
		}
		return []byte(in.SpecYAML), j, nil
	case len(in.Spec) > 0:
		var buf bytes.Buffer
		if err := json.Compact(&buf, in.Spec); err != nil || in.Spec[0] != '{' {
			return nil, nil, errs.Invalid("spec", "must be a JSON object")
		}
		return in.Spec, buf.Bytes(), nil
	}
	return nil, nil, errs.Invalid("spec", "required")
}

// Create stores a new pipeline as version 1.
func (s *Service) Create(ctx context.Context, o Origin, id, description string, in Input) (Pipeline, error) {
	if !idRE.MatchString(id) {
		return Pipeline{}, errs.Invalid("id", "1-128 of [A-Za-z0-9_.-], starting with a letter or digit")
	}
	if err := errs.Description(&description); err != nil {
		return Pipeline{}, err
	}
	doc, err := Validate(in)
	if err != nil {
		return Pipeline{}, err
	}
	changes, err := Diff(nil, doc)
	if err != nil {
		return Pipeline{}, err
	}
	ev := o.Event("pipeline.create", "pipeline", id, "create", audit.ResultSuccess)
	ev.Changes = auditChanges(changes, 0, 1)
	p, err := s.repo.Create(ctx, store.Pipeline{ID: id, Description: description, CreatedBy: o.Actor, UpdatedBy: o.Actor}, string(doc), ev)
	if errors.Is(err, store.ErrConflict) {
		return Pipeline{}, ErrExists
	}
	if err != nil {
		return Pipeline{}, fmt.Errorf("create pipeline %s: %w", id, err)
	}
	return view(p, doc), nil
}

// Update stores in as pipeline id's next version, and description (when
// not nil) as its description. base, when not 0, is the version the client
// edited: a newer one means someone else saved first.
func (s *Service) Update(ctx context.Context, o Origin, id string, base int, description *string, in Input) (Pipeline, error) {
	return s.update(ctx, o, "", id, base, description, in)
}

// UpdateApproved is Update for a change that o.Actor proposed and approver
// approved: the pipeline.update record names both (approved_by).
func (s *Service) UpdateApproved(ctx context.Context, o Origin, approver, id string, base int, in Input) (Pipeline, error) {
	return s.update(ctx, o, approver, id, base, nil, in)
}

func (s *Service) update(ctx context.Context, o Origin, approver, id string, base int, description *string, in Input) (Pipeline, error) {
	if err := errs.Description(description); err != nil {
		return Pipeline{}, err
	}
	doc, err := Validate(in)
	if err != nil {
		return Pipeline{}, err
	}
	p, err := s.repo.AddVersion(ctx, id, base, string(doc), o.Actor, description, func(prev store.Pipeline, prevVersion store.PipelineVersion) (audit.Event, error) {
		changes, err := Diff([]byte(prevVersion.Document), doc)
		if err != nil {
			return audit.Event{}, err
		}
		ev := o.Event("pipeline.update", "pipeline", id, "update", audit.ResultSuccess)
		ev.Changes = auditChanges(changes, prevVersion.Version, prevVersion.Version+1)
		if approver != "" {
			ev.ApprovedBy = &approver
		}
		if description != nil && *description != prev.Description {
			// Not a document path: the document has no "description" key.
			ev.Changes["description"] = audit.Change{Old: prev.Description, New: *description}
		}
		return ev, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Pipeline{}, ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return Pipeline{}, ErrStale
	case err != nil:
		return Pipeline{}, fmt.Errorf("update pipeline %s: %w", id, err)
	}
	return view(p, doc), nil
}

// auditChanges is a diff as an audit record's changes, keyed by field path
// as in the spec's pipeline.update example, plus the version step. Values
// of secret-looking fields are redacted by audit.Append.
func auditChanges(cs []Change, from, to int) map[string]audit.Change {
	out := make(map[string]audit.Change, len(cs)+1)
	for _, c := range cs {
		out[c.Path] = audit.Change{Old: c.Old, New: c.New}
	}
	var old any
	if from > 0 {
		old = from
	}
	out["version"] = audit.Change{Old: old, New: to}
	return out
}

// Get returns pipeline id with its newest document.
func (s *Service) Get(ctx context.Context, id string) (Pipeline, error) {
	p, err := s.repo.Get(ctx, id)
	if err != nil {
		return Pipeline{}, notFound(err, ErrNotFound)
	}
	v, err := s.repo.Version(ctx, id, p.Version)
	if err != nil {
		return Pipeline{}, fmt.Errorf("pipeline %s v%d: %w", id, p.Version, err)
	}
	return view(p, json.RawMessage(v.Document)), nil
}

// List returns every pipeline, without documents.
func (s *Service) List(ctx context.Context) ([]Pipeline, error) {
	ps, err := s.repo.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	out := make([]Pipeline, len(ps))
	for i, p := range ps {
		out[i] = view(p, nil)
	}
	return out, nil
}

// Versions lists pipeline id's versions, newest first.
func (s *Service) Versions(ctx context.Context, id string) ([]Version, error) {
	if _, err := s.repo.Get(ctx, id); err != nil {
		return nil, notFound(err, ErrNotFound)
	}
	vs, err := s.repo.Versions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", id, err)
	}
	out := make([]Version, len(vs))
	for i, v := range vs {
		out[i] = Version{Version: v.Version, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}
	}
	return out, nil
}

// Version returns one version with its document.
func (s *Service) Version(ctx context.Context, id string, version int) (Version, error) {
	v, err := s.repo.Version(ctx, id, version)
	if err != nil {
		return Version{}, notFound(err, ErrVersionNotFound)
	}
	return Version{Version: v.Version, Spec: json.RawMessage(v.Document), CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}, nil
}

// Diff returns the field-level changes from version from to version to.
func (s *Service) Diff(ctx context.Context, id string, from, to int) ([]Change, error) {
	a, err := s.repo.Version(ctx, id, from)
	if err != nil {
		return nil, notFound(err, ErrVersionNotFound)
	}
	b, err := s.repo.Version(ctx, id, to)
	if err != nil {
		return nil, notFound(err, ErrVersionNotFound)
	}
	cs, err := Diff([]byte(a.Document), []byte(b.Document))
	if err != nil {
		return nil, fmt.Errorf("diff %s v%d..v%d: %w", id, from, to, err)
	}
	if cs == nil {
		cs = []Change{}
	}
	return cs, nil
}

// RolloutStoppedByDelete is the reason of a rollout stopped because its
// pipeline was deleted.
const RolloutStoppedByDelete = "the pipeline version was deleted"

// Delete removes pipeline id and its versions; the audit trail keeps them.
// Its running rollouts stop at once (store.Pipelines.Delete says why).
func (s *Service) Delete(ctx context.Context, o Origin, id string) error {
	p, err := s.repo.Get(ctx, id)
	if err != nil {
		return notFound(err, ErrNotFound)
	}
	ev := o.Event("pipeline.delete", "pipeline", id, "delete", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"version": {Old: p.Version, New: nil}}
	stopped := func(rollout uint64) audit.Event {
		stop := o.Event("rollout.stop", "rollout", strconv.FormatUint(rollout, 10), "deploy", audit.ResultFailure)
		stop.Reason = RolloutStoppedByDelete
		stop.Changes = map[string]audit.Change{"state": {Old: store.RolloutRunning, New: store.RolloutStopped}, "pipeline": {New: id}}
		return stop
	}
	if err := s.repo.Delete(ctx, id, ev, stopped); err != nil {
		return notFound(err, ErrNotFound)
	}
	return nil
}

func notFound(err, sentinel error) error {
	if errors.Is(err, store.ErrNotFound) {
		return sentinel
	}
	return err
}

func view(p store.Pipeline, doc json.RawMessage) Pipeline {
	return Pipeline{ID: p.ID, Description: p.Description, Version: p.Version, Spec: doc, CreatedBy: p.CreatedBy,
		UpdatedBy: p.UpdatedBy, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}
