// Package forward delivers readings from the agent's durable buffer to Kafka
// with librdkafka (confluent-kafka-go): an idempotent producer with acks=all,
// compression and batching. The buffer, not librdkafka's queue, is the source
// of truth: a record is acknowledged (deleted) in the buffer only after its
// delivery report, and every failure — a stalled delivery, a fatal producer
// error — ends the producer's session and re-reads the unacknowledged
// records from the buffer with a new producer. (A delete the disk cannot
// take is the buffer's to retry: it never returns a delivered record again.)
//
// Order: records are produced oldest first and keyed by stream (gateway/
// device/tag), so one stream always lands on one partition in buffer order.
// librdkafka never times a message out here (message.timeout.ms=0): a finite
// timeout would let later messages of a partition be written after an earlier
// one failed, and re-sending the failed one would put it behind them. A
// producer that gets no reports although a broker is reachable is instead
// recreated by the forwarder's own watchdog (DeliveryTimeout); while no
// broker is reachable the producer is kept, so an outage causes no duplicates. Re-sent records can duplicate ones whose report was lost
// (a crash, a fatal error, a recreation); they are recognisable by their
// per-stream sequence number, and the first copy of every record is in order.
// See docs/record-schema.md.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/agent/buffer"
)

// Record is one buffered reading; ID is its place in the buffer's FIFO.
type Record = buffer.Record

// Source is the durable FIFO the forwarder drains; *buffer.Buffer is one.
type Source interface {
	// Read appends to dst[:0] up to max records with IDs above after,
	// oldest first.
	Read(dst []Record, after uint64, max int) ([]Record, error)
	// Ack deletes delivered records.
	Ack(ids ...uint64) error
	// Wait blocks until a record with an ID above after exists.
	Wait(ctx context.Context, after uint64) error
	// LastID is the newest record's ID (the record may be gone).
	LastID() uint64
}

// Forwarder moves records from a Source to Kafka until its context ends.
type Forwarder struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	metrics *Metrics
	pace    *pacer

	mu      sync.Mutex
	lastErr string
}

// New checks cfg and returns a forwarder; nothing connects until Run.
func New(cfg Config, src Source, log *slog.Logger, m *Metrics) (*Forwarder, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(true); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	m.rateLimit.Set(cfg.DrainRate)
	return &Forwarder{cfg: cfg, src: src, log: log.With("component", "forward"), metrics: m, pace: newPacer(cfg.DrainRate)}, nil
}

// Run delivers records until ctx ends, then flushes for up to FlushTimeout
// while a broker answers (not at all during an outage) and returns; what
// was not delivered stays in the buffer. It returns an
// error only when a producer cannot be created from the configuration.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		s, err := newSession(f)
		if err != nil {
			return err
		}
		err = s.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		f.setLastError(err)
		reason := failureReason(err)
		f.metrics.recreations.WithLabelValues(reason).Inc()
		f.log.Warn("recreating producer", "reason", reason, "err", scrub(&f.cfg, err.Error()), "backoff", backoff)
		if s.acked.Load() > 0 {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, f.cfg.RetryBackoff)
	}
}

// LastError is the most recent reason a producer session ended (scrubbed of
// credentials), or "" when none has.
func (f *Forwarder) LastError() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

func (f *Forwarder) setLastError(err error) {
	f.mu.Lock()
	f.lastErr = scrub(&f.cfg, err.Error())
	f.mu.Unlock()
}

const minBackoff = 100 * time.Millisecond

var (
	errStalled = errors.New("no delivery report within the delivery timeout")
	errFatal   = errors.New("fatal producer error")
)

func failureReason(err error) string {
	var kerr kafka.Error
	switch {
	case errors.Is(err, errStalled):
		return "stalled"
	case errors.Is(err, errFatal):
		return "fatal"
	case errors.As(err, &kerr):
		return "delivery"
	default:
		return "buffer"
	}
}

func wrapKafka(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}
