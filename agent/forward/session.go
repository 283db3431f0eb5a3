package forward

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/pkg/kafkasec"
)

// session is one producer's life: it reads the buffer from its oldest
// record, produces, and acknowledges delivered records, until ctx ends or
// something fails. Everything not acknowledged stays in the buffer for the
// next session.
type session struct {
	f    *Forwarder
	p    *kafka.Producer
	logs chan kafka.LogEvent // closed after the producer
	done <-chan struct{}     // the session's context ends

	messages atomic.Int64 // produced, report pending
	records  atomic.Int64 // produced, not yet fully delivered
	acked    atomic.Int64
	progress atomic.Int64 // unix nanos of the last report (or first produce)
	freed    chan struct{}

	stop     chan struct{} // closed when the session must end
	failOnce sync.Once
	err      error

	prevQuality    map[string]adapters.Quality // per stream, as last produced
	backlogQuality map[string]adapters.Quality // the same for the backlog (live_first)
	key, val, ev   []byte                      // encoding scratch
	topics         [2]string                   // telemetry, events
	msg            kafka.Message
	clientErr      atomic.Pointer[string] // last (scrubbed) client error
	brokersDown    atomic.Bool            // librdkafka reported all brokers down, no report since
	// outage is brokersDown for produceLiveFirst's pause, which a probe may
	// also clear: the watchdog keeps trusting reports only.
	outage   atomic.Bool
	probedOK time.Time // last probe a broker answered; produce loop only

	purgedMu sync.Mutex
	purged   []uint64 // records purged unsent (live_first): to go again as backlog
}

// pending tracks one record's outstanding messages (telemetry, event).
type pending struct {
	id     uint64
	left   atomic.Int32
	purged atomic.Bool // a message of it was purged from librdkafka's queue
}

func newSession(f *Forwarder) (*session, error) {
	conf := producerConfig(&f.cfg)
	// Our own log channel: the client's default holds 10,000 lines.
	logs := make(chan kafka.LogEvent, 256)
	(*conf)["go.logs.channel"] = logs
	p, err := kafka.NewProducer(conf)
	if err != nil {
		return nil, fmt.Errorf("forward: create producer: %s", scrub(&f.cfg, err.Error()))
	}
	return &session{
		f: f, p: p, logs: logs, freed: make(chan struct{}, 1), stop: make(chan struct{}),
		prevQuality: map[string]adapters.Quality{}, backlogQuality: map[string]adapters.Quality{},
		topics: [2]string{f.cfg.TelemetryTopic, f.cfg.EventsTopic},
	}, nil
}

func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.err = err
		close(s.stop)
	})
}

func (s *session) run(ctx context.Context) error {
	reports := make(chan struct{})
	go func() { defer close(reports); s.handleEvents() }()
	go s.handleLogs()
	go s.watch()
	go s.f.metrics.sampleRate(s.stop)

	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.stop:
		case <-sctx.Done():
		}
		cancel()
	}()
	s.done = sctx.Done()
	produceErr := s.produceLoop(sctx)
	cancel()
	if ctx.Err() != nil && produceErr == nil {
		s.flush(s.f.cfg.FlushTimeout)
	}
	s.fail(produceErr) // no-op if already failed
	if err := s.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight); err != nil {
		s.f.log.Warn("purge producer", "err", scrub(&s.f.cfg, err.Error()))
	}
	s.awaitReports(5 * time.Second)
	s.p.Close()
	close(s.logs)
	<-reports
	s.f.metrics.inFlight.Set(0)
	return s.err
}

// flush lets in-flight records land on shutdown, for up to limit, but only
// while a broker answers: with every broker down, or no report for
// flushIdle, it returns at once. The buffer is durable, so what is still in
// flight is purged and sent again after the restart, with the same seq;
// waiting would only keep the agent from stopping (and from polling, if it
// is restarted).
func (s *session) flush(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for s.messages.Load() > 0 && time.Now().Before(deadline) && !s.brokersDown.Load() &&
		time.Since(time.Unix(0, s.progress.Load())) < flushIdle {
		time.Sleep(5 * time.Millisecond)
	}
}

const flushIdle = time.Second

// awaitReports waits until every produced message has its report.
func (s *session) awaitReports(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for s.messages.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// produceLoop reads the buffer oldest first and produces, keeping at most
// Window records in flight and at most DrainRate per second.
func (s *session) produceLoop(ctx context.Context) error {
	cfg := &s.f.cfg
	if cfg.DrainOrder == LiveFirst {
		return s.produceLiveFirst(ctx)
	}
	var after uint64  // 0: the oldest record still in the buffer
	var recs []Record // reused: librdkafka copies what it keeps
	for room := s.room(ctx); room > 0; room = s.room(ctx) {
		var err error
		if recs, err = s.read(recs, after, room); err != nil {
			return err
		}
		if len(recs) == 0 {
			if err := s.f.src.Wait(ctx, after); err != nil && ctx.Err() == nil {
				return fmt.Errorf("wait for buffer: %w", err)
			}
			continue
		}
		if err := s.f.pace.wait(ctx, len(recs)); err != nil {
			return nil
		}
		if err := s.produceRecords(recs, false); err != nil {
			return err
		}
		after = recs[len(recs)-1].ID
	}
	return nil
}

// room waits until fewer than Window records are in flight and returns how
// many more may go; 0 once ctx ends.
func (s *session) room(ctx context.Context) int {
	for ctx.Err() == nil {
		if room := s.f.cfg.Window - int(s.records.Load()); room > 0 {
			return room
		}
		select {
		case <-s.freed:
		case <-ctx.Done():
		}
	}
	return 0
}

// read reads up to max (at most ReadBatch) records after an ID into dst.
func (s *session) read(dst []Record, after uint64, max int) ([]Record, error) {
	recs, err := s.f.src.Read(dst, after, min(max, s.f.cfg.ReadBatch))
	if err != nil {
		return recs, fmt.Errorf("read buffer: %w", err)
	}
	return recs, nil
}

// span is a stretch of the buffer set aside as backlog: IDs in (after,
// until]. A span made by mergePurged takes only some of them (ids, ranges).
type span struct {
	after, until uint64
	ids          map[uint64]struct{}
	ranges       [][2]uint64 // (from, to]
}

func (sp *span) keeps(id uint64) bool {
	if sp.ids == nil {
		return true
	}
	if _, ok := sp.ids[id]; ok {
		return true
	}
	for _, r := range sp.ranges {
		if id > r[0] && id <= r[1] {
			return true
		}
	}
	return false
}

// mergePurged returns the backlog with purged records added, as one span
// that takes what is left of every span and the purged IDs, oldest first:
// purged records can be older than a span's position (backlog records
// purged in flight), and the backlog flow must stay in order per stream.
func mergePurged(backlog []span, purged []uint64) []span {
	m := span{after: purged[0] - 1, until: purged[0], ids: map[uint64]struct{}{}}
	add := func(id uint64) {
		m.ids[id] = struct{}{}
		m.after, m.until = min(m.after, id-1), max(m.until, id)
	}
	for _, id := range purged {
		add(id)
	}
	for _, sp := range backlog {
		switch {
		case sp.after >= sp.until:
		case sp.ids == nil:
			m.ranges = append(m.ranges, [2]uint64{sp.after, sp.until})
			m.after, m.until = min(m.after, sp.after), max(m.until, sp.until)
		default:
			for id := range sp.ids {
				if id > sp.after {
					add(id)
				}
			}
			for _, r := range sp.ranges {
				if r[1] > sp.after {
					m.ranges = append(m.ranges, [2]uint64{max(r[0], sp.after), r[1]})
					m.after, m.until = min(m.after, max(r[0], sp.after)), max(m.until, r[1])
				}
			}
		}
	}
	return []span{m}
}

// pauseWhileDown (live_first) stops producing while librdkafka reports
// every broker down: what it queued now would arrive after the outage
// without the backlog flag, minutes old. With OutagePurge it also purges
// what is queued (the reports bring those records back through requeue, to
// go as backlog); it probes for a broker before producing again. The purge
// is not the default because librdkafka's queue also holds retries of
// requests the broker may have written: against Apache Kafka, stopped
// during a 5,000 readings/s stream, it repeated about 600 of 1,900 purged.
func (s *session) pauseWhileDown(ctx context.Context) {
	purged := false
	for s.outage.Load() && ctx.Err() == nil {
		// librdkafka also says "all brokers down" while it swaps
		// connections: a broker that answers at once means no outage, and
		// nothing is purged.
		if _, err := s.p.GetMetadata(nil, false, int(probeEvery.Milliseconds())); err == nil {
			s.outage.Store(false)
			s.probedOK = time.Now()
			return
		}
		if !purged && s.f.cfg.OutagePurge && s.messages.Load() > 0 {
			if err := s.p.Purge(kafka.PurgeQueue | kafka.PurgeNonBlocking); err != nil {
				s.f.log.Warn("purge producer queue", "err", scrub(&s.f.cfg, err.Error()))
			}
			purged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(probeEvery / 2):
		}
	}
}

const probeEvery = 300 * time.Millisecond

// seemsDown is the pause condition: librdkafka reported every broker down,
// or reported it, no delivery report came since, and records in flight have
// had none for a while (librdkafka does not repeat the report when an
// outage resumes just after a probe got through).
func (s *session) seemsDown() bool {
	if s.outage.Load() {
		return true
	}
	quiet := 2 * probeEvery
	if !s.brokersDown.Load() || s.messages.Load() == 0 || time.Since(time.Unix(0, s.progress.Load())) < quiet ||
		time.Since(s.probedOK) < quiet {
		return false
	}
	s.outage.Store(true)
	return true
}

// produceLiveFirst sends what the adapters store now ahead of a backlog.
// When the oldest record not yet sent has waited longer than LiveLag (an
// outage, a slow uplink, a new session over a full buffer), everything
// stored up to now is set aside as backlog; from then on new records go at
// once, and the backlog drains behind them, oldest first, at most DrainRate
// per second, each record flagged "backlog": true.
func (s *session) produceLiveFirst(ctx context.Context) error {
	cfg := &s.f.cfg
	var live uint64 // the last record sent live; 0: start at the oldest
	var backlog []span
	var recs []Record
	for room := s.room(ctx); room > 0; room = s.room(ctx) {
		if s.seemsDown() {
			s.pauseWhileDown(ctx)
			continue
		}
		if ids := s.takePurged(); len(ids) > 0 {
			backlog = mergePurged(backlog, ids)
		}
		var err error
		if recs, err = s.read(recs, live, room); err != nil {
			return err
		}
		if len(recs) > 0 && time.Since(recs[0].Stored) > cfg.LiveLag {
			last := max(s.f.src.LastID(), recs[len(recs)-1].ID)
			backlog = append(backlog, span{after: live, until: last})
			s.f.metrics.setAside.Inc()
			s.f.log.Info("forwarder behind: what is stored now drains as backlog behind live data",
				"oldest_waiting", time.Since(recs[0].Stored).Round(time.Millisecond).String(), "backlog_last_id", last)
			live = last
			continue
		}
		busy := len(recs) > 0
		if busy {
			if err := s.produceRecords(recs, false); err != nil {
				return err
			}
			live = recs[len(recs)-1].ID
			room -= len(recs)
		}
		var retry time.Duration
		if len(backlog) > 0 && room > 0 {
			n, delay := s.f.pace.take(min(room, cfg.ReadBatch))
			if n == 0 {
				retry = delay
			} else {
				sp := &backlog[0]
				if recs, err = s.read(recs, sp.after, n); err != nil {
					return err
				}
				k, kept := 0, 0
				for k < len(recs) && recs[k].ID <= sp.until {
					if sp.keeps(recs[k].ID) {
						recs[kept] = recs[k]
						kept++
					}
					sp.after = recs[k].ID
					k++
				}
				if kept > 0 {
					if err := s.produceRecords(recs[:kept], true); err != nil {
						return err
					}
					s.f.metrics.backlog.Add(float64(kept))
				}
				if k < len(recs) || len(recs) == 0 || sp.after >= sp.until {
					backlog = backlog[1:] // this span is drained
				}
				busy = true
			}
		}
		if busy {
			continue
		}
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if retry > 0 {
			wctx, cancel = context.WithTimeout(ctx, retry)
		}
		err = s.f.src.Wait(wctx, live)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for buffer: %w", err)
		}
	}
	return nil
}

// produceRecords produces records (and their quality events) in order.
// Backlog records carry "backlog": true and have their own quality history,
// so that a late record is not compared with the live ones.
func (s *session) produceRecords(recs []Record, backlog bool) error {
	prevQuality := s.prevQuality
	if backlog {
		prevQuality = s.backlogQuality
	}
	for i := range recs {
		r := &recs[i].Reading
		s.key = appendKey(s.key[:0], r)
		s.val = AppendReading(s.val[:0], r)
		s.ev = s.ev[:0]
		if prev, seen := prevQuality[string(s.key)]; !seen || prev != r.Quality {
			s.ev = AppendEvent(s.ev, r, prevName(prev, seen))
			prevQuality[string(s.key)] = r.Quality
		}
		if backlog {
			s.val = markBacklog(s.val)
			if len(s.ev) > 0 {
				s.ev = markBacklog(s.ev)
			}
		}
		if err := s.produce(recs[i].ID, s.key, s.val, s.ev); err != nil {
			return err
		}
	}
	return nil
}

// appendKey appends r.StreamKey() without building the string.
func appendKey(dst []byte, r *adapters.Reading) []byte {
	dst = append(dst, r.GatewayID...)
	dst = append(dst, '/')
	dst = append(dst, r.Device...)
	dst = append(dst, '/')
	return append(dst, r.Tag...)
}

func prevName(q adapters.Quality, seen bool) string {
	if !seen {
		return "unknown"
	}
	return q.String()
}

func (s *session) produce(id uint64, key, val, ev []byte) error {
	pd := &pending{id: id}
	n := int32(1)
	if len(ev) > 0 {
		n = 2
	}
	pd.left.Store(n)
	if s.records.Add(1) == 1 {
		s.progress.Store(time.Now().UnixNano())
	}
	s.f.metrics.inFlight.Inc()
	bodies := [2][]byte{val, ev}
	for i := range n {
		s.messages.Add(1)
		// librdkafka copies key and value (RD_KAFKA_MSG_F_COPY), so one
		// Message is reused for every produce call.
		s.msg = kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &s.topics[i], Partition: kafka.PartitionAny},
			Key:            key, Value: bodies[i], Opaque: pd,
		}
		if err := s.produceOne(); err != nil {
			s.messages.Add(-1)
			return err
		}
	}
	return nil
}

// produceOne hands s.msg to librdkafka. A full queue (its byte bound, from
// the memory budget) is waited out: delivery reports make room.
func (s *session) produceOne() error {
	for {
		err := s.p.Produce(&s.msg, nil)
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
			if err != nil {
				return wrapKafka("produce", err)
			}
			return nil
		}
		select {
		case <-s.done:
			return wrapKafka("produce", err)
		case <-time.After(queueFullWait):
		}
	}
}

const queueFullWait = 5 * time.Millisecond

// handleEvents takes delivery reports and errors until the producer closes.
// Fully delivered records are acknowledged in batches (every ackEvery or
// ackBatch records): each Ack is a buffer transaction with an fsync, which
// competes with the adapters' commits.
func (s *session) handleEvents() {
	var ids []uint64
	tick := time.NewTicker(ackEvery)
	defer tick.Stop()
	events := s.p.Events()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				s.ack(ids)
				return
			}
			if ids = s.handle(ev, ids); len(ids) >= ackBatch {
				s.ack(ids)
				ids = ids[:0]
			}
		case <-tick.C:
			s.ack(ids)
			ids = ids[:0]
		}
	}
}

const (
	ackEvery = 10 * time.Millisecond
	ackBatch = 20000
)

func (s *session) handle(ev kafka.Event, ids []uint64) []uint64 {
	switch e := ev.(type) {
	case *kafka.Message:
		s.messages.Add(-1)
		s.progress.Store(time.Now().UnixNano())
		pd := e.Opaque.(*pending)
		if err := e.TopicPartition.Error; err != nil {
			if !isPurged(err) {
				s.deliveryFailed(err)
				return ids
			}
			pd.purged.Store(true)
		} else {
			s.brokersDown.Store(false)
			s.outage.Store(false)
			s.f.metrics.delivered.WithLabelValues(*e.TopicPartition.Topic).Inc()
		}
		if pd.left.Add(-1) == 0 {
			if pd.purged.Load() {
				s.requeue(pd.id)
			} else {
				ids = append(ids, pd.id)
			}
		}
	case kafka.Error:
		msg := scrub(&s.f.cfg, e.Error())
		if e.IsFatal() {
			s.fail(fmt.Errorf("%w: %s", errFatal, msg))
			return ids
		}
		s.f.metrics.clientErrs.WithLabelValues(e.Code().String()).Inc()
		if kafkasec.IsAuthFailure(e) {
			s.f.metrics.authFails.Inc()
		}
		if e.Code() == kafka.ErrAllBrokersDown {
			s.brokersDown.Store(true)
			s.outage.Store(true)
		} else { // keep the cause, not its consequence
			s.clientErr.Store(&msg)
			s.f.setLastError(e)
		}
		s.f.log.Warn("kafka client error", "code", e.Code().String(), "err", msg)
	}
	return ids
}

// isPurged reports whether a delivery failed because we purged the message
// (live_first during an outage, or the end of a session).
func isPurged(err error) bool {
	var kerr kafka.Error
	return errors.As(err, &kerr) && (kerr.Code() == kafka.ErrPurgeQueue || kerr.Code() == kafka.ErrPurgeInflight)
}

// requeue takes a purged record out of the window; produceLiveFirst sends
// it again as backlog.
func (s *session) requeue(id uint64) {
	s.purgedMu.Lock()
	s.purged = append(s.purged, id)
	s.purgedMu.Unlock()
	select {
	case <-s.stop: // the purge that ends a session: nothing goes again here
	default:
		s.f.metrics.purged.Inc()
	}
	s.f.metrics.inFlight.Dec()
	s.records.Add(-1)
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

func (s *session) takePurged() []uint64 {
	s.purgedMu.Lock()
	defer s.purgedMu.Unlock()
	ids := s.purged
	s.purged = nil
	return ids
}

func (s *session) deliveryFailed(err error) {
	var kerr kafka.Error
	code := "other"
	if errors.As(err, &kerr) {
		code = kerr.Code().String()
	}
	s.f.metrics.failures.WithLabelValues(code).Inc()
	s.fail(wrapKafka("delivery", err))
}

func (s *session) ack(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	if err := s.f.src.Ack(ids...); err != nil {
		s.fail(fmt.Errorf("ack: %w", err))
		return
	}
	s.acked.Add(int64(len(ids)))
	s.f.metrics.addAcked(len(ids))
	s.f.metrics.inFlight.Sub(float64(len(ids)))
	s.records.Add(-int64(len(ids)))
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// watch recreates a producer whose in-flight records see no report for
// DeliveryTimeout although a broker is reachable: a wedged producer or a
// hung broker. While no broker is reachable it only waits, since librdkafka
// resumes with the same producer id and sequence numbers when one is back,
// and that keeps the outage free of duplicates; a new producer would re-send
// whatever the broker wrote just before it went away.
func (s *session) watch() {
	limit := s.f.cfg.DeliveryTimeout
	t := time.NewTicker(max(limit/10, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.messages.Load() == 0 || time.Since(time.Unix(0, s.progress.Load())) <= limit {
				continue
			}
			if s.brokersDown.Load() {
				continue
			}
			if msg := s.clientErr.Load(); msg != nil {
				s.fail(fmt.Errorf("%w (last client error: %s)", errStalled, *msg))
			} else {
				s.fail(errStalled)
			}
			return
		}
	}
}

// handleLogs forwards librdkafka's log lines, scrubbed, to slog.
func (s *session) handleLogs() {
	for l := range s.p.Logs() {
		s.f.log.Debug("librdkafka", "tag", l.Tag, "msg", scrub(&s.f.cfg, l.Message))
	}
}
