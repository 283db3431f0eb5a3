package alarms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/store"
)

// Store is what the evaluator needs of the database.
type Store interface {
	OpenAlarms(ctx context.Context) ([]store.Alarm, error)
	RaiseAlarm(ctx context.Context, a *store.Alarm) error
	TouchAlarm(ctx context.Context, id uint64, now time.Time, message string) error
	TouchOpenAlarm(ctx context.Context, key string, now time.Time, message string) error
	ClearAlarm(ctx context.Context, id uint64, now time.Time) error
	CountOpenAlarms(ctx context.Context) (map[[2]string]int, error)
	ApprovedGatewayHealth(ctx context.Context) ([]store.GatewayHealth, error)
	LoginFailuresOver(ctx context.Context, since time.Time, threshold int) ([]store.LoginFailures, error)
	CountAuditEvents(ctx context.Context, eventType string, since time.Time) (int64, error)
	AuditHead(ctx context.Context) (int64, error)
	RoleLoginsAfter(ctx context.Context, role string, seq int64, limit int) ([]store.AdminLogin, int64, error)
}

// lastSeenPrecision is how stale an open alarm's last_seen may grow while
// its condition stands unchanged.
const lastSeenPrecision = 30 * time.Second

// Evaluator applies the rules every Config.Interval. serve owns it: Start
// after the store is open, Close before it closes.
type Evaluator struct {
	st      Store
	cfg     Config
	log     *slog.Logger
	hook    *Webhook // nil: no webhook
	metrics *metrics
	// Now is the clock (tests may set it before Start).
	Now func() time.Time

	mu        sync.Mutex // one evaluation at a time
	hold      *holdOff
	auditSeq  int64
	seqLoaded bool
	watching  time.Time   // the first evaluation
	events    []Condition // event alarms reported between evaluations

	bufMu   sync.Mutex
	buffers map[string]*gatewayBuffer

	cancel context.CancelFunc
	done   chan struct{}
}

// NewEvaluator builds an evaluator; its metrics go to reg and its
// notifications to hook (nil for none).
func NewEvaluator(st Store, cfg Config, log *slog.Logger, reg prometheus.Registerer, hook *Webhook) (*Evaluator, error) {
	cfg.Defaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if hook != nil {
		hook.failures = m.webhookFailures
	}
	return &Evaluator{st: st, cfg: cfg, log: log, hook: hook, metrics: m, Now: time.Now,
		hold: newHoldOff(cfg.RaiseAfter, cfg.ClearAfter), buffers: map[string]*gatewayBuffer{}}, nil
}

// Start runs the evaluations until Close.
func (e *Evaluator) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	if e.hook != nil {
		e.hook.start()
	}
	go func() {
		defer close(e.done)
		t := time.NewTicker(e.cfg.Interval)
		defer t.Stop()
		for {
			if err := e.Evaluate(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("alarm evaluation", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the evaluations and the webhook; notifications still queued
// are not sent (the alarms are in the database, for the dashboard).
func (e *Evaluator) Close() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	if e.hook != nil {
		e.hook.close()
	}
}

// AuditVerificationFailed is the hook the audit verifier calls when the
// chain does not verify: a security alarm is raised at the next
// evaluation (at once when the evaluator is idle).
func (e *Evaluator) AuditVerificationFailed(ctx context.Context, problem string) {
	e.mu.Lock()
	e.events = append(e.events, auditFailure(problem))
	e.mu.Unlock()
	if err := e.Evaluate(ctx); err != nil {
		e.log.Warn("alarm evaluation", "err", err)
	}
}

// Evaluate runs the rules once.
func (e *Evaluator) Evaluate(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.Now().UTC()
	conds, events, err := e.gather(ctx, now)
	if err != nil {
		return err
	}
	open, err := e.st.OpenAlarms(ctx)
	if err != nil {
		return fmt.Errorf("open alarms: %w", err)
	}
	var condOpen []store.Alarm
	for _, a := range open {
		if _, touched := e.staleAfter(a.Kind); !touched {
			condOpen = append(condOpen, a)
		}
	}
	p := e.hold.step(now, conds, condOpen)
	p.raise = append(p.raise, events...)
	for _, a := range open {
		if stale, touched := e.staleAfter(a.Kind); touched && now.Sub(a.LastSeen) >= stale {
			p.clear = append(p.clear, a.ID)
		}
	}
	return errors.Join(e.apply(ctx, now, p, open), e.refreshGauge(ctx))
}

// gather reads the conditions that hold now, and the events since the
// previous evaluation.
func (e *Evaluator) gather(ctx context.Context, now time.Time) ([]Condition, []Condition, error) {
	health, err := e.st.ApprovedGatewayHealth(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway health: %w", err)
	}
	if e.watching.IsZero() {
		e.watching = now
	}
	var conds []Condition
	approved := make(map[string]bool, len(health))
	for _, g := range health {
		approved[g.ID] = true
		conds = append(conds, gatewayConditions(now, e.watching, &e.cfg, g)...)
	}
	e.forgetGone(approved)
	sec, err := securityConditions(ctx, e.st, now, &e.cfg)
	if err != nil {
		return nil, nil, err
	}
	conds = append(conds, sec...)
	if !e.seqLoaded { // logins before this process started were someone else's to see
		if e.auditSeq, err = e.st.AuditHead(ctx); err != nil {
			return nil, nil, fmt.Errorf("audit head: %w", err)
		}
		e.seqLoaded = true
	}
	events, err := adminLoginEvents(ctx, e.st, &e.auditSeq)
	if err != nil {
		return nil, nil, err
	}
	events, e.events = append(e.events, events...), nil
	return conds, events, nil
}

// apply writes a plan: raises, touches of standing alarms, clears.
func (e *Evaluator) apply(ctx context.Context, now time.Time, p plan, open []store.Alarm) error {
	var errs []error
	for _, c := range p.raise {
		errs = append(errs, e.raise(ctx, now, c, open))
	}
	byID := map[uint64]store.Alarm{}
	for _, a := range open {
		byID[a.ID] = a
	}
	for id, c := range p.keep {
		// last_seen is kept to lastSeenPrecision, so that a standing alarm
		// costs no write per evaluation.
		if a := byID[id]; a.Message != c.Message || now.Sub(a.LastSeen) >= lastSeenPrecision {
			errs = append(errs, e.st.TouchAlarm(ctx, id, now, c.Message))
		}
	}
	for _, id := range p.clear {
		if err := e.st.ClearAlarm(ctx, id, now); errors.Is(err, store.ErrNotFound) {
			continue // another replica cleared it, and told
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		a := byID[id]
		a.State, a.ClearedAt = store.AlarmCleared, &now
		e.metrics.cleared.WithLabelValues(a.Kind).Inc()
		e.log.Info("alarm cleared", "id", a.ID, "kind", a.Kind, "gateway", a.GatewayID, "subject", a.Subject)
		e.notify("cleared", a)
	}
	return errors.Join(errs...)
}

// staleAfter: alarms of kinds that are events, or that heartbeats touch,
// are not conditions the evaluator sees; they clear once not seen again
// for the duration returned.
func (e *Evaluator) staleAfter(kind string) (time.Duration, bool) {
	switch kind {
	case AdminNewIP, AuditVerifyFailure:
		return e.cfg.Window, true
	case BufferFull, BufferDropping, DeviceBadQuality, CertRenewalError:
		return e.cfg.ClearAfter + e.cfg.Interval, true
	}
	return 0, false
}

// raise opens an alarm for c, or, when one is open for its key already
// (an event seen again, or another replica first), touches that one.
func (e *Evaluator) raise(ctx context.Context, now time.Time, c Condition, open []store.Alarm) error {
	for _, a := range open {
		if a.Key == c.Key() {
			return e.st.TouchAlarm(ctx, a.ID, now, c.Message)
		}
	}
	a := store.Alarm{Key: c.Key(), Kind: c.Kind, Category: c.Category, Severity: c.Severity, GatewayID: c.GatewayID,
		Subject: c.Subject, Message: c.Message, FirstSeen: now, LastSeen: now}
	if err := e.st.RaiseAlarm(ctx, &a); errors.Is(err, store.ErrConflict) {
		// Open already (raised by another replica, or a heartbeat's
		// alarm touched again): it still holds.
		if err := e.st.TouchOpenAlarm(ctx, a.Key, now, c.Message); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("touch %s: %w", a.Key, err)
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("raise %s: %w", c.Key(), err)
	}
	e.metrics.raised.WithLabelValues(a.Kind).Inc()
	e.log.Warn("alarm raised", "id", a.ID, "kind", a.Kind, "severity", a.Severity, "gateway", a.GatewayID, "subject", a.Subject)
	e.notify("raised", a)
	return nil
}

// notify sends security alarms to the webhook.
func (e *Evaluator) notify(what string, a store.Alarm) {
	if e.hook != nil && a.Category == Security {
		e.hook.send(Notification{Event: "alarm." + what, Alarm: a})
	}
}

func (e *Evaluator) refreshGauge(ctx context.Context) error {
	counts, err := e.st.CountOpenAlarms(ctx)
	if err != nil {
		return fmt.Errorf("count open alarms: %w", err)
	}
	e.metrics.open.Reset()
	for k, n := range counts {
		e.metrics.open.WithLabelValues(k[0], k[1]).Set(float64(n))
	}
	return nil
}

type metrics struct {
	open            *prometheus.GaugeVec
	raised, cleared *prometheus.CounterVec
	webhookFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamforge_alarms_open",
			Help: "Alarms active or acknowledged, by category and severity."}, []string{"category", "severity"}),
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamforge_alarms_raised_total",
			Help: "Alarms this process raised, by kind."}, []string{"kind"}),
		cleared: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamforge_alarms_cleared_total",
			Help: "Alarms this process cleared, by kind."}, []string{"kind"}),
		webhookFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "streamforge_alarm_webhook_failures_total",
			Help: "Alarm notifications the webhook did not accept after every retry."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.open, m.raised, m.cleared, m.webhookFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("alarm metrics: %w", err)
		}
	}
	return m, nil
}
