package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/internal/testenv"
)

var admin = audit.Origin{Actor: "admin@example.com"}

var all = []string{rbac.AllGateways}

// fleet is a control plane's domain over one database: gateways, a
// pipeline, the rollout service and a way to play the
// gateways' heartbeats. Config writes go through the real gateways
// service (signed bundles); writes counts them per gateway.
type fleet struct {
	t      *testing.T
	st     *store.Store
	gw     *gateways.Service
	pipes  *pipelines.Service
	svc    *rollout.Service
	keyDir string
	writes *sync.Map // gateway id -> *atomic.Int64
	// onWrite, when set, runs before each config write.
	onWrite func()
}

func databases(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) { fn(t, testenv.PostgresURL(t)) })
}

func newFleet(t *testing.T, dbURL string, n int) *fleet {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dbURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := openFleet(t, st, filepath.Join(dir, "keys"))
	for i := 1; i <= n; i++ {
		if err := st.DB.Create(&store.Gateway{ID: gwID(i), Site: "plant", Status: store.GatewayApproved, HardwareInfo: map[string]string{}}).Error; err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	spec := func(brokers string) pipelines.Input {
		return pipelines.Input{Spec: json.RawMessage(`{"kafka":{"brokers":"` + brokers + `"}}`)}
	}
	if _, err := f.pipes.Create(ctx, admin, "line", "", spec("k1:9092")); err != nil {
		t.Fatal(err)
	}
	return f
}

// openFleet opens the domain over st (a second cloud process shares the
// database and the key directory).
func openFleet(t *testing.T, st *store.Store, keyDir string) *fleet {
	t.Helper()
	keys, err := auth.LoadKeyRing(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	gw := gateways.New(st, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if gw.ConfigKeys, err = configsign.Load(filepath.Join(keyDir, "config")); err != nil {
		t.Fatal(err)
	}
	p := pipelines.New(st.Pipelines())
	return &fleet{t: t, st: st, gw: gw, pipes: p, svc: rollout.New(st.Rollouts(), p), keyDir: keyDir, writes: new(sync.Map)}
}

func gwID(i int) string { return fmt.Sprintf("gw-%02d", i) }

func (f *fleet) engine(now func() time.Time) *rollout.Engine {
	write := func(ctx context.Context, o audit.Origin, access []string, id string, doc json.RawMessage) (int, error) {
		c, _ := f.writes.LoadOrStore(id, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		if f.onWrite != nil {
			f.onWrite()
		}
		cfg, err := f.gw.Configs.Deploy(ctx, o, access, id, doc)
		return cfg.Version, err
	}
	e := rollout.NewEngine(f.st.Rollouts(), f.pipes, write, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if now != nil {
		e.Now = now
	}
	return e
}

func (f *fleet) step(e *rollout.Engine) {
	f.t.Helper()
	if err := e.Step(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// report plays gateway id's heartbeat: the config version it runs and
// its config error.
func (f *fleet) report(id string, applied int, configErr string) {
	f.t.Helper()
	db := f.st.DB
	if err := db.Exec("INSERT INTO gateway_heartbeats (gateway_id, received_at, status, agent_version, config_version, config_error, buffer_depth, readings_total, adapters) VALUES (?, ?, 'approved', 't', ?, ?, 0, 0, '[]')",
		id, time.Now().UTC().Add(time.Millisecond), applied, configErr).Error; err != nil {
		f.t.Fatal(err)
	}
	if err := db.Exec("UPDATE gateways SET applied_config = ? WHERE id = ?", applied, id).Error; err != nil {
		f.t.Fatal(err)
	}
}

// applyAll reports every pending gateway of the rollout as applied.
func (f *fleet) applyAll(rid uint64) {
	f.t.Helper()
	for _, g := range f.get(rid).Gateways {
		if g.Status == store.TargetPending {
			f.report(g.GatewayID, g.ConfigVersion, "")
		}
	}
}

func (f *fleet) get(rid uint64) rollout.View {
	f.t.Helper()
	v, err := f.svc.Get(context.Background(), "line", rid, all)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fleet) statuses(rid uint64) string {
	var b strings.Builder
	for _, g := range f.get(rid).Gateways {
		fmt.Fprintf(&b, "%s:%s ", g.GatewayID, g.Status)
	}
	return strings.TrimSpace(b.String())
}

func (f *fleet) create(req rollout.Request) rollout.View {
	f.t.Helper()
	v, err := f.svc.Create(context.Background(), admin, "line", req, all)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func size(s string) *rollout.Size {
	z, err := rollout.ParseSize(s)
	if err != nil {
		panic(err)
	}
	return &z
}

func TestRolloutGoesCanaryThenWavesEachAfterThePreviousApplied(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		f := newFleet(t, dbURL, 5)
		e := f.engine(nil)
		ro := f.create(rollout.Request{Targets: pipelines.Targets{Site: "plant"}, Canary: size("1"), Wave: size("40%")})
		if ro.Waves != 3 || ro.State != store.RolloutRunning || ro.Version != 1 {
			t.Fatalf("planned %+v", ro)
		}
		steps := []string{
			"gw-01:pending gw-02:waiting gw-03:waiting gw-04:waiting gw-05:waiting",
			"gw-01:applied gw-02:pending gw-03:pending gw-04:waiting gw-05:waiting",
			"gw-01:applied gw-02:applied gw-03:applied gw-04:pending gw-05:pending",
		}
		for i, want := range steps {
			f.step(e)
			f.step(e) // nothing reported: the wave waits
			if got := f.statuses(ro.ID); got != want {
				t.Fatalf("step %d: %s, want %s", i, got, want)
			}
			f.applyAll(ro.ID)
		}
		f.step(e)
		v := f.get(ro.ID)
		if v.State != store.RolloutDone || v.Counts[store.TargetApplied] != 5 {
			t.Fatalf("after the last wave: %+v", v)
		}
		f.writes.Range(func(k, c any) bool {
			if n := c.(*atomic.Int64).Load(); n != 1 {
				t.Errorf("%s written %d times", k, n)
			}
			return true
		})
	})
}

func TestRolloutStopsAboveThresholdAndRollsBackToEachGatewaysPreviousConfig(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		f := newFleet(t, dbURL, 4)
		ctx := context.Background()
		before := json.RawMessage(`{"log_level":"debug"}`)
		if _, err := f.gw.Configs.Deploy(ctx, admin, all, "gw-01", before); err != nil {
			t.Fatal(err)
		}
		f.report("gw-01", 1, "")
		e := f.engine(nil)
		ro := f.create(rollout.Request{Targets: pipelines.Targets{Gateways: []string{"gw-01", "gw-02", "gw-03", "gw-04"}},
			Canary: size("1"), FailureThreshold: size("1")})
		f.step(e)
		f.applyAll(ro.ID)
		f.step(e) // canary applied: the rest in one wave
		v := f.get(ro.ID)
		// Two fail: one refuses the config, one reports an older error
		// (ignored) and then times out.
		f.report("gw-02", 0, fmt.Sprintf("config v%d failed to apply: kafka.security.password: secret not defined", v.Gateways[1].ConfigVersion))
		f.report("gw-03", 0, "config v0 failed to apply: stale")
		f.report("gw-04", v.Gateways[3].ConfigVersion, "")
		f.step(e)
		if v = f.get(ro.ID); v.State != store.RolloutRunning || f.statuses(ro.ID) != "gw-01:applied gw-02:failed gw-03:pending gw-04:applied" {
			t.Fatalf("one failure (threshold 1): %s %s", v.State, f.statuses(ro.ID))
		}
		if !strings.Contains(v.Gateways[1].Error, "secret not defined") {
			t.Fatalf("gw-02 error: %q", v.Gateways[1].Error)
		}
		late := f.engine(func() time.Time { return time.Now().Add(rollout.DefaultApplyTimeout + time.Minute) })
		late.Lease = 0 // take it over at once
		f.step(late)
		if v = f.get(ro.ID); v.State != store.RolloutStopped || !strings.Contains(v.Reason, "2 gateway(s) failed") ||
			!strings.Contains(v.Reason, "gw-03: not applied within 5m0s") {
			t.Fatalf("after the second failure: %s %q", v.State, v.Reason)
		}

		if _, err := f.svc.Rollback(ctx, admin, "line", ro.ID, []string{"elsewhere"}); err == nil {
			t.Fatal("a rollback beyond the caller's gateway access was accepted")
		}
		if v, err := f.svc.Rollback(ctx, admin, "line", ro.ID, all); err != nil || v.State != store.RolloutRollingBack {
			t.Fatalf("rollback: %v %+v", err, v)
		}
		if _, err := f.svc.Rollback(ctx, admin, "line", ro.ID, all); err != rollout.ErrAlreadyRolling {
			t.Fatalf("second rollback: %v", err)
		}
		f.step(late)
		if got := f.statuses(ro.ID); got != "gw-01:pending gw-02:pending gw-03:pending gw-04:pending" {
			t.Fatalf("rollback written: %s", got)
		}
		f.applyAll(ro.ID)
		f.step(late)
		if v = f.get(ro.ID); v.State != store.RolloutRolledBack {
			t.Fatalf("after the rollback applied: %+v", v)
		}
		for id, want := range map[string]string{"gw-01": string(before), "gw-02": "{}", "gw-04": "{}"} {
			var cfg store.GatewayConfig
			if err := f.st.DB.Where("gateway_id = ?", id).Take(&cfg).Error; err != nil || cfg.Document != want {
				t.Errorf("%s config after rollback: %q %v, want %q", id, cfg.Document, err, want)
			}
		}
		var events []string
		f.st.DB.Table("audit_log").Where("resource = ?", "rollout").Order("seq").Pluck("event_type", &events)
		if strings.Join(events, ",") != "rollout.create,rollout.stop,rollout.rollback,rollout.rolled_back" {
			t.Fatalf("audit: %v", events)
		}
	})
}

// Two cloud processes over one database: only the lease holder writes a
// wave, and the state survives the process (the second takes over once
// the first's lease has run out).
func TestTwoEnginesNeverBothAdvanceARollout(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	f := newFleet(t, dbURL, 30)
	st2, err := store.Open(context.Background(), dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	ro := f.create(rollout.Request{Targets: pipelines.Targets{Site: "plant"}, Canary: size("10"), Wave: size("10")})
	// b is a second process: its own connections, the same keys.
	f2 := openFleet(t, st2, f.keyDir)
	f2.writes = f.writes
	a, b := f.engine(nil), f2.engine(nil)
	var wg sync.WaitGroup
	for _, e := range []*rollout.Engine{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				f.step(e)
			}
		}()
	}
	wg.Wait()
	written := 0
	f.writes.Range(func(k, c any) bool {
		written++
		if n := c.(*atomic.Int64).Load(); n != 1 {
			t.Errorf("%s written %d times", k, n)
		}
		return true
	})
	if written != 10 {
		t.Fatalf("%d gateways written, want the canary's 10", written)
	}
	// Both stop (a restart); a new process c takes over only when the
	// holder's lease has run out.
	f.applyAll(ro.ID)
	c := f2.engine(nil)
	f.step(c)
	if got := f.get(ro.ID).Counts[store.TargetPending]; got != 0 {
		t.Fatalf("c advanced a rollout another process holds: %d pending", got)
	}
	c.Now = func() time.Time { return time.Now().Add(time.Minute) }
	f.step(c)
	if got := f.get(ro.ID).Counts[store.TargetPending]; got != 10 {
		t.Fatalf("after the lease ran out, c wrote %d of the next wave, want 10", got)
	}
}

func TestRolloutStopsWhenItsPipelineIsDeleted(t *testing.T) {
	f := newFleet(t, "", 3)
	e := f.engine(nil)
	ro := f.create(rollout.Request{Targets: pipelines.Targets{Site: "plant"}})
	f.step(e)
	if err := f.pipes.Delete(context.Background(), admin, "line"); err != nil {
		t.Fatal(err)
	}
	f.applyAll(ro.ID)
	f.step(e)
	if v := f.get(ro.ID); v.State != store.RolloutStopped || v.Reason != "the pipeline version was deleted" ||
		f.statuses(ro.ID) != "gw-01:applied gw-02:waiting gw-03:waiting" {
		t.Fatalf("after the pipeline was deleted: %s %q %s", v.State, v.Reason, f.statuses(ro.ID))
	}
}

// Started, the engine advances rollouts by itself; Close stops its
// goroutine and returns once it has.
func TestEngineStartedAdvancesAndCloseStopsIt(t *testing.T) {
	f := newFleet(t, "", 2)
	e := f.engine(nil)
	e.Tick = 10 * time.Millisecond
	ro := f.create(rollout.Request{Targets: pipelines.Targets{Site: "plant"}})
	e.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for f.statuses(ro.ID) != "gw-01:pending gw-02:waiting" {
		if time.Now().After(deadline) {
			t.Fatalf("the started engine did not write the canary: %s", f.statuses(ro.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.Close()
	f.applyAll(ro.ID)
	if err := e.Step(context.Background()); err != nil { // the same engine, stepped by hand after Close
		t.Fatal(err)
	}
	if got := f.statuses(ro.ID); got != "gw-01:applied gw-02:pending" {
		t.Fatalf("after Close and one step: %s", got)
	}
}

// Writes slower than the lease: the engine renews it as it goes, so a
// second process never takes the rollout over mid-wave and no gateway is
// written twice.
func TestSlowWritesKeepTheLease(t *testing.T) {
	f := newFleet(t, "", 6)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	a, b := f.engine(now), f.engine(now)
	ro := f.create(rollout.Request{Targets: pipelines.Targets{Site: "plant"}, Canary: size("100%")})
	var inB atomic.Bool
	f.onWrite = func() {
		mu.Lock()
		clock = clock.Add(a.Lease / 2) // each write takes half the lease
		mu.Unlock()
		if inB.Swap(true) {
			return // b's own writes (if it took the rollout) do not step b again
		}
		defer inB.Store(false)
		if err := b.Step(context.Background()); err != nil {
			t.Error(err)
		}
	}
	f.step(a)
	f.writes.Range(func(k, c any) bool {
		if n := c.(*atomic.Int64).Load(); n != 1 {
			t.Errorf("%s written %d times", k, n)
		}
		return true
	})
	if got := f.get(ro.ID).Counts[store.TargetPending]; got != 6 {
		t.Fatalf("%d pending, want all 6 written once", got)
	}
}

// Stopped during a wave (serve shutting down), the engine records what it
// wrote and leaves the rest waiting; the next process writes each of the
// rest once, and none twice.
func TestStopMidWaveRecordsWhatWasWritten(t *testing.T) {
	f := newFleet(t, "", 4)
	bg := context.Background()
	for i := 1; i <= 4; i++ {
		if _, err := f.gw.Configs.Deploy(bg, admin, all, gwID(i), json.RawMessage(`{"log_level":"info"}`)); err != nil {
			t.Fatal(err)
		}
	}
	ro := f.create(rollout.Request{Targets: pipelines.Targets{Site: "plant"}, Canary: size("100%")})
	ctx, cancel := context.WithCancel(bg)
	calls := 0
	f.onWrite = func() {
		if calls++; calls == 2 {
			cancel() // the second write is interrupted
		}
	}
	_ = f.engine(nil).Step(ctx)
	if got := f.statuses(ro.ID); got != "gw-01:pending gw-02:waiting gw-03:waiting gw-04:waiting" {
		t.Fatalf("after the stop: %s", got)
	}
	f.onWrite = nil
	next := f.engine(func() time.Time { return time.Now().Add(time.Minute) })
	f.step(next)
	for i := 1; i <= 4; i++ {
		var cfg store.GatewayConfig
		if err := f.st.DB.Where("gateway_id = ?", gwID(i)).Take(&cfg).Error; err != nil || cfg.Version != 2 {
			t.Errorf("%s: config v%d %v, want v2 (written once by the rollout)", gwID(i), cfg.Version, err)
		}
	}
}
