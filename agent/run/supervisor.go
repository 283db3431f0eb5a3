package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
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
	o      SupervisorOptions
	next   chan *config.Config // the newest config not yet running; at most one
	mounts map[string]http.Handler

	mu      sync.Mutex
	current DataPath // nil while no data path runs
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
	s := &Supervisor{o: o, next: make(chan *config.Config, 1)}
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

// offer makes c the next config, replacing one not yet taken: only the
// newest matters.
func (s *Supervisor) offer(c *config.Config) {
	select {
	case <-s.next:
	default:
	}
	s.next <- c
}

// Apply merges a control plane config over the local file and hands it to
// the running supervisor; an error (the config does not parse or validate)
// keeps the running one.
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
	s.offer(c)
	return nil
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
	ctx, cancel := context.WithCancel(ctx)
	controlDone := make(chan struct{})
	go func() {
		defer close(controlDone)
		if err := control(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.Error("control plane loop stopped; the data path goes on", "err", err)
		}
	}()
	defer func() { cancel(); <-controlDone }()

	var cfg *config.Config
	select {
	case cfg = <-s.next: // the last-known-good, applied by the loop at its start
	default:
		cfg = s.o.Initial
	}
	delay := s.o.RestartDelay
	for first := true; ; first = false {
		var next *config.Config
		dp, err := s.o.Build(cfg, s.o.Log)
		if err == nil {
			next, err = s.runOne(ctx, dp)
		} else if first {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if err == nil {
			cfg, delay = next, s.o.RestartDelay
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
			cfg, delay = c, s.o.RestartDelay
		case <-t.C:
			delay = min(2*delay, s.o.MaxRestartDelay)
		}
	}
}

// runOne runs dp until ctx ends (returning the data path's own error, if
// any), a new config arrives (returned, after dp has stopped) or dp fails.
func (s *Supervisor) runOne(ctx context.Context, dp DataPath) (*config.Config, error) {
	s.setCurrent(dp)
	defer s.setCurrent(nil)
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- dp.Run(dctx) }()
	select {
	case <-ctx.Done():
		return nil, <-done
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
		return nil, err
	}
}
