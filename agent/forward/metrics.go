package forward

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the forwarder's Prometheus collectors.
type Metrics struct {
	delivered   *prometheus.CounterVec
	acked       prometheus.Counter
	failures    *prometheus.CounterVec
	inFlight    prometheus.Gauge
	recreations *prometheus.CounterVec
	drainRate   prometheus.Gauge
	rateLimit   prometheus.Gauge
	backlog     prometheus.Counter
	setAside    prometheus.Counter
	clientErrs  *prometheus.CounterVec
	authFails   prometheus.Counter
	purged      prometheus.Counter

	ackedCount atomic.Uint64
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_forward_delivered_messages_total",
			Help: "Kafka messages whose delivery report succeeded, by topic.",
		}, []string{"topic"}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_forward_acked_records_total",
			Help: "Buffered records delivered and deleted from the buffer.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_forward_delivery_failures_total",
			Help: "Failed delivery reports (the records stay in the buffer), by error.",
		}, []string{"error"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamforge_forward_in_flight_records",
			Help: "Records produced and awaiting their delivery reports.",
		}),
		recreations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_forward_producer_recreations_total",
			Help: "Producer sessions ended and replaced, by reason (fatal, delivery, stalled, buffer).",
		}, []string{"reason"}),
		drainRate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamforge_forward_drain_rate",
			Help: "Records delivered per second over the last second.",
		}),
		rateLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamforge_forward_drain_rate_limit",
			Help: "Configured cap on records produced per second (0: none).",
		}),
		backlog: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_forward_backlog_records_total",
			Help: "Records produced from a backlog drained behind live data (drain_order live_first).",
		}),
		setAside: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_forward_backlog_set_aside_total",
			Help: "Times the forwarder fell behind by more than live_lag and set what was stored aside as backlog (drain_order live_first).",
		}),
		clientErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_forward_client_errors_total",
			Help: "Errors librdkafka reported outside delivery reports (connection, authentication, all brokers down), by error code.",
		}, []string{"error"}),
		authFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_forward_auth_failures_total",
			Help: "Failed broker logins (SASL or TLS authentication): wrong credentials or certificates keep the backlog growing.",
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_forward_purged_records_total",
			Help: "Records taken back from librdkafka's queue because every broker went away (drain_order live_first with outage_purge); they go again as backlog.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.delivered, m.acked, m.failures, m.inFlight, m.recreations, m.drainRate, m.rateLimit, m.backlog, m.setAside,
			m.clientErrs, m.authFails, m.purged)
	}
	return m
}

func (m *Metrics) addAcked(n int) {
	m.acked.Add(float64(n))
	m.ackedCount.Add(uint64(n))
}

// sampleRate updates the drain-rate gauge every second until stop closes.
func (m *Metrics) sampleRate(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, at := m.ackedCount.Load(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			n := m.ackedCount.Load()
			m.drainRate.Set(float64(n-last) / now.Sub(at).Seconds())
			last, at = n, now
		}
	}
}
