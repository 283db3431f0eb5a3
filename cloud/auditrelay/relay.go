// Package auditrelay sends the audit trail to the Kafka topic audit_trail:
// it produces the transactional outbox (records queued in the transaction
// that wrote them) and the signed checkpoints, in chain order, and deletes
// a record from the outbox only after Kafka has acknowledged it. Delivery
// is at least once: a crash between acknowledgement and delete sends a
// record again, and consumers drop repeats by seq. With several cloud
// replicas only the holder of the relay lease (a PostgreSQL advisory lock)
// produces.
package auditrelay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/kafkasec"
)

// Key is the key of every message: one key keeps the whole trail in one
// partition, so the topic holds it in chain order.
const Key = "audit_trail"

// Message kinds.
const (
	KindRecord     = "record"
	KindCheckpoint = "checkpoint"
)

// Message is the value of every message of the topic.
type Message struct {
	Type       string                     `json:"type"`
	Seq        int64                      `json:"seq"`
	Record     json.RawMessage            `json:"record,omitempty"`
	Checkpoint *auditrec.SignedCheckpoint `json:"checkpoint,omitempty"`
}

// Config says where and how to relay.
type Config struct {
	Brokers string // bootstrap servers; empty disables the relay
	Topic   string // default audit_trail
	// Security protects the connection (TLS, SASL); the zero value is
	// plaintext.
	Security kafkasec.Config
	// MinInsyncReplicas and ReplicationFactor apply when the relay creates
	// the topic; 0 leaves them to the broker's defaults.
	MinInsyncReplicas int
	ReplicationFactor int
	Interval          time.Duration // outbox poll when idle (default 1s)
	Batch             int           // records per round (default 500)
	// Metrics, when set (NewMetrics), count what the relay does.
	Metrics *Metrics
}

func (c *Config) defaults() {
	if c.Topic == "" {
		c.Topic = "audit_trail"
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Metrics == nil {
		c.Metrics, _ = NewMetrics(nil, nil) // unregistered: no error
	}
}

// Outbox is the relay's view of the store (store.AuditRepo).
type Outbox interface {
	OutboxBatch(n int) ([]store.AuditOutboxItem, error)
	DeleteOutbox(upTo int64) error
	PendingCheckpoints() ([]auditrec.SignedCheckpoint, error)
	MarkCheckpointRelayed(seq int64) error
}

// Leaser grants the relay lease (store.Store).
type Leaser interface {
	AcquireRelayLease(ctx context.Context) (*store.RelayLease, error)
}

// Relay produces the outbox to Kafka. Start it once; Close stops it.
type Relay struct {
	cfg    Config
	outbox Outbox
	leaser Leaser
	log    *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	active atomic.Bool
}

// New returns a relay of outbox to cfg.Brokers.
func New(cfg Config, outbox Outbox, leaser Leaser, log *slog.Logger) *Relay {
	cfg.defaults()
	return &Relay{cfg: cfg, outbox: outbox, leaser: leaser, log: log.With("component", "audit-relay")}
}

// Start runs the relay in the background until Close.
func (r *Relay) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
}

// Close stops the relay: a round in flight is abandoned (its records stay
// in the outbox and go again at the next start), the producer closed and
// the lease released.
func (r *Relay) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	return nil
}

// Active reports whether this relay holds the lease.
func (r *Relay) Active() bool { return r.active.Load() }

func (r *Relay) run(ctx context.Context) {
	var (
		lease *store.RelayLease
		prod  *producer
	)
	defer func() {
		if prod != nil {
			prod.close()
		}
		if lease != nil {
			lease.Release()
		}
		r.setActive(false)
	}()
	for ctx.Err() == nil {
		if lease != nil && !lease.Held(ctx) && ctx.Err() == nil {
			r.log.Warn("relay lease lost")
			lease.Release()
			lease = nil
			r.setActive(false)
		}
		if lease == nil {
			var err error
			if lease, err = r.leaser.AcquireRelayLease(ctx); err != nil {
				if !errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
					r.log.Warn("relay lease", "err", err)
					r.cfg.Metrics.errors.Inc()
				}
				lease = nil
				r.sleep(ctx)
				continue
			}
			r.setActive(true)
			r.log.Info("audit relay active", "topic", r.cfg.Topic)
		}
		if prod == nil {
			var err error
			if prod, err = newProducer(r.cfg, r.log); err != nil {
				r.log.Error("audit relay producer", "err", r.cfg.Security.Scrub(err.Error()))
				r.cfg.Metrics.errors.Inc()
				r.sleep(ctx)
				continue
			}
			if err := ensureTopic(ctx, prod.p, r.cfg, r.log); err != nil {
				r.log.Warn("audit topic", "topic", r.cfg.Topic, "err", r.cfg.Security.Scrub(err.Error()))
			}
		}
		n, err := r.round(ctx, prod)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("audit relay round", "err", r.cfg.Security.Scrub(err.Error()))
			r.cfg.Metrics.errors.Inc()
		}
		if prod.fatal() {
			// An idempotent producer that failed fatally (the broker lost
			// its state, say) cannot go on; a new one starts a new
			// sequence. The outbox still holds what was not acknowledged.
			prod.close()
			prod = nil
		}
		if n == 0 || err != nil {
			r.sleep(ctx)
		}
	}
}

func (r *Relay) setActive(on bool) {
	r.active.Store(on)
	r.cfg.Metrics.setActive(on)
}

func (r *Relay) sleep(ctx context.Context) {
	t := time.NewTimer(r.cfg.Interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// round relays one batch of records and then the checkpoints they
// complete; it returns how many messages Kafka acknowledged.
func (r *Relay) round(ctx context.Context, prod *producer) (int, error) {
	items, err := r.outbox.OutboxBatch(r.cfg.Batch)
	if err != nil {
		return 0, err
	}
	msgs := make([]Message, len(items))
	for i, it := range items {
		msgs[i] = Message{Type: KindRecord, Seq: it.Seq, Record: json.RawMessage(it.Payload)}
	}
	acked, err := prod.send(ctx, r.cfg.Topic, msgs)
	if acked > 0 {
		// Acknowledged in order: the first acked records are in Kafka.
		if derr := r.outbox.DeleteOutbox(items[acked-1].Seq); derr != nil {
			return acked, derr
		}
		r.cfg.Metrics.relayed.Add(float64(acked))
	}
	if err != nil || acked < len(items) {
		return acked, err
	}
	cps, err := r.outbox.PendingCheckpoints()
	if err != nil {
		return acked, err
	}
	for _, cp := range cps {
		cp := cp
		n, err := prod.send(ctx, r.cfg.Topic, []Message{{Type: KindCheckpoint, Seq: cp.Seq, Checkpoint: &cp}})
		if err != nil || n != 1 {
			return acked, err
		}
		if err := r.outbox.MarkCheckpointRelayed(cp.Seq); err != nil {
			return acked, err
		}
		acked++
	}
	return acked, nil
}

// producer is one idempotent librdkafka producer and the reader of its
// event channel.
type producer struct {
	p       *kafka.Producer
	log     *slog.Logger
	sec     kafkasec.Config // scrubs what librdkafka says
	errs    prometheus.Counter
	mu      sync.Mutex
	isFatal bool
	events  chan struct{} // closed when watch returns
	logs    chan struct{} // closed when forwardLogs returns
}

func newProducer(cfg Config, log *slog.Logger) (*producer, error) {
	p, err := kafka.NewProducer(clientConfig(cfg, kafka.ConfigMap{
		"client.id":          "streamforge-cloud-audit",
		"enable.idempotence": true,
		"acks":               "all",
		// Infinite: an outage longer than any timeout must not turn into
		// failed deliveries and resends out of order; the outbox, not
		// librdkafka's queue, is what survives a restart.
		"message.timeout.ms": 0,
		"linger.ms":          5,
		// librdkafka's own log lines go to our logger, not to stderr.
		"go.logs.channel.enable": true,
	}))
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	pr := &producer{p: p, log: log, sec: cfg.Security, errs: cfg.Metrics.errors, events: make(chan struct{}), logs: make(chan struct{})}
	go pr.watch()
	go pr.forwardLogs()
	return pr, nil
}

// forwardLogs passes librdkafka's log lines on: errors and warnings (an
// unreachable broker) as warnings, the rest at debug level.
func (pr *producer) forwardLogs() {
	defer close(pr.logs)
	for l := range pr.p.Logs() {
		level := slog.LevelDebug
		if l.Level <= 4 {
			level = slog.LevelWarn
		}
		pr.log.Log(context.Background(), level, "librdkafka", "tag", l.Tag, "msg", pr.sec.Scrub(l.Message))
	}
}

// watch reads the producer's own events (errors, logs); delivery reports
// go to each send's channel. A refused login or TLS handshake is an error
// of its own: librdkafka keeps retrying it, and the records wait in its
// queue (no message timeout) and in the outbox, so without the metric and
// the warning nothing would show that the relay is stuck.
func (pr *producer) watch() {
	defer close(pr.events)
	for ev := range pr.p.Events() {
		e, ok := ev.(kafka.Error)
		if !ok {
			continue
		}
		msg := pr.sec.Scrub(e.Error())
		switch {
		case e.IsFatal():
			pr.mu.Lock()
			pr.isFatal = true
			pr.mu.Unlock()
			pr.log.Error("audit relay producer failed fatally", "err", msg)
		case kafkasec.IsAuthFailure(e):
			pr.errs.Inc()
			pr.log.Warn("audit relay: the broker refused the login or the TLS handshake", "code", e.Code().String(), "err", msg)
		default:
			pr.log.Debug("audit relay producer", "err", msg)
		}
	}
}

func (pr *producer) fatal() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.isFatal
}

// send produces msgs in order and waits for their delivery reports; it
// returns how many of the first messages were acknowledged.
func (pr *producer) send(ctx context.Context, topic string, msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	reports := make(chan kafka.Event, len(msgs))
	for i, m := range msgs {
		v, err := json.Marshal(m)
		if err != nil {
			return 0, fmt.Errorf("encode audit message %d: %w", m.Seq, err)
		}
		err = pr.p.Produce(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key:            []byte(Key), Value: v, Opaque: i,
		}, reports)
		if err != nil {
			return 0, fmt.Errorf("produce audit message %d: %w", m.Seq, err)
		}
	}
	ok := make([]bool, len(msgs))
	var firstErr error
	for range msgs {
		select {
		case <-ctx.Done():
			return prefix(ok), ctx.Err()
		case ev := <-reports:
			m, isMsg := ev.(*kafka.Message)
			if !isMsg {
				continue
			}
			i, _ := m.Opaque.(int)
			if m.TopicPartition.Error != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("deliver audit message %d: %w", msgs[i].Seq, m.TopicPartition.Error)
				}
				continue
			}
			ok[i] = true
		}
	}
	return prefix(ok), firstErr
}

func prefix(ok []bool) int {
	for i, b := range ok {
		if !b {
			return i
		}
	}
	return len(ok)
}

func (pr *producer) close() {
	_ = pr.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight)
	pr.p.Close()
	<-pr.events
	<-pr.logs
}
