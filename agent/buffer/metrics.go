package buffer

import "github.com/prometheus/client_golang/prometheus"

// metrics are the buffer's Prometheus series. Backlog gauges are read from
// Stats at scrape time; drops and commits are counted as they happen.
type metrics struct {
	reg     prometheus.Registerer
	backlog prometheus.Collector
	drops   *prometheus.CounterVec
	batch   prometheus.Histogram
	commit  prometheus.Histogram
	blocked prometheus.Counter
	corrupt prometheus.Counter
	// unstored counts readings a full disk kept out (diskfull.go).
	unstored *prometheus.CounterVec
	all      []prometheus.Collector
}

func newMetrics(b *Buffer) *metrics {
	m := &metrics{
		backlog: &backlogCollector{b: b},
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_buffer_dropped_readings_total",
			Help: "Readings dropped because the buffer was full, by stream rule and policy.",
		}, []string{"stream", "policy"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamforge_buffer_commit_batch_readings",
			Help:    "Readings per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamforge_buffer_commit_seconds",
			Help:    "Duration of one group commit including fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10),
		}),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_buffer_put_blocked_seconds_total",
			Help: "Time writers waited for space under the block policy.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamforge_buffer_corrupt_records_total",
			Help: "Undecodable records found and deleted (lost readings: investigate the disk).",
		}),
		unstored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_buffer_unstored_readings_total",
			Help: "Readings not stored because the disk was full, by stream rule, policy and reason (disk_full: a drop_* policy dropped them; cancelled, closed: a blocking Put gave up at shutdown).",
		}, []string{"stream", "policy", "reason"}),
	}
	for _, r := range b.rules {
		m.drops.WithLabelValues(r.Name, string(r.Policy))
		reason := reasonDiskFull
		if r.Policy == Block {
			reason = reasonClosed
		}
		m.unstored.WithLabelValues(r.Name, string(r.Policy), reason)
	}
	m.all = []prometheus.Collector{m.backlog, m.drops, m.batch, m.commit, m.blocked, m.corrupt, m.unstored}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, done := range m.all[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	m.reg = reg
	return nil
}

func (m *metrics) unregister() {
	for _, c := range m.all {
		m.reg.Unregister(c)
	}
}

var (
	descRecords = prometheus.NewDesc("streamforge_buffer_records", "Readings in the buffer, not yet delivered.", nil, nil)
	descBytes   = prometheus.NewDesc("streamforge_buffer_bytes", "Bytes the buffered readings count against the limit.", nil, nil)
	descMax     = prometheus.NewDesc("streamforge_buffer_max_bytes", "The buffer's byte limit.", nil, nil)
	descAge     = prometheus.NewDesc("streamforge_buffer_oldest_record_age_seconds", "Age of the oldest buffered reading (0 when empty).", nil, nil)
	descFull    = prometheus.NewDesc("streamforge_buffer_disk_full", "1 while buffer commits fail for lack of disk space.", nil, nil)
	descPending = prometheus.NewDesc("streamforge_buffer_pending_deletes", "Delivered records whose delete has not committed yet (a full disk); they are not sent again.", nil, nil)
)

type backlogCollector struct{ b *Buffer }

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRecords
	ch <- descBytes
	ch <- descMax
	ch <- descAge
	ch <- descFull
	ch <- descPending
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(s.Records))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(s.MaxBytes))
	ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, s.OldestAge.Seconds())
	full := 0.0
	if s.DiskFull {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(descFull, prometheus.GaugeValue, full)
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.PendingDeletes))
}
