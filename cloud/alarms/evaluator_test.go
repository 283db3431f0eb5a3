package alarms

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// fixture is an evaluator over a real store (SQLite or PostgreSQL) with a
// clock the test moves.
type fixture struct {
	t   *testing.T
	st  *store.Store
	ev  *Evaluator
	now time.Time
}

func newFixture(t *testing.T, dbURL string) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, now: time.Now().UTC().Truncate(time.Second)}
	f.ev, err = NewEvaluator(st, Config{Interval: time.Second, HeartbeatInterval: 10 * time.Second, OfflineIntervals: 3,
		RaiseAfter: 5 * time.Second, ClearAfter: 10 * time.Second}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.ev.Now = func() time.Time { return f.now }
	return f
}

func (f *fixture) evaluate() {
	f.t.Helper()
	if err := f.ev.Evaluate(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// open returns the open alarms' kinds by subject.
func (f *fixture) open() map[string]string {
	f.t.Helper()
	as, err := f.st.OpenAlarms(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range as {
		out[a.Kind] = a.Subject
	}
	return out
}

func dbs(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) { fn(t, testenv.PostgresURL(t)) })
}

// TestBufferAlarmsFromHeartbeats: a buffer past 80% full, and a growing
// drop count, raise alarms after the hold-off; once heartbeats no longer
// show them, the alarms clear after the clear hold-off.
func TestBufferAlarmsFromHeartbeats(t *testing.T) {
	dbs(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL)
		ctx := context.Background()
		beat := func(bytes int64, dropped uint64) {
			f.ev.Heartbeat(ctx, "gw1", wire.Heartbeat{BufferBytes: bytes, BufferMaxBytes: 1000, DroppedTotal: dropped})
			f.now = f.now.Add(time.Second)
		}
		beat(500, 0)
		beat(850, 0)
		beat(900, 0)
		if len(f.open()) != 0 {
			t.Fatalf("raised before the hold-off: %v", f.open())
		}
		for range 4 {
			beat(950, 0)
		}
		if got := f.open(); len(got) != 1 || got[BufferFull] != "" {
			t.Fatalf("after 5 s past 80%%: %v, want buffer_full", got)
		}
		for i := range 7 {
			beat(999, uint64(10*i))
		}
		if _, ok := f.open()[BufferDropping]; !ok {
			t.Fatalf("dropping for 6 s: %v", f.open())
		}
		for range 5 {
			beat(100, 60) // drained, no more drops
		}
		f.evaluate()
		if len(f.open()) != 2 {
			t.Fatalf("cleared before the clear hold-off: %v", f.open())
		}
		f.now = f.now.Add(11 * time.Second)
		f.evaluate()
		if got := f.open(); len(got) != 0 {
			t.Fatalf("still open after the clear hold-off: %v", got)
		}
	})
}

// TestCertRenewalErrorFromHeartbeats: an agent whose certificate renewal
// keeps failing says why in its heartbeats; after the raise hold-off that
// is a certificate_renewal_error alarm carrying the reason, and once a
// renewal succeeded (no error reported) it clears after the clear hold-off.
func TestCertRenewalErrorFromHeartbeats(t *testing.T) {
	dbs(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL)
		ctx := context.Background()
		beat := func(renewalErr string) {
			f.ev.Heartbeat(ctx, "gw1", wire.Heartbeat{CertRenewalError: renewalErr})
			f.now = f.now.Add(time.Second)
		}
		beat("")
		beat("renew gateway certificate: device-attest-01: connection refused")
		if len(f.open()) != 0 {
			t.Fatalf("raised before the hold-off: %v", f.open())
		}
		for range 5 {
			beat("renew gateway certificate: device-attest-01: connection refused")
		}
		as, err := f.st.OpenAlarms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 1 || as[0].Kind != CertRenewalError || as[0].GatewayID != "gw1" || as[0].Severity != Major ||
			!strings.Contains(as[0].Message, "connection refused") {
			t.Fatalf("after 5 s of failed renewals: %+v", as)
		}
		beat("") // renewed
		f.evaluate()
		if len(f.open()) != 1 {
			t.Fatalf("cleared before the clear hold-off: %v", f.open())
		}
		f.now = f.now.Add(11 * time.Second)
		f.evaluate()
		if got := f.open(); len(got) != 0 {
			t.Fatalf("still open after the clear hold-off: %v", got)
		}
	})
}

// TestGatewayRules: each operational rule as a row.
func TestGatewayRules(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	cfg := Config{HeartbeatInterval: 10 * time.Second, OfflineIntervals: 3}
	cfg.Defaults()
	cases := []struct {
		name string
		g    store.GatewayHealth
		want []string // kind/subject
	}{
		{"ok-healthy", store.GatewayHealth{HeartbeatAt: at(-5 * time.Second), Adapters: `[{"name":"l","device":"d","connected":true}]`}, nil},
		{"offline-never-reported", store.GatewayHealth{EnrolledAt: now.Add(-time.Minute)}, []string{"gateway_offline/"}},
		{"ok-just-enrolled", store.GatewayHealth{EnrolledAt: now.Add(-10 * time.Second)}, nil},
		{"offline-silent", store.GatewayHealth{HeartbeatAt: at(-31 * time.Second), Adapters: `[{"name":"l","device":"d","connected":false}]`},
			[]string{"gateway_offline/"}},
		{"device-down", store.GatewayHealth{HeartbeatAt: at(-time.Second),
			Adapters: `[{"name":"l","device":"a","connected":false,"last_error":"refused"},{"name":"l","device":"b","connected":true}]`},
			[]string{"device_down/l/a"}},
		{"config-failed", store.GatewayHealth{HeartbeatAt: at(-time.Second), ConfigError: "bad"}, []string{"config_failed/"}},
		{"ok-cert-before-renewal-point", store.GatewayHealth{HeartbeatAt: at(-time.Second), TLSCertExpiresAt: at(8 * time.Hour),
			TLSCertRenewAt: at(time.Minute)}, nil},
		{"cert-renewal-overdue", store.GatewayHealth{HeartbeatAt: at(-time.Second), TLSCertExpiresAt: at(48 * time.Hour),
			TLSCertRenewAt: at(-time.Hour)}, []string{"certificate_renewal_failed/"}},
		{"cert-expiring-unrenewed", store.GatewayHealth{HeartbeatAt: at(-time.Second), TLSCertExpiresAt: at(2 * time.Hour),
			TLSCertRenewAt: at(-6 * time.Hour)}, []string{"certificate_expiring/"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.g.ID = "gw1"
			var got []string
			for _, cond := range gatewayConditions(now, now.Add(-24*time.Hour), &cfg, c.g) {
				got = append(got, cond.Kind+"/"+cond.Subject)
			}
			if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestOfflineCountsFromControlPlaneStart: after the control plane was
// down, a gateway silent for long is offline only once it stayed silent
// for the offline period since the evaluator began.
func TestOfflineCountsFromControlPlaneStart(t *testing.T) {
	now := time.Now()
	cfg := Config{HeartbeatInterval: 10 * time.Second, OfflineIntervals: 3}
	cfg.Defaults()
	last := now.Add(-10 * time.Minute)
	g := store.GatewayHealth{ID: "gw1", HeartbeatAt: &last}
	if got := gatewayConditions(now, now.Add(-20*time.Second), &cfg, g); len(got) != 0 {
		t.Fatalf("20 s after start: %v", got)
	}
	if got := gatewayConditions(now, now.Add(-30*time.Second), &cfg, g); len(got) != 1 || got[0].Kind != GatewayOffline {
		t.Fatalf("30 s after start: %v", got)
	}
}

// TestSecurityBursts: authorization denials and enrollment attempts past
// their thresholds within the window raise security alarms at once; an
// audit verification failure reported through the hook does too, and
// clears a window later.
func TestSecurityBursts(t *testing.T) {
	dbs(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL)
		f.ev.cfg.Denials, f.ev.cfg.Enrollments = 2, 2
		ctx := context.Background()
		appendN := func(eventType string, n int) {
			for range n {
				ev := audit.Event{EventType: eventType, User: "someone@example.com", Resource: "r", Action: "a", Result: audit.ResultDenied}
				if err := f.st.AuditLog().Append(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendN("authorization.denied", 2)
		f.evaluate()
		if len(f.open()) != 0 {
			t.Fatalf("at the threshold: %v", f.open())
		}
		appendN("authorization.denied", 1)
		appendN("gateway.enroll", 3)
		f.evaluate()
		if got := f.open(); len(got) != 2 || got[AuthzDenialBurst] != "" || got[EnrollmentFlood] != "" {
			t.Fatalf("past the thresholds: %v", got)
		}
		f.ev.AuditVerificationFailed(ctx, "record 7: hash mismatch")
		if _, ok := f.open()[AuditVerifyFailure]; !ok {
			t.Fatalf("audit failure not raised: %v", f.open())
		}
		f.now = f.now.Add(f.ev.cfg.Window + f.ev.cfg.ClearAfter)
		f.evaluate() // the window moved past the bursts: their clear hold-off starts
		f.now = f.now.Add(f.ev.cfg.ClearAfter)
		f.evaluate()
		if got := f.open(); len(got) != 0 {
			t.Fatalf("a window later: %v", got)
		}
	})
}

// TestBadQualityFromFaults: a connected device whose bad answers keep
// growing for the raise hold-off raises device_bad_quality; one whose
// count stands still does not; it clears when the faults stop.
func TestBadQualityFromFaults(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	beat := func(faultsA, faultsB uint64) {
		f.ev.Heartbeat(ctx, "gw1", wire.Heartbeat{Adapters: []wire.AdapterState{
			{Name: "line1", Device: "a", Connected: true, Faults: faultsA}, {Name: "line1", Device: "b", Connected: true, Faults: faultsB}}})
		f.now = f.now.Add(time.Second)
	}
	for i := range 8 {
		beat(uint64(3*i), 7)
	}
	if got := f.open(); len(got) != 1 || got[DeviceBadQuality] != "line1/a" {
		t.Fatalf("open %v, want device_bad_quality for line1/a only", got)
	}
	for range 3 {
		beat(21, 7)
	}
	f.now = f.now.Add(f.ev.cfg.ClearAfter + f.ev.cfg.Interval)
	f.evaluate()
	if got := f.open(); len(got) != 0 {
		t.Fatalf("open after the faults stopped: %v", got)
	}
}

// TestReplicasRaiseAndClearOnce: two evaluators (two cloud replicas) over
// one database open one alarm for a condition, and clear it once.
func TestReplicasRaiseAndClearOnce(t *testing.T) {
	dbs(t, func(t *testing.T, dbURL string) {
		f := newFixture(t, dbURL)
		other, err := NewEvaluator(f.st, f.ev.cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		other.Now = f.ev.Now
		both := func() {
			t.Helper()
			for _, ev := range []*Evaluator{f.ev, other} {
				if err := ev.Evaluate(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		flood := store.LoginThrottle{Key: "ip:192.0.2.9", Failures: 50, WindowStart: f.now}
		if err := f.st.DB.Create(&flood).Error; err != nil {
			t.Fatal(err)
		}
		both()
		both()
		raised := count(f.ev.metrics.raised, LoginFailuresIP) + count(other.metrics.raised, LoginFailuresIP)
		if got := f.open(); len(got) != 1 || raised != 1 {
			t.Fatalf("open %v, raised %v times; want one alarm raised once", got, raised)
		}
		if err := f.st.DB.Delete(&flood).Error; err != nil {
			t.Fatal(err)
		}
		both()
		f.now = f.now.Add(f.ev.cfg.ClearAfter)
		both()
		cleared := count(f.ev.metrics.cleared, LoginFailuresIP) + count(other.metrics.cleared, LoginFailuresIP)
		if got := f.open(); len(got) != 0 || cleared != 1 {
			t.Fatalf("open %v, cleared %v times; want cleared once", got, cleared)
		}
	})
}

func count(c *prometheus.CounterVec, label string) float64 {
	var m dto.Metric
	_ = c.WithLabelValues(label).Write(&m)
	return m.GetCounter().GetValue()
}

// TestHeartbeatStateOfGoneGatewaysIsForgotten: the evaluator keeps a
// gateway's heartbeat state (buffer fill, fault counters) only while the
// gateway is approved; the next evaluation drops that of a gateway that is
// gone (here: one the store never held).
func TestHeartbeatStateOfGoneGatewaysIsForgotten(t *testing.T) {
	f := newFixture(t, "")
	f.ev.Heartbeat(context.Background(), "gw-gone", wire.Heartbeat{BufferBytes: 900, BufferMaxBytes: 1000})
	f.ev.bufMu.Lock()
	kept := len(f.ev.buffers)
	f.ev.bufMu.Unlock()
	if kept != 1 {
		t.Fatalf("%d gateways' state kept after a heartbeat, want 1", kept)
	}
	f.evaluate()
	f.ev.bufMu.Lock()
	defer f.ev.bufMu.Unlock()
	if len(f.ev.buffers) != 0 {
		t.Fatalf("state of a gateway that is gone kept after an evaluation: %v", f.ev.buffers)
	}
}
