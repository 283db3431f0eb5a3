package run

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/agent/config"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// noLeaks fails t if a goroutine started during the test outlives it and
// its cleanups (registered first, so it runs after them).
func noLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// idleForwarder delivers nothing: Kafka is tested in agent/forward; here
// the buffer is the point.
type idleForwarder struct{}

func (idleForwarder) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// builds records each data path the supervisor builds.
type builds struct {
	mu   sync.Mutex
	cfgs []*config.Config
	live int // data paths built and not yet stopped
	max  int // the most that were ever live at once
}

func (b *builds) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.cfgs)
}

// real builds the real data path with an idle forwarder.
func (b *builds) real(c *config.Config, log *slog.Logger) (DataPath, error) {
	a, err := New(c, log)
	if err != nil {
		return nil, err
	}
	a.fwd = idleForwarder{}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfgs = append(b.cfgs, c)
	return &counted{DataPath: a, b: b}, nil
}

// counted notes how many data paths run at once: a swap must stop the
// old one before the new one runs (they share the buffer file).
type counted struct {
	DataPath
	b *builds
}

func (c *counted) Run(ctx context.Context) error {
	c.b.mu.Lock()
	c.b.live++
	c.b.max = max(c.b.max, c.b.live)
	c.b.mu.Unlock()
	defer func() {
		c.b.mu.Lock()
		c.b.live--
		c.b.mu.Unlock()
	}()
	return c.DataPath.Run(ctx)
}

func managedConfig(t *testing.T) (local []byte, cfg *config.Config) {
	t.Helper()
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(4), 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	local = modbusConfig(t.TempDir(), mb.Addr(), "10ms", counterTag, "")
	if cfg, err = config.Parse(local); err != nil {
		t.Fatal(err)
	}
	return local, cfg
}

// runSupervisor runs s with a control loop that blocks until its context
// ends; stop cancels and returns Run's error after checking that the loop
// was stopped too.
func runSupervisor(t *testing.T, s *Supervisor) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	controlStopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); close(controlStopped); return nil })
	}()
	return func() error {
		cancel()
		err := <-done
		select {
		case <-controlStopped:
		default:
			t.Error("Run returned before the control loop stopped")
		}
		return err
	}
}

// TestSupervisorSwapsConfigKeepingTheBuffer: a config from the control
// plane (merged over the local file) replaces the running data path; the
// old one stops before the new one runs, the readings buffered before the
// swap are still there after it, and heartbeats report the new one.
func TestSupervisorSwapsConfigKeepingTheBuffer(t *testing.T) {
	noLeaks(t)
	local, cfg := managedConfig(t)
	var b builds
	s := NewSupervisor(SupervisorOptions{Local: local, Initial: cfg, Version: "v-test", Log: slog.New(slog.DiscardHandler), Build: b.real})
	if hb := s.Health(); hb.Status != "starting" || hb.AgentVersion != "v-test" {
		t.Fatalf("health before the data path runs: %+v", hb)
	}
	stop := runSupervisor(t, s)
	var before uint64
	testenv.Eventually(t, 20*time.Second, "readings in the buffer", func() bool {
		before = s.Health().ReadingsTotal
		return before >= 20
	})
	if err := s.Apply(context.Background(), wire.ConfigResponse{Version: 1, Config: json.RawMessage(`{"log_level":"debug"}`)}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the data path on config v1", func() bool {
		return b.count() == 2 && s.Health().ReadingsTotal > before
	})
	if err := s.Apply(context.Background(), wire.ConfigResponse{Version: 2, Config: json.RawMessage(`{"buffer":{"max_bytes":"nonsense"}}`)}); err == nil {
		t.Error("an invalid config was accepted")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cfgs[0].LogLevel != "info" || b.cfgs[1].LogLevel != "debug" || b.max != 1 || len(b.cfgs) != 2 {
		t.Fatalf("builds %d (log levels %s, %s), at most %d at once; want info then debug, one at a time",
			len(b.cfgs), b.cfgs[0].LogLevel, b.cfgs[len(b.cfgs)-1].LogLevel, b.max)
	}
	if hb := s.Health(); hb.Status != "starting" {
		t.Errorf("health after stop reports a stopped data path: %+v", hb)
	}
}

var errRefused = errors.New("broker config refused")

// failing is a data path that stops with an error at once.
type failing struct{}

func (failing) Run(context.Context) error { return errRefused }
func (failing) Health() wire.Heartbeat    { return wire.Heartbeat{Status: "ok"} }

// TestSupervisorRestartsAFailedDataPath: a data path that fails, or a
// config whose data path cannot be built, does not end the agent: it is
// retried after a growing delay until it runs.
func TestSupervisorRestartsAFailedDataPath(t *testing.T) {
	noLeaks(t)
	local, cfg := managedConfig(t)
	var (
		b        builds
		mu       sync.Mutex
		attempts int
	)
	build := func(c *config.Config, log *slog.Logger) (DataPath, error) {
		mu.Lock()
		attempts++
		n := attempts
		mu.Unlock()
		switch n {
		case 1:
			return failing{}, nil
		case 2:
			return nil, errors.New("metrics.listen: address in use")
		}
		return b.real(c, log)
	}
	s := NewSupervisor(SupervisorOptions{Local: local, Initial: cfg, Log: slog.New(slog.DiscardHandler), Build: build,
		RestartDelay: 5 * time.Millisecond})
	stop := runSupervisor(t, s)
	testenv.Eventually(t, 20*time.Second, "the restarted data path reading", func() bool { return s.Health().ReadingsTotal > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 {
		t.Fatalf("%d attempts, want 3 (fail, build error, run)", attempts)
	}
}

// TestSupervisorEarlyReturnLeavesNothing: a first config whose data path
// cannot be built is an error at start (as without a control plane), and
// Run returns it only after the control loop has stopped; shutting down
// while a restart is pending returns at once. No goroutine is left.
func TestSupervisorEarlyReturnLeavesNothing(t *testing.T) {
	noLeaks(t)
	_, cfg := managedConfig(t)
	refused := errors.New("adapters[0]: refused")
	s := NewSupervisor(SupervisorOptions{Initial: cfg, Log: slog.New(slog.DiscardHandler),
		Build: func(*config.Config, *slog.Logger) (DataPath, error) { return nil, refused }})
	controlStopped := false
	err := s.Run(context.Background(), func(ctx context.Context) error { <-ctx.Done(); controlStopped = true; return nil })
	if !errors.Is(err, refused) || !controlStopped {
		t.Fatalf("Run: %v (control loop stopped: %v)", err, controlStopped)
	}

	// A data path failing again and again, the supervisor waiting an hour
	// before the next try: shutdown does not wait it out.
	tried := make(chan struct{}, 1)
	s = NewSupervisor(SupervisorOptions{Initial: cfg, Log: slog.New(slog.DiscardHandler), RestartDelay: time.Hour,
		Build: func(*config.Config, *slog.Logger) (DataPath, error) {
			select {
			case tried <- struct{}{}:
			default:
			}
			return failing{}, nil
		}})
	stop := runSupervisor(t, s)
	<-tried
	// The shutdown may meet the data path's own failure (Run returns it)
	// or the wait before the next try; either way it does not wait an hour.
	if err := stop(); err != nil && !errors.Is(err, errRefused) {
		t.Fatal(err)
	}
}

// TestSupervisorStartsOnTheLastKnownGood: a config applied before Run (the
// control plane loop applies its last-known-good when it is made) is the
// one the data path starts on, not the local file.
func TestSupervisorStartsOnTheLastKnownGood(t *testing.T) {
	noLeaks(t)
	local, cfg := managedConfig(t)
	var b builds
	s := NewSupervisor(SupervisorOptions{Local: local, Initial: cfg, Log: slog.New(slog.DiscardHandler), Build: b.real})
	if err := s.Apply(context.Background(), wire.ConfigResponse{Version: 3, Config: json.RawMessage(`{"log_level":"warn"}`)}); err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, s)
	testenv.Eventually(t, 20*time.Second, "the data path", func() bool { return b.count() == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := b.cfgs[0].LogLevel; got != "warn" {
		t.Fatalf("started on log level %s, want the last-known-good's warn", got)
	}
}

// TestSupervisorGoesBackWhenANewConfigCannotStart: Apply returns only when
// the new config's data path is built; one that parses but cannot start
// is a *StartError (a disruptive one), the data path of the config that
// ran before comes back, and it goes on reading.
func TestSupervisorGoesBackWhenANewConfigCannotStart(t *testing.T) {
	noLeaks(t)
	local, cfg := managedConfig(t)
	var b builds
	cannot := errors.New("open buffer: not enough free disk space")
	build := func(c *config.Config, log *slog.Logger) (DataPath, error) {
		if c.LogLevel == "warn" {
			return nil, cannot
		}
		return b.real(c, log)
	}
	s := NewSupervisor(SupervisorOptions{Local: local, Initial: cfg, Log: slog.New(slog.DiscardHandler), Build: build})
	stop := runSupervisor(t, s)
	testenv.Eventually(t, 20*time.Second, "readings", func() bool { return s.Health().ReadingsTotal > 0 })
	if err := s.Apply(context.Background(), wire.ConfigResponse{Version: 1, Config: json.RawMessage(`{"log_level":"debug"}`)}); err != nil {
		t.Fatal(err)
	}
	if b.count() != 2 || s.Config().LogLevel != "debug" {
		t.Fatalf("Apply returned before the new data path was built (%d builds, running %s)", b.count(), s.Config().LogLevel)
	}
	err := s.Apply(context.Background(), wire.ConfigResponse{Version: 2, Config: json.RawMessage(`{"log_level":"warn"}`)})
	var se *StartError
	if !errors.As(err, &se) || se.Version != 2 || !errors.Is(err, cannot) || !se.Disruptive() ||
		!strings.Contains(err.Error(), "config v2 failed to start") {
		t.Fatalf("Apply of a config that cannot start: %v", err)
	}
	testenv.Eventually(t, 20*time.Second, "the previous config running again", func() bool { return b.count() == 3 })
	if got := s.Config().LogLevel; got != "debug" {
		t.Fatalf("running config after the failure: log level %s, want v1's debug", got)
	}
	before := s.Health().ReadingsTotal
	testenv.Eventually(t, 20*time.Second, "readings after the failure", func() bool { return s.Health().ReadingsTotal > before })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.max != 1 || b.cfgs[2].LogLevel != "debug" {
		t.Fatalf("%d at once, third build on %s", b.max, b.cfgs[2].LogLevel)
	}
}
