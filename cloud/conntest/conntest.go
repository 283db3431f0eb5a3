// Package conntest owns connection tests: an Engineer asks a gateway to
// connect to one source of a pipeline (an adapter's device) and read one
// poll group. The request waits until the gateway's next config poll
// tells it that tests wait (wire.ConnectionTestsHeader); the gateway takes
// them, probes the device beside its running data path, and posts back
// the values or the error, which the API shows. Hints tells a config poll
// whether tests wait without a query per poll.
package conntest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
	"unicode/utf8"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Errors clients see.
var (
	ErrNotFound = errs.New(errs.NotFound, "no such connection test")
	ErrDone     = errs.New(errs.Conflict, "this connection test has its result already")
)

// Bounds of what a gateway may post back.
const (
	MaxValues    = 1000
	MaxErrorText = 4096
	// takeAtOnce bounds the tests handed to one gateway per fetch.
	takeAtOnce = 5
	// Expiry is how long a test waits for its gateway to take it, and
	// then for its result: a test pending or sent for longer is shown
	// "expired", and a pending one is no longer handed out (its gateway
	// may have been offline for a day; the person who asked has gone). A
	// result that still arrives is kept.
	Expiry = 10 * time.Minute
)

// Repo is what the service needs of the store (store.ConnectionTests).
type Repo interface {
	Create(ctx context.Context, t store.ConnectionTest, ev func(id uint64) audit.Event) (store.ConnectionTest, error)
	Get(ctx context.Context, id uint64) (store.ConnectionTest, error)
	TakePending(ctx context.Context, gatewayID string, limit int, now, since time.Time) ([]store.ConnectionTest, error)
	Complete(ctx context.Context, gatewayID string, id uint64, result string, now time.Time, ev audit.Event) error
}

// Pipelines is what the service needs of cloud/pipelines.
type Pipelines interface {
	Get(ctx context.Context, id string) (pipelines.Pipeline, error)
	Version(ctx context.Context, id string, version int) (pipelines.Version, error)
}

// Service is the connection tests domain.
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

// Request names the source to test: a device of an adapter of a pipeline
// version (0: the newest), one of its poll groups, and the gateway.
type Request struct {
	GatewayID  string `json:"gateway_id"`
	PipelineID string `json:"-"`
	Version    int    `json:"version"`
	Adapter    string `json:"adapter"`
	Device     string `json:"device"`
	PollGroup  string `json:"poll_group"`
}

// Test is a connection test as the API shows it.
type Test struct {
	ID              uint64                     `json:"id"`
	GatewayID       string                     `json:"gateway_id"`
	PipelineID      string                     `json:"pipeline_id"`
	PipelineVersion int                        `json:"pipeline_version"`
	Device          string                     `json:"device"`
	PollGroup       string                     `json:"poll_group"`
	Status          string                     `json:"status"`
	RequestedBy     string                     `json:"requested_by"`
	CreatedAt       time.Time                  `json:"created_at"`
	SentAt          *time.Time                 `json:"sent_at,omitempty"`
	DoneAt          *time.Time                 `json:"done_at,omitempty"`
	Result          *wire.ConnectionTestResult `json:"result,omitempty"`
}

// Ask queues a connection test for the gateway's next config poll.
func (s *Service) Ask(ctx context.Context, o audit.Origin, r Request) (Test, error) {
	for _, f := range []struct{ name, v string }{{"gateway_id", r.GatewayID}, {"adapter", r.Adapter}, {"device", r.Device}, {"poll_group", r.PollGroup}} {
		if f.v == "" {
			return Test{}, errs.Invalid(f.name, "required")
		}
	}
	if r.Version == 0 {
		p, err := s.pipelines.Get(ctx, r.PipelineID)
		if err != nil {
			return Test{}, err
		}
		r.Version = p.Version
	}
	v, err := s.pipelines.Version(ctx, r.PipelineID, r.Version)
	if err != nil {
		return Test{}, err
	}
	adapter, err := source(v.Spec, r.Adapter, r.Device, r.PollGroup)
	if err != nil {
		return Test{}, err
	}
	row := store.ConnectionTest{GatewayID: r.GatewayID, PipelineID: r.PipelineID, PipelineVersion: r.Version, Adapter: string(adapter),
		Device: r.Device, PollGroup: r.PollGroup, RequestedBy: o.Actor, CreatedAt: s.Now()}
	row, err = s.repo.Create(ctx, row, func(id uint64) audit.Event {
		ev := o.Event("pipeline.test", "pipeline", r.PipelineID, "test_connection", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"connection_test": {New: id}, "gateway_id": {New: r.GatewayID},
			"source": {New: r.Adapter + "/" + r.Device + "/" + r.PollGroup}, "version": {New: r.Version}}
		return ev
	})
	if err != nil {
		return Test{}, fmt.Errorf("queue connection test: %w", err)
	}
	return s.view(row), nil
}

// source cuts, from a pipeline document, the adapter called adapter with
// only its device called device (a Modbus device or an OPC UA server),
// which must have poll group group (or, on OPC UA, subscription group:
// the probe reads its nodes once as well).
func source(doc json.RawMessage, adapter, device, group string) (json.RawMessage, error) {
	var spec struct {
		Adapters []map[string]json.RawMessage `json:"adapters"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		return nil, fmt.Errorf("read pipeline document: %w", err)
	}
	for _, a := range spec.Adapters {
		if str(a["name"]) != adapter {
			continue
		}
		list := "devices"
		if str(a["type"]) == "opcua" {
			list = "servers"
		}
		var devices []map[string]json.RawMessage
		_ = json.Unmarshal(a[list], &devices)
		for _, d := range devices {
			if str(d["name"]) != device {
				continue
			}
			var groups, subs []struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(d["poll_groups"], &groups)
			_ = json.Unmarshal(d["subscriptions"], &subs)
			for _, g := range append(groups, subs...) {
				if g.Name == group {
					one, err := json.Marshal([]map[string]json.RawMessage{d})
					if err != nil {
						return nil, err
					}
					a = maps.Clone(a)
					a[list] = one
					return json.Marshal(a)
				}
			}
			return nil, errs.Invalid("poll_group", fmt.Sprintf("device %q has no poll group %q", device, group))
		}
		return nil, errs.Invalid("device", fmt.Sprintf("adapter %q has no device %q", adapter, device))
	}
	return nil, errs.Invalid("adapter", fmt.Sprintf("the pipeline version has no adapter %q", adapter))
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// Get returns test id.
func (s *Service) Get(ctx context.Context, id uint64) (Test, error) {
	t, err := s.repo.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Test{}, ErrNotFound
	}
	if err != nil {
		return Test{}, err
	}
	return s.view(t), nil
}

// Take hands the gateway its waiting tests (marking them sent).
func (s *Service) Take(ctx context.Context, gatewayID string) ([]wire.ConnectionTest, error) {
	now := s.Now()
	ts, err := s.repo.TakePending(ctx, gatewayID, takeAtOnce, now, now.Add(-Expiry))
	if err != nil {
		return nil, fmt.Errorf("connection tests of %s: %w", gatewayID, err)
	}
	out := make([]wire.ConnectionTest, len(ts))
	for i, t := range ts {
		out[i] = wire.ConnectionTest{ID: t.ID, Adapter: json.RawMessage(t.Adapter), Device: t.Device, PollGroup: t.PollGroup}
	}
	return out, nil
}

// Complete stores the gateway's result of test id.
func (s *Service) Complete(ctx context.Context, gatewayID string, id uint64, r wire.ConnectionTestResult) error {
	switch {
	case len(r.Values) > MaxValues:
		return errs.Invalid("values", fmt.Sprintf("at most %d", MaxValues))
	case len(r.Error) > MaxErrorText || !utf8.ValidString(r.Error):
		return errs.Invalid("error", fmt.Sprintf("at most %d bytes of UTF-8", MaxErrorText))
	case r.Error == "" && len(r.Values) == 0:
		return errs.Invalid("values", "a result has values or an error")
	}
	data, err := json.Marshal(r)
	if err != nil {
		return errs.Invalid("values", "not JSON values")
	}
	result := audit.ResultSuccess
	if r.Error != "" {
		result = audit.ResultFailure
	}
	ev := audit.Origin{Actor: gatewayID}.Event("pipeline.test.result", "gateway", gatewayID, "test_connection", result)
	ev.Changes = map[string]audit.Change{"connection_test": {New: id}, "values": {New: len(r.Values)}}
	ev.Reason = truncate(r.Error, 500)
	err = s.repo.Complete(ctx, gatewayID, id, string(data), s.Now(), ev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return ErrDone
	}
	return err
}

func truncate(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// StatusExpired is shown for a test pending or sent for longer than Expiry.
const StatusExpired = "expired"

func (s *Service) view(t store.ConnectionTest) Test {
	v := Test{ID: t.ID, GatewayID: t.GatewayID, PipelineID: t.PipelineID, PipelineVersion: t.PipelineVersion, Device: t.Device,
		PollGroup: t.PollGroup, Status: t.Status, RequestedBy: t.RequestedBy, CreatedAt: t.CreatedAt, SentAt: t.SentAt, DoneAt: t.DoneAt}
	since := t.CreatedAt
	if t.SentAt != nil {
		since = *t.SentAt
	}
	if t.Status != store.ConnTestDone && s.Now().Sub(since) > Expiry {
		v.Status = StatusExpired
	}
	if t.Result != "" {
		var r wire.ConnectionTestResult
		if json.Unmarshal([]byte(t.Result), &r) == nil {
			v.Result = &r
		}
	}
	return v
}
