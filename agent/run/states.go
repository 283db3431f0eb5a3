package run

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/adapters"
)

var (
	descConnected = prometheus.NewDesc("streamforge_adapter_device_connected",
		"1 while the device answers, 0 while it fails.", []string{"adapter", "device"}, nil)
	descErrors = prometheus.NewDesc("streamforge_adapter_device_errors_total",
		"Failed reads or sessions of the device.", []string{"adapter", "device"}, nil)
	descLastRead = prometheus.NewDesc("streamforge_adapter_device_last_read_timestamp_seconds",
		"When the device last delivered a value (unix seconds; 0: never).", []string{"adapter", "device"}, nil)
	descSkipped = prometheus.NewDesc("streamforge_adapter_device_polls_skipped_total",
		"Polls of the device left out because the one before took longer than the poll interval.",
		[]string{"adapter", "device"}, nil)
	descFaults = prometheus.NewDesc("streamforge_adapter_device_faults_total",
		"Bad answers of a device by tag and code: Modbus exceptions, OPC UA bad statuses, values lost from a full server queue, stalled subscriptions.",
		[]string{"adapter", "device", "tag", "code"}, nil)
)

// stateCollector reports each adapter's device states at scrape time.
type stateCollector struct{ adapters []adapters.Adapter }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnected
	ch <- descErrors
	ch <- descLastRead
	ch <- descFaults
	ch <- descSkipped
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.adapters {
		for _, s := range a.States() {
			connected, last := 0.0, 0.0
			if s.Connected {
				connected = 1
			}
			if !s.LastRead.IsZero() {
				last = float64(s.LastRead.UnixNano()) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, a.Name(), s.Device)
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors), a.Name(), s.Device)
			ch <- prometheus.MustNewConstMetric(descLastRead, prometheus.GaugeValue, last, a.Name(), s.Device)
			ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(s.SkippedPolls), a.Name(), s.Device)
			for _, f := range s.Faults {
				ch <- prometheus.MustNewConstMetric(descFaults, prometheus.CounterValue, float64(f.Count), a.Name(), s.Device, f.Tag, f.Code)
			}
		}
	}
}
