package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/pkg/wire"
)

// DataPath is one run of the data path on one config; *Agent is the real one.
type DataPath interface {
	Run(ctx context.Context) error
	Health() wire.Heartbeat
}

// SupervisorOptions configure a Supervisor.
type SupervisorOptions struct {
	// Local is the local config file; configs from the control plane are
	// merged over it. Initial runs until the control plane delivers one.
	Local   []byte
	Initial *config.Config
	// Version is reported in heartbeats.
	Version string
	Log     *slog.Logger
	// RestartDelay is the first wait after a failure (default 1 s); it
	// doubles up to MaxRestartDelay (default 30 s) while failures go on.
	RestartDelay, MaxRestartDelay time.Duration
	// Build makes a data path of a config; default New with what Mount
	// was given.
	Build func(*config.Config, *slog.Logger) (DataPath, error)
	// Accepted, when set, sees each config the control plane delivers once
	// it parses, before it runs (the agent registers its secret values
	// with the log scrubber here).
	Accepted func(*config.Config)
	// Secrets, when set, gives the values the control plane delivers for
	// a config's ${secret:name} references (agent/secrets.Delivery).
	Secrets func(ctx context.Context, rc wire.ConfigResponse) (map[string]secrets.Secret, error)
}

// Supervisor runs the data path under a control plane: each config the
// control plane delivers (merged over the local file) replaces the running
// data path, whose buffer keeps every reading across the swap; a data path
// that fails is restarted after a growing delay instead of taking the
// process down, because the control plane loop (enrollment, heartbeats,
// the next config that may fix the failure) must go on.
type Supervisor struct {
	o       SupervisorOptions
	next    chan offer // the newest config not yet running; at most one
	mounts  map[string]http.Handler
	running atomic.Bool // Run has begun: Apply waits for the data path

	mu      sync.Mutex
	current DataPath       // nil while no data path runs
	good    *config.Config // the newest config whose data path was built
}

// NewSupervisor prepares a supervisor; its Apply and Health go to the
// control plane loop, then Run runs both.
func NewSupervisor(o SupervisorOptions) *Supervisor {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.RestartDelay <= 0 {
		o.RestartDelay = time.Second
	}
	if o.MaxRestartDelay < o.RestartDelay {
		o.MaxRestartDelay = max(30*time.Second, o.RestartDelay)
	}
	s := &Supervisor{o: o, next: make(chan offer, 1)}
	if s.o.Build == nil {
		s.o.Build = s.build
	}
	return s
}

// Mount serves routes (pattern to handler, like the status page) on each
// data path's local HTTP listener, which moves with the data path on a
// restart; call it before Run.
func (s *Supervisor) Mount(routes map[string]http.Handler) {
	s.mounts = routes
}

func (s *Supervisor) build(c *config.Config, log *slog.Logger) (DataPath, error) {
	a, err := New(c, log)
	if err != nil {
		return nil, err
	}
	for pattern, h := range s.mounts {
		a.Mount(pattern, h)
	}
	return a, nil
}

// offer is a config handed to Run, with where to say whether its data
// path could be built (nil done: nobody waits).
type offer struct {
	cfg  *config.Config
	done chan error // buffered: Run never blocks on it
}

// report tells the one who offered o how its build went; once.
func (o *offer) report(err error) {
	if o.done != nil {
		o.done <- err
		o.done = nil
	}
}

// errSuperseded answers an offer replaced before Run took it.
var errSuperseded = errors.New("superseded by a newer config before it ran")

// offer makes o the next config, replacing one not yet taken: only the
// newest matters.
func (s *Supervisor) offer(o offer) {
	select {
	case old := <-s.next:
		old.report(errSuperseded)
	default:
	}
	s.next <- o
}

// StartError is a config that parsed but whose data path could not be
// built (its buffer, adapters, forwarder or metrics listener): the
// supervisor went back to the config that ran before. Trying it again
// disturbs the running data path, so the control plane loop retries it
// only now and then (Disruptive).
type StartError struct {
	Version int
	Err     error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("config v%d failed to start: %v", e.Version, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Disruptive marks a failure whose retry restarts the data path.
func (e *StartError) Disruptive() bool { return true }

// Apply merges a control plane config over the local file and hands it to
// the running supervisor. Once Run has begun, it returns only when the new
// data path is built, so that the version the control plane loop then
// reports is the one that runs: an error (the config does not parse or
// validate, its secrets cannot be had, or its data path cannot start:
// *StartError) keeps the running one. Before Run, the config is the one
// Run starts on, and Run reports its failure.
func (s *Supervisor) Apply(ctx context.Context, rc wire.ConfigResponse) error {
	merged, err := config.Merge(s.o.Local, rc.Config)
	if err != nil {
		return err
	}
	var delivered map[string]secrets.Secret
	if s.o.Secrets != nil {
		if delivered, err = s.o.Secrets(ctx, rc); err != nil {
			return fmt.Errorf("config v%d: secrets: %w", rc.Version, err)
		}
	}
	c, err := config.ParseWith(merged, delivered)
	if err != nil {
		return fmt.Errorf("config v%d: %w", rc.Version, err)
	}
	if s.o.Accepted != nil {
		s.o.Accepted(c)
	}
	o := offer{cfg: c, done: make(chan error, 1)}
	done := o.done
	s.offer(o)
	if !s.running.Load() {
		return nil
	}
	select {
	case err := <-done:
		if err != nil {
			return &StartError{Version: rc.Version, Err: err}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Health is the running data path's state for heartbeats.
func (s *Supervisor) Health() wire.Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return wire.Heartbeat{Status: "starting", AgentVersion: s.o.Version}
	}
	hb := s.current.Health()
	hb.AgentVersion = s.o.Version
	return hb
}

// Config is the newest config whose data path was built (the one running,
// or being restarted after a failure); the initial one before that.
func (s *Supervisor) Config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.good == nil {
		return s.o.Initial
	}
	return s.good
}

func (s *Supervisor) setCurrent(dp DataPath) {
	s.mu.Lock()
	s.current = dp
	s.mu.Unlock()
}

// Run runs control (the control plane loop) and the data path until ctx
// ends, and returns only when both have stopped. A data path that cannot
// be built from the first config is an error at start, as without a
// control plane; later failures are logged and retried.
func (s *Supervisor) Run(ctx context.Context, control func(context.Context) error) error {
	s.running.Store(true) // before the control loop can Apply
	ctx, cancel := context.WithCancel(ctx)
	controlDone := make(chan struct{})
	go func() {
		defer close(controlDone)
		if err := control(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Error("control plane loop stopped; the data path goes on", "err", err)
		}
	}()
	defer func() { cancel(); <-controlDone }()

	var cur offer
	select {
	case cur = <-s.next: // the last-known-good, applied by the loop at its start
	default:
		cur = offer{cfg: s.o.Initial}
	}
	delay := s.o.RestartDelay
	for first := true; ; first = false {
		dp, err := s.o.Build(cur.cfg, s.o.Log)
		cur.report(err)
		if err != nil && first {
			return err
		}
		good := s.Config()
		if err != nil && good != cur.cfg {
			// A new config that cannot start does not leave the gateway
			// without a data path: the one that ran comes back at once.
			s.o.Log.Error("the new config's data path cannot start; going back to the previous config", "err", err)
			cur = offer{cfg: good}
			continue
		}
		var next offer
		if err == nil {
			s.mu.Lock()
			s.good = cur.cfg
			s.mu.Unlock()
			next, err = s.runOne(ctx, dp)
		}
		if ctx.Err() != nil {
			return err
		}
		if err == nil {
			cur, delay = next, s.o.RestartDelay
			continue
		}
		s.o.Log.Error("data path failed; restarting it", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case c := <-s.next:
			t.Stop()
			cur, delay = c, s.o.RestartDelay
		case <-t.C:
			delay = min(2*delay, s.o.MaxRestartDelay)
		}
	}
}

// runOne runs dp until ctx ends (returning the data path's own error, if
// any), a new config arrives (returned, after dp has stopped) or dp fails.
func (s *Supervisor) runOne(ctx context.Context, dp DataPath) (offer, error) {
	s.setCurrent(dp)
	defer s.setCurrent(nil)
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- dp.Run(dctx) }()
	select {
	case <-ctx.Done():
		return offer{}, <-done
	case c := <-s.next:
		s.o.Log.Info("restarting the data path with a new config")
		stop()
		if err := <-done; err != nil {
			s.o.Log.Warn("data path stopped with an error", "err", err)
		}
		return c, nil
	case err := <-done:
		if err == nil {
			err = errors.New("data path stopped")
		}
		return offer{}, err
	}
}
