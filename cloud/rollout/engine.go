package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/store"
)

// Writer writes doc as gateway id's next config version through the
// signed-bundle path, as o with access, returning that version. Its
// errors are client-safe messages (they are shown per gateway).
type Writer func(ctx context.Context, o audit.Origin, access []string, gatewayID string, doc json.RawMessage) (int, error)

// Engine advances running rollouts: it writes a wave, watches the
// gateways' reports, stops a rollout above its failure threshold, starts
// the next wave, and performs requested rollbacks. Several cloud
// processes may each run one: a rollout moves only under its lease.
type Engine struct {
	repo  Repo
	pipes Pipelines
	write Writer
	log   *slog.Logger
	owner string

	// Tick is how often running rollouts are looked at; Lease how long a
	// process holds one without renewing (renewed while writing, each time
	// a third of it has passed); Chunk how many gateways are written
	// between saves of their status. Now is the clock.
	Tick  time.Duration
	Lease time.Duration
	Chunk int
	Now   func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewEngine returns an engine (not started) named by a random owner id.
func NewEngine(repo Repo, p Pipelines, write Writer, log *slog.Logger) *Engine {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Engine{repo: repo, pipes: p, write: write, log: log, owner: "engine-" + hex.EncodeToString(b),
		Tick: time.Second, Lease: 30 * time.Second, Chunk: 200, Now: time.Now}
}

// Start runs the engine until Close (or ctx ends).
func (e *Engine) Start(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(ctx)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.Tick)
		defer t.Stop()
		for {
			if err := e.Step(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("rollout engine", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the engine and waits for its goroutine; a rollout it held
// is taken over by another process once the lease runs out.
func (e *Engine) Close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// Step claims the rollouts no other process holds and advances each once.
func (e *Engine) Step(ctx context.Context) error {
	ros, err := e.repo.Claim(ctx, e.owner, e.Now(), e.Lease)
	if err != nil {
		return fmt.Errorf("claim rollouts: %w", err)
	}
	var errs []error
	for _, ro := range ros {
		if err := e.advance(ctx, ro); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			errs = append(errs, fmt.Errorf("rollout %d: %w", ro.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) advance(ctx context.Context, ro store.Rollout) error {
	if ro.State == store.RolloutRollingBack {
		return e.rollBack(ctx, ro)
	}
	if err := e.observe(ctx, ro); err != nil {
		return err
	}
	counts, err := e.repo.Counts(ctx, ro.ID)
	if err != nil {
		return err
	}
	if counts[store.TargetFailed] > ro.MaxFailures {
		return e.stop(ctx, ro, counts[store.TargetFailed])
	}
	// The current wave's gateways not yet written (all of them when the
	// wave starts; the rest of it after an engine stopped midway).
	wrote, err := e.writeWave(ctx, ro)
	if errors.Is(err, pipelines.ErrNotFound) || errors.Is(err, pipelines.ErrVersionNotFound) {
		return e.halt(ctx, ro, pipelines.RolloutStoppedByDelete)
	}
	if err != nil || wrote || counts[store.TargetPending] > 0 {
		return err
	}
	// Nothing pending: the current wave is through.
	if ro.Wave+1 < ro.Waves {
		e.log.Info("rollout wave applied", "rollout", ro.ID, "wave", ro.Wave)
		if err := e.repo.Transition(ctx, ro, e.owner, ro.State, ro.Reason, ro.Wave+1, nil); err != nil {
			return err
		}
		ro.Wave++
		_, err := e.writeWave(ctx, ro)
		return err
	}
	ev := e.event(ro, ro.CreatedBy, "rollout.done", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"state": {Old: ro.State, New: store.RolloutDone},
		"applied": {New: counts[store.TargetApplied]}, "failed": {New: counts[store.TargetFailed]}}
	e.log.Info("rollout done", "rollout", ro.ID, "applied", counts[store.TargetApplied], "failed", counts[store.TargetFailed])
	return e.repo.Transition(ctx, ro, e.owner, store.RolloutDone, "", ro.Wave, &ev)
}

// stop halts a rollout above its failure threshold, naming the failures.
func (e *Engine) stop(ctx context.Context, ro store.Rollout, failed int) error {
	ts, err := e.repo.Targets(ctx, ro.ID, store.TargetFailed)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range first(ts, 3) {
		names = append(names, t.GatewayID+": "+t.Error)
	}
	return e.halt(ctx, ro, fmt.Sprintf("%d gateway(s) failed, above the threshold of %d: %s", failed, ro.MaxFailures, strings.Join(names, "; ")))
}

// halt stops a rollout for reason.
func (e *Engine) halt(ctx context.Context, ro store.Rollout, reason string) error {
	ev := e.event(ro, ro.CreatedBy, "rollout.stop", audit.ResultFailure)
	ev.Reason = reason
	ev.Changes = map[string]audit.Change{"state": {Old: ro.State, New: store.RolloutStopped}, "wave": {New: ro.Wave}}
	e.log.Warn("rollout stopped", "rollout", ro.ID, "reason", reason)
	return e.repo.Transition(ctx, ro, e.owner, store.RolloutStopped, reason, ro.Wave, &ev)
}

func (e *Engine) event(ro store.Rollout, actor, typ, result string) audit.Event {
	o := audit.Origin{Actor: actor, UserAgent: "streamforge rollout engine"}
	return o.Event(typ, "rollout", strconv.FormatUint(ro.ID, 10), "deploy", result)
}

// writeWave writes the pipeline version to the waiting gateways of the
// current wave, renewing the lease between chunks; wrote says whether
// there were any.
func (e *Engine) writeWave(ctx context.Context, ro store.Rollout) (wrote bool, err error) {
	_, doc, err := e.pipes.Document(ctx, ro.PipelineID, ro.PipelineVersion)
	if err != nil {
		return false, fmt.Errorf("pipeline %s v%d: %w", ro.PipelineID, ro.PipelineVersion, err)
	}
	o := audit.Origin{Actor: ro.CreatedBy, UserAgent: fmt.Sprintf("streamforge rollout %d", ro.ID)}
	l := e.held(ro)
	for {
		ts, err := e.repo.Waiting(ctx, ro.ID, ro.Wave, e.Chunk)
		if err != nil || len(ts) == 0 {
			return wrote, err
		}
		wrote = true
		err = e.writeChunk(ctx, l, o, ts, func(t *store.RolloutTarget) (json.RawMessage, error) {
			prev, err := e.repo.CurrentConfig(ctx, t.GatewayID)
			if err != nil {
				return nil, fmt.Errorf("config of %s: %w", t.GatewayID, err)
			}
			t.PrevDocument = prev
			return doc, nil
		})
		if err != nil {
			return wrote, err
		}
	}
}

// writeChunk writes ts in order, each the document doc gives it, and saves
// what it wrote. When the lease is lost or the engine stops midway, the
// targets not reached stay as they were, and those written are still
// recorded: the save outlives a cancelled ctx, so that the next process
// does not write them again (and take the rollout's document for what they
// had before).
func (e *Engine) writeChunk(ctx context.Context, l *lease, o audit.Origin, ts []store.RolloutTarget,
	doc func(t *store.RolloutTarget) (json.RawMessage, error)) error {
	done := 0
	var stop error
	for i := range ts {
		if stop = ctx.Err(); stop != nil {
			break
		}
		if stop = l.keep(ctx); stop != nil {
			break
		}
		d, err := doc(&ts[i])
		if err != nil {
			stop = err
			break
		}
		if !e.writeOne(ctx, o, l.ro.Access, &ts[i], d) {
			stop = ctx.Err()
			break
		}
		done = i + 1
	}
	return errors.Join(stop, e.repo.SaveTargets(context.WithoutCancel(ctx), ts[:done]))
}

// lease is this engine's hold on a rollout during a long run of writes.
type lease struct {
	e       *Engine
	ro      store.Rollout
	renewed time.Time
}

func (e *Engine) held(ro store.Rollout) *lease {
	return &lease{e: e, ro: ro, renewed: ro.LeaseUntil.Add(-e.Lease)}
}

// keep renews the lease once a third of it has passed, before a write: no
// other process takes the rollout over while this one writes, however
// slow the writes (ErrLeaseLost when one has, or its state changed).
func (l *lease) keep(ctx context.Context) error {
	now := l.e.Now()
	if now.Sub(l.renewed) < l.e.Lease/3 {
		return nil
	}
	if err := l.e.repo.Renew(ctx, l.ro, l.e.owner, now, l.e.Lease); err != nil {
		return err
	}
	l.renewed = now
	return nil
}

// notWritten starts the error of a target its rollout never wrote.
const notWritten = "not written: "

// writeOne writes doc to t's gateway and records the outcome in t; false
// when the engine stopped during the write (not the gateway's failure: t
// is left as it was).
func (e *Engine) writeOne(ctx context.Context, o audit.Origin, access []string, t *store.RolloutTarget, doc json.RawMessage) bool {
	now := e.Now().UTC()
	v, err := e.write(ctx, o, access, t.GatewayID, doc)
	if err != nil && ctx.Err() != nil {
		return false
	}
	t.DeployedAt, t.Error = &now, ""
	if err != nil {
		t.Status, t.ConfigVersion, t.Error = store.TargetFailed, 0, notWritten+err.Error()
		return true
	}
	t.Status, t.ConfigVersion = store.TargetPending, v
	return true
}

// observe turns pending targets into applied or failed from what their
// gateways reported.
func (e *Engine) observe(ctx context.Context, ro store.Rollout) error {
	ts, err := e.repo.Targets(ctx, ro.ID, store.TargetPending)
	if err != nil {
		return err
	}
	now := e.Now()
	var changed []store.RolloutTarget
	for _, t := range ts {
		if status, msg := Classify(t, now, ro.ApplyTimeout); status != store.TargetPending {
			t.Status, t.Error = status, msg
			changed = append(changed, t.RolloutTarget)
		}
	}
	return e.repo.SaveTargets(ctx, changed)
}

// configVersionRE finds the version an agent's config error is about
// ("config v7 failed to apply: ...").
var configVersionRE = regexp.MustCompile(`\bconfig v(\d+)\b`)

// Classify is a pending target's status from its gateway's reports:
// applied once it reports a config version at or past the one written;
// failed when a heartbeat after the write reports an error about this
// version (or a refused bundle, which names none), or when it has not
// applied within timeout.
func Classify(t store.TargetStatus, now time.Time, timeout time.Duration) (status, msg string) {
	if t.AppliedConfig >= t.ConfigVersion {
		return store.TargetApplied, ""
	}
	if t.DeployedAt == nil {
		return store.TargetPending, ""
	}
	if t.ConfigError != "" && t.HeartbeatAt != nil && t.HeartbeatAt.After(*t.DeployedAt) {
		m := configVersionRE.FindStringSubmatch(t.ConfigError)
		if m == nil || atoi(m[1]) >= t.ConfigVersion {
			return store.TargetFailed, t.ConfigError
		}
	}
	if now.Sub(*t.DeployedAt) > timeout {
		return store.TargetFailed, fmt.Sprintf("not applied within %s (the gateway reports config v%d)", timeout, t.AppliedConfig)
	}
	return store.TargetPending, ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// rollBack writes each gateway the rollout wrote what it had before (an
// empty document, the gateway's own file, when it had none), then waits
// for them to apply it like a wave; failures do not stop a rollback.
func (e *Engine) rollBack(ctx context.Context, ro store.Rollout) error {
	if err := e.observe(ctx, ro); err != nil {
		return err
	}
	ts, err := e.repo.Targets(ctx, ro.ID, "")
	if err != nil {
		return err
	}
	o := audit.Origin{Actor: ro.UpdatedBy, UserAgent: fmt.Sprintf("streamforge rollback of rollout %d", ro.ID)}
	var todo []store.RolloutTarget
	pending, failed := 0, 0
	for _, t := range ts {
		switch {
		case t.RolledBack && t.Status == store.TargetPending:
			pending++
		case t.RolledBack && t.Status == store.TargetFailed:
			failed++
		case !t.RolledBack && t.Status != store.TargetWaiting && t.ConfigVersion > 0:
			todo = append(todo, t.RolloutTarget)
		}
	}
	l := e.held(ro)
	for len(todo) > 0 {
		chunk := todo[:min(e.Chunk, len(todo))]
		todo = todo[len(chunk):]
		err := e.writeChunk(ctx, l, o, chunk, func(t *store.RolloutTarget) (json.RawMessage, error) {
			t.RolledBack = true
			if t.PrevDocument == "" {
				return json.RawMessage("{}"), nil
			}
			return json.RawMessage(t.PrevDocument), nil
		})
		if err != nil {
			return err
		}
		for _, t := range chunk {
			if t.Status == store.TargetPending {
				pending++
			} else {
				failed++
			}
		}
	}
	if pending > 0 {
		return nil
	}
	reason := ro.Reason
	result := audit.ResultSuccess
	if failed > 0 {
		reason, result = fmt.Sprintf("%s; %d gateway(s) did not apply the rollback", reason, failed), audit.ResultFailure
	}
	ev := e.event(ro, ro.UpdatedBy, "rollout.rolled_back", result)
	ev.Reason = reason
	ev.Changes = map[string]audit.Change{"state": {Old: ro.State, New: store.RolloutRolledBack}}
	e.log.Info("rollout rolled back", "rollout", ro.ID, "failed", failed)
	return e.repo.Transition(ctx, ro, e.owner, store.RolloutRolledBack, reason, ro.Wave, &ev)
}
