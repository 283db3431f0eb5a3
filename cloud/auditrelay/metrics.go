package auditrelay

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus metrics. The outbox depth is read
// from the database at each scrape, so it shows the records waiting on
// every replica, and also when no relay runs (no brokers configured), when
// it only grows.
type Metrics struct {
	relayed, errors prometheus.Counter
	lease           prometheus.Gauge
	depth           prometheus.GaugeFunc
}

// depthTimeout bounds the scrape's outbox count: a database that hangs
// must not hang /metrics.
const depthTimeout = 2 * time.Second

// NewMetrics registers the relay's metrics in reg (nil: unregistered);
// depth counts the outbox (store.AuditRepo.OutboxLen).
func NewMetrics(reg prometheus.Registerer, depth func(context.Context) (int64, error)) (*Metrics, error) {
	m := &Metrics{
		relayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "streamforge_audit_relay_records_total",
			Help: "Audit records this process relayed to Kafka (acknowledged and removed from the outbox)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "streamforge_audit_relay_errors_total",
			Help: "Relay rounds, lease attempts and producer starts that failed, and logins or TLS handshakes the brokers refused (each is retried)."}),
		lease: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamforge_audit_relay_lease_held",
			Help: "1 while this process holds the relay lease (is the active relay), else 0."}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamforge_audit_outbox_records",
			Help: "Audit records waiting in the outbox for the relay (NaN when the database cannot be read)."},
			func() float64 {
				if depth == nil {
					return math.NaN()
				}
				ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
				defer cancel()
				n, err := depth(ctx)
				if err != nil {
					return math.NaN()
				}
				return float64(n)
			}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.relayed, m.errors, m.lease, m.depth} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("audit relay metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) setActive(on bool) {
	if on {
		m.lease.Set(1)
	} else {
		m.lease.Set(0)
	}
}
