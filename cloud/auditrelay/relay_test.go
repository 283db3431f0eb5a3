package auditrelay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/auditrelay"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/internal/testenv"
)

// replica is one cloud process's audit side: its own database pool and
// relay, as a separate streamforge-cloud would have.
type replica struct {
	st    *store.Store
	relay *auditrelay.Relay
}

func startReplica(t *testing.T, dbURL string, cfg auditrelay.Config, log *slog.Logger) *replica {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{st: st, relay: auditrelay.New(cfg, st.Audit(context.Background()), st, log)}
	r.relay.Start()
	return r
}

func (r *replica) stop() {
	r.relay.Close()
	r.st.Close()
}

// TestRelayDeliversEveryRecordInOrderThroughOutageAndRestart writes audit
// records without pause while the broker (real Apache Kafka) goes away and
// comes back, and while the active cloud replica is stopped and started
// again; a second replica waits on the relay lease and takes over. In the
// end the topic holds every record, in chain order after dropping repeats
// by seq, with the signed checkpoints, and `audit verify --kafka`'s
// comparison agrees with the database.
func TestRelayDeliversEveryRecordInOrderThroughOutageAndRestart(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	broker := testenv.StartKafka(t, testenv.KafkaOpts{Persist: true})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := auditrelay.Config{Brokers: broker.Addr, Topic: "audit_trail", Interval: 50 * time.Millisecond, Batch: 200}

	a := startReplica(t, dbURL, cfg, log)
	testenv.Eventually(t, 30*time.Second, "replica A to hold the relay lease", a.relay.Active)
	b := startReplica(t, dbURL, cfg, log)
	defer b.stop()

	ring, err := configsign.Load(filepath.Join(t.TempDir(), "audit-keys"))
	if err != nil {
		t.Fatal(err)
	}
	writer := b.st // the writes keep coming from the replica that stays up
	cp := audit.NewCheckpointer(writer.Audit(context.Background()), ring, "", time.Hour, log)
	sign := func() {
		t.Helper()
		if _, _, err := cp.Sign(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var written atomic.Int64
	stopWriting, writerDone := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopWriting:
				writerDone <- nil
				return
			default:
			}
			n := written.Load() + 1
			ev := auditrec.Event{EventType: "pipeline.update", User: "relay@example.com", ResourceID: fmt.Sprintf("p%d", n),
				Changes: map[string]auditrec.Change{"n": {New: n}}}
			if _, err := store.AppendAudit(writer.DB, ev); err != nil {
				writerDone <- err
				return
			}
			written.Add(1)
		}
	}()
	outbox := func() int64 {
		n, err := writer.Audit(context.Background()).OutboxLen()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	atLeast := func(n int64) func() bool { return func() bool { return written.Load() >= n } }

	testenv.Eventually(t, time.Minute, "200 records written", atLeast(200))
	sign()
	if b.relay.Active() {
		t.Fatal("two relays active at once")
	}
	broker.Stop() // outage, in the middle of writing
	mark := written.Load()
	testenv.Eventually(t, time.Minute, "records written during the outage", atLeast(mark+300))
	if outbox() == 0 {
		t.Fatal("the outbox drained with the broker down")
	}
	a.stop() // the active replica restarts in the middle of writing and the outage
	testenv.Eventually(t, 30*time.Second, "replica B to take over the relay lease", b.relay.Active)
	a = startReplica(t, dbURL, cfg, log)
	defer a.stop()
	sign()
	broker.Start()
	mark = written.Load()
	testenv.Eventually(t, time.Minute, "records written after the outage", atLeast(mark+300))
	close(stopWriting)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	sign()
	total := written.Load()
	testenv.Eventually(t, 2*time.Minute, "the outbox to drain", func() bool { return outbox() == 0 })
	testenv.Eventually(t, time.Minute, "the checkpoints to be relayed", func() bool {
		cps, err := writer.Audit(context.Background()).PendingCheckpoints()
		return err == nil && len(cps) == 0
	})

	// An independent consumer (franz-go): every record once after dropping
	// repeats by seq, in chain order.
	seqs, checkpoints := consume(t, broker.Addr, cfg.Topic, total, 3)
	if len(seqs) != int(total) {
		t.Fatalf("the topic holds %d distinct records, want %d", len(seqs), total)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("after dropping repeats, record %d of the topic is seq %d: out of order", i, s)
		}
	}

	trail, err := auditrelay.ReadTopicTimeout(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.CompareTopic(writer.Audit(context.Background()), trail.Records, trail.Checkpoints, ring, outbox())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Records != total || rep.Checkpoints != int64(checkpoints) || rep.DBHead != total {
		t.Fatalf("verify --kafka: %+v (want %d records)", rep, total)
	}
	t.Logf("%d records, %d repeats, %d checkpoints", rep.Records, rep.Repeats, rep.Checkpoints)

	// A relay that stops between Kafka's acknowledgement and the outbox
	// delete sends those records again: here the deletes of 100..150 are
	// undone. Consumers see repeats, which dropping by seq removes.
	if err := writer.DB.Exec(`INSERT INTO audit_outbox (seq, payload) SELECT seq, '' FROM audit_log WHERE seq BETWEEN 100 AND 150`).Error; err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the repeats to be relayed", func() bool { return outbox() == 0 })
	if trail, err = auditrelay.ReadTopicTimeout(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.CompareTopic(writer.Audit(context.Background()), trail.Records, trail.Checkpoints, ring, outbox())
	if err != nil || !rep.OK || rep.Records != total || rep.Repeats < 51 {
		t.Fatalf("after resending 100..150: %+v %v", rep, err)
	}

	// And it notices a database edited after the fact.
	if err := writer.DB.Exec(`UPDATE audit_log SET user_email = 'mallory@example.com' WHERE seq = 7`).Error; err != nil {
		t.Fatal(err)
	}
	rep, err = audit.CompareTopic(writer.Audit(context.Background()), trail.Records, trail.Checkpoints, ring, outbox())
	if err != nil || rep.OK || rep.BadSeq != 7 || rep.Kind != audit.TopicVsDB {
		t.Fatalf("an edited database record is not reported: %+v %v", rep, err)
	}
}

// TestRelayCreatesTheTopicAsTheSpecAsks: one partition, retention.ms=-1,
// and min.insync.replicas from the config, on real Apache Kafka.
func TestRelayCreatesTheTopicAsTheSpecAsks(t *testing.T) {
	broker := testenv.StartKafka(t, testenv.KafkaOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := auditrelay.Config{Brokers: broker.Addr, Topic: "audit_trail_settings", MinInsyncReplicas: 2}
	if err := auditrelay.EnsureTopic(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := auditrelay.EnsureTopic(ctx, cfg); err != nil { // an existing topic is fine
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, cfg.Topic
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe configs: %v %+v", err, resp)
	}
	got := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		if c.Value != nil {
			got[c.Name] = *c.Value
		}
	}
	if got["retention.ms"] != "-1" || got["min.insync.replicas"] != "2" {
		t.Fatalf("topic settings: retention.ms=%q min.insync.replicas=%q", got["retention.ms"], got["min.insync.replicas"])
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(cfg.Topic)
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) != 1 {
		t.Fatalf("the audit topic should have one partition: %v %+v", err, mresp)
	}
}

// consume reads the topic from its start until it has seen want distinct
// records and wantCPs checkpoints, and returns the first occurrence of
// each seq in topic order and how many checkpoint messages it saw.
func consume(t *testing.T, addr, topic string, want int64, wantCPs int) (seqs []int64, checkpoints int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last int64
	for last < want || checkpoints < wantCPs {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed up to seq %d of %d and %d of %d checkpoints", last, want, checkpoints, wantCPs)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var m auditrelay.Message
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatalf("offset %d: %v", r.Offset, err)
			}
			if m.Type == auditrelay.KindCheckpoint {
				checkpoints++
				return
			}
			if m.Seq <= last {
				return // a repeat: at least once
			}
			seqs = append(seqs, m.Seq)
			last = m.Seq
		})
	}
	return seqs, checkpoints
}
