package forward

import (
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
	kafkatest "github.com/streamforge/streamforge/tests/kafka"
)

// A backlog drains no faster than DrainRate, oldest first, and in order.
func TestBacklogDrainsAtTheConfiguredRate(t *testing.T) {
	b := testenv.StartKfake(t, testenv.KafkaOpts{})
	src := newMemSource()
	src.Put(readings("plc1", 10, 1000)...) // 10,000 readings of backlog
	const rate = 4000.0
	began := time.Now()
	f, _ := start(t, Config{Brokers: b.Addr, DrainRate: rate, ReadBatch: 500}, src, quietLog(t))
	if err := src.waitEmpty(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	// The pacer lets one read batch go at once, then spaces the rest.
	if min := time.Duration((10000 - 500) / rate * float64(time.Second)); took < min {
		t.Errorf("10,000 readings drained in %s, faster than %v/s allows (%s)", took, rate, min)
	}
	t.Logf("drained 10,000 readings in %s (cap %v/s); rate gauge %v", took.Round(time.Millisecond), rate, value(t, f.metrics.drainRate))
	checkTopic(t, kafkatest.Conn{Brokers: b.Addr}, src, nil)
}
