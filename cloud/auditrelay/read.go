package auditrelay

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/pkg/kafkasec"
)

// Trail is the audit trail as read from the topic: records and
// checkpoints in the order the topic holds them, repeats included.
type Trail struct {
	Records     []auditrec.Row
	Checkpoints []auditrec.SignedCheckpoint
}

// ReadTopic reads the whole of cfg.Topic from cfg.Brokers, with the
// relay's connection settings, from its start to the end it has when the
// read begins, without joining a consumer group (it commits nothing).
func ReadTopic(ctx context.Context, cfg Config) (Trail, error) {
	cfg.defaults()
	topic := cfg.Topic
	c, err := kafka.NewConsumer(clientConfig(cfg, kafka.ConfigMap{
		"group.id":             "streamforge-audit-verify", // required by librdkafka; never committed
		"enable.auto.commit":   false,
		"enable.partition.eof": true,
	}))
	if err != nil {
		return Trail{}, fmt.Errorf("kafka consumer: %s", cfg.Security.Scrub(err.Error()))
	}
	defer c.Close()
	md, err := c.GetMetadata(&topic, false, 15000)
	if err != nil {
		// A refused login or handshake shows here as a timeout; librdkafka
		// has logged the cause.
		return Trail{}, fmt.Errorf("topic %s metadata from %s %v: %s", topic, cfg.Brokers, cfg.Security, cfg.Security.Scrub(err.Error()))
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError {
		return Trail{}, fmt.Errorf("topic %s: %v", topic, tm.Error)
	}
	var parts []kafka.TopicPartition
	remaining := map[int32]int64{} // partition -> high watermark
	for _, p := range tm.Partitions {
		_, high, err := c.QueryWatermarkOffsets(topic, p.ID, 15000)
		if err != nil {
			return Trail{}, fmt.Errorf("topic %s[%d] offsets: %w", topic, p.ID, err)
		}
		if high > 0 {
			remaining[p.ID] = high
			parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p.ID, Offset: kafka.OffsetBeginning})
		}
	}
	var t Trail
	if len(parts) == 0 {
		return t, nil
	}
	if err := c.Assign(parts); err != nil {
		return Trail{}, err
	}
	for len(remaining) > 0 {
		if err := ctx.Err(); err != nil {
			return Trail{}, err
		}
		ev := c.Poll(200)
		switch e := ev.(type) {
		case *kafka.Message:
			if err := t.add(e.Value); err != nil {
				return Trail{}, fmt.Errorf("topic %s[%d]@%d: %w", topic, e.TopicPartition.Partition, e.TopicPartition.Offset, err)
			}
			if int64(e.TopicPartition.Offset)+1 >= remaining[e.TopicPartition.Partition] {
				delete(remaining, e.TopicPartition.Partition)
			}
		case kafka.PartitionEOF:
			if int64(e.Offset) >= remaining[e.Partition] {
				delete(remaining, e.Partition)
			}
		case kafka.Error:
			if e.IsFatal() || kafkasec.IsAuthFailure(e) {
				return Trail{}, fmt.Errorf("read topic %s: %s", topic, cfg.Security.Scrub(e.Error()))
			}
		}
	}
	return t, nil
}

func (t *Trail) add(value []byte) error {
	var m Message
	if err := json.Unmarshal(value, &m); err != nil {
		return fmt.Errorf("not an audit message: %w", err)
	}
	switch m.Type {
	case KindRecord:
		var r auditrec.Row
		if err := json.Unmarshal(m.Record, &r); err != nil {
			return fmt.Errorf("record %d: %w", m.Seq, err)
		}
		t.Records = append(t.Records, r)
	case KindCheckpoint:
		if m.Checkpoint != nil {
			t.Checkpoints = append(t.Checkpoints, *m.Checkpoint)
		}
	}
	return nil
}

// readTimeout bounds a whole ReadTopic from the command line.
const readTimeout = 2 * time.Minute

// ReadTopicTimeout is ReadTopic bounded by a fixed time.
func ReadTopicTimeout(ctx context.Context, cfg Config) (Trail, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return ReadTopic(ctx, cfg)
}
