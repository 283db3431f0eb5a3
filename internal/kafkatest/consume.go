// Package kafkatest reads what the agent wrote to Kafka and checks the data
// path's promises: every reading present, the first copy of each stream's
// readings in sequence order, and duplicates only as repeated sequence
// numbers. It uses franz-go's client, independent of the librdkafka producer
// under test. tests/kafka holds the Apache Kafka pom and the kfake broker
// command (cmd/kfake-broker).
package kafkatest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Record is one consumed message with its decoded body.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Body      Body
}

// Body is the JSON record schema of docs/record-schema.md (both kinds).
type Body struct {
	Schema      string    `json:"schema"`
	Event       string    `json:"event"`
	PrevQuality string    `json:"prev_quality"`
	GatewayID   string    `json:"gateway_id"`
	Device      string    `json:"device"`
	Tag         string    `json:"tag"`
	Type        string    `json:"type"`
	Value       any       `json:"value"`
	Quality     string    `json:"quality"`
	SourceTime  time.Time `json:"source_time"`
	Seq         uint64    `json:"seq"`
	Backlog     bool      `json:"backlog"`
}

// Conn says how to reach the broker.
type Conn struct {
	Brokers        string
	User, Password string // SCRAM-SHA-512 when set
	CAFile         string // TLS when set
	// CertFile and KeyFile, with CAFile, are the client certificate for a
	// broker that requires one (mutual TLS).
	CertFile, KeyFile string
}

func (c Conn) opts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(c.Brokers, ",")...)}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if c.User != "" {
		opts = append(opts, kgo.SASL(scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()))
	}
	return opts, nil
}

// Read consumes topic from the start until done(records so far) is true or
// the timeout passes, and returns what it read in partition order.
func Read(ctx context.Context, c Conn, topic string, timeout time.Duration, done func([]Record) bool) ([]Record, error) {
	var out []Record
	if done(out) {
		return out, nil
	}
	err := Scan(ctx, c, topic, timeout, func(batch []Record) bool {
		out = append(out, batch...)
		return done(out)
	})
	return out, err
}

// Scan consumes topic from the start and hands each fetched batch to fn
// (which must not keep it) until fn returns true or the timeout passes: for
// topics too large to hold in memory.
func Scan(ctx context.Context, c Conn, topic string, timeout time.Duration, fn func([]Record) bool) error {
	opts, err := c.opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var batch []Record
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %d records after %s: %w", topic, n, timeout, ctx.Err())
		}
		for _, e := range fs.Errors() {
			if e.Err != context.Canceled {
				return fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
			}
		}
		var derr error
		batch = batch[:0]
		fs.EachRecord(func(r *kgo.Record) {
			rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key)}
			if err := json.Unmarshal(r.Value, &rec.Body); err != nil && derr == nil {
				derr = fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			batch = append(batch, rec)
		})
		if derr != nil {
			return derr
		}
		n += len(batch)
		if fn(batch) {
			return nil
		}
	}
}

// Report is what Check found.
type Report struct {
	Streams    int
	Unique     int // distinct (stream, seq) pairs
	Duplicates int // repeated (stream, seq) pairs
}

// Check verifies records of one topic against want (stream key -> highest
// sequence number expected; sequences start at first[key], default 1):
// every sequence present, the first copy of each in increasing order within
// its stream, a stream on one partition, and nothing unexpected.
func Check(recs []Record, want map[string]uint64, first map[string]uint64) (Report, error) {
	ck := NewChecker(first)
	for _, r := range recs {
		if err := ck.Add(r); err != nil {
			return ck.rep, err
		}
	}
	return ck.Done(want)
}

// Checker is Check one record at a time, in memory per stream, not per
// record: since first copies must come in order, a seq below the next one
// expected has been seen, so it is a duplicate.
type Checker struct {
	first   map[string]uint64
	streams map[string]*streamState
	rep     Report
}

type streamState struct {
	start, next uint64
	partition   int32
}

// NewChecker starts a check; first is as for Check.
func NewChecker(first map[string]uint64) *Checker {
	return &Checker{first: first, streams: map[string]*streamState{}}
}

// Add checks the next record of the topic.
func (ck *Checker) Add(r Record) error {
	st := ck.streams[r.Key]
	if st == nil {
		start := ck.first[r.Key]
		if start == 0 {
			start = 1
		}
		st = &streamState{start: start, next: start, partition: r.Partition}
		ck.streams[r.Key] = st
	}
	if r.Partition != st.partition {
		return fmt.Errorf("stream %s on partitions %d and %d", r.Key, st.partition, r.Partition)
	}
	seq := r.Body.Seq
	switch {
	case seq >= st.start && seq < st.next:
		ck.rep.Duplicates++
	case seq == st.next:
		st.next++
		ck.rep.Unique++
	default:
		return fmt.Errorf("stream %s: seq %d at %s/%d@%d, want %d next (gap or reorder)",
			r.Key, seq, r.Topic, r.Partition, r.Offset, st.next)
	}
	return nil
}

// Last is the highest seq seen in order per stream.
func (ck *Checker) Last() map[string]uint64 {
	out := make(map[string]uint64, len(ck.streams))
	for k, st := range ck.streams {
		out[k] = st.next - 1
	}
	return out
}

// Done checks that every stream of want reached its last seq, and no other
// stream appeared.
func (ck *Checker) Done(want map[string]uint64) (Report, error) {
	rep := ck.rep
	for key, max := range want {
		st := ck.streams[key]
		if st == nil || st.next != max+1 {
			got := uint64(0)
			if st != nil {
				got = st.next - 1
			}
			return rep, fmt.Errorf("stream %s: last seq %d, want %d", key, got, max)
		}
	}
	if len(ck.streams) != len(want) {
		return rep, fmt.Errorf("%d streams in Kafka, want %d", len(ck.streams), len(want))
	}
	rep.Streams = len(ck.streams)
	return rep, nil
}

// Unique counts distinct (stream, seq) pairs, for a done func of Read.
func Unique(recs []Record) int {
	seen := make(map[string]map[uint64]bool)
	n := 0
	for _, r := range recs {
		m := seen[r.Key]
		if m == nil {
			m = map[uint64]bool{}
			seen[r.Key] = m
		}
		if !m[r.Body.Seq] {
			m[r.Body.Seq] = true
			n++
		}
	}
	return n
}

// Order is Check for lossy buffer policies: the first copy of each stream's
// readings must be in increasing seq order, but seqs may be missing (the
// buffer dropped them). It returns how many are missing below each stream's
// highest seq.
func Order(recs []Record) (rep Report, missing int, err error) {
	last := map[string]uint64{}
	seen := map[string]map[uint64]bool{}
	for _, r := range recs {
		s := seen[r.Key]
		if s == nil {
			s = map[uint64]bool{}
			seen[r.Key] = s
		}
		seq := r.Body.Seq
		switch {
		case s[seq]:
			rep.Duplicates++
		case seq < last[r.Key]:
			return rep, missing, fmt.Errorf("stream %s: seq %d at %s/%d@%d after %d (reorder)",
				r.Key, seq, r.Topic, r.Partition, r.Offset, last[r.Key])
		default:
			missing += int(seq - last[r.Key] - 1)
			last[r.Key] = seq
			s[seq] = true
			rep.Unique++
		}
	}
	rep.Streams = len(last)
	return rep, missing, nil
}

// Flows is what CheckFlows found of one stream delivered with drain order
// live_first.
type Flows struct {
	FirstLive uint64 // lowest seq sent live (0: none)
	Backlog   int    // first copies flagged "backlog"
	// LiveAhead: a live reading was written before one of the backlog's,
	// that is, live data overtook the backlog.
	LiveAhead bool
}

// CheckFlows is Check for drain order live_first: every seq of want present
// (from 1), the stream on one partition, and the first copies in increasing
// seq order within each flow (live, and "backlog": true) rather than overall.
func CheckFlows(recs []Record, want map[string]uint64) (Report, map[string]*Flows, error) {
	type state struct {
		Flows
		partition  int32
		last       [2]uint64 // last first-copy seq: live, backlog
		seen       map[uint64]bool
		liveBefore bool
	}
	streams := map[string]*state{}
	var rep Report
	for _, r := range recs {
		st := streams[r.Key]
		if st == nil {
			st = &state{partition: r.Partition, seen: map[uint64]bool{}}
			streams[r.Key] = st
		}
		if r.Partition != st.partition {
			return rep, nil, fmt.Errorf("stream %s on partitions %d and %d", r.Key, st.partition, r.Partition)
		}
		seq := r.Body.Seq
		if st.seen[seq] {
			rep.Duplicates++
			continue
		}
		st.seen[seq] = true
		rep.Unique++
		flow := 0
		if r.Body.Backlog {
			flow = 1
			st.Backlog++
			st.LiveAhead = st.LiveAhead || st.liveBefore
		} else {
			st.liveBefore = true
			if st.FirstLive == 0 {
				st.FirstLive = seq
			}
		}
		if seq <= st.last[flow] {
			return rep, nil, fmt.Errorf("stream %s: seq %d at %s/%d@%d after %d in the %s flow (reorder)",
				r.Key, seq, r.Topic, r.Partition, r.Offset, st.last[flow], [2]string{"live", "backlog"}[flow])
		}
		st.last[flow] = seq
	}
	out := make(map[string]*Flows, len(streams))
	for key, max := range want {
		st := streams[key]
		if st == nil {
			return rep, nil, fmt.Errorf("stream %s: nothing in Kafka, want seq 1..%d", key, max)
		}
		for seq := uint64(1); seq <= max; seq++ {
			if !st.seen[seq] {
				return rep, nil, fmt.Errorf("stream %s: seq %d missing (want 1..%d)", key, seq, max)
			}
		}
		out[key] = &st.Flows
	}
	if len(streams) != len(want) {
		return rep, nil, fmt.Errorf("%d streams in Kafka, want %d", len(streams), len(want))
	}
	rep.Streams = len(streams)
	return rep, out, nil
}

// ReadAll consumes topic from its start up to the end offsets it has when
// ReadAll is called: everything written before, once the writer is done.
func ReadAll(ctx context.Context, c Conn, topic string, timeout time.Duration) ([]Record, error) {
	end, err := EndOffsets(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	read := map[int32]int64{}
	seen := 0
	return Read(ctx, c, topic, timeout, func(recs []Record) bool {
		for _, r := range recs[seen:] {
			read[r.Partition] = max(read[r.Partition], r.Offset+1)
		}
		seen = len(recs)
		for p, off := range end {
			if read[p] < off {
				return false
			}
		}
		return true
	})
}
