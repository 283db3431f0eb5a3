package auditrelay

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ensureTopic creates the topic as the security spec asks: one partition
// (the trail is one ordered stream), kept forever (retention.ms=-1), with
// min.insync.replicas from the config. A broker that refuses a setting
// (a policy, or fewer brokers than the replication asks) gets the topic
// without it, and a warning says so. An existing topic is left as it is.
func ensureTopic(ctx context.Context, p *kafka.Producer, cfg Config, log *slog.Logger) error {
	admin, err := kafka.NewAdminClientFromProducer(p)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rf := cfg.ReplicationFactor
	if rf <= 0 {
		rf = -1 // the broker's default.replication.factor
	}
	settings := map[string]string{"retention.ms": "-1"}
	if cfg.MinInsyncReplicas > 0 {
		settings["min.insync.replicas"] = strconv.Itoa(cfg.MinInsyncReplicas)
	}
	create := func(settings map[string]string) (kafka.ErrorCode, error) {
		res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{
			Topic: cfg.Topic, NumPartitions: 1, ReplicationFactor: rf, Config: settings,
		}}, kafka.SetAdminOperationTimeout(20*time.Second))
		if err != nil {
			return kafka.ErrUnknown, err
		}
		return res[0].Error.Code(), nil
	}
	code, err := create(settings)
	switch {
	case err != nil:
		return err
	case code == kafka.ErrNoError:
		log.Info("audit topic created", "topic", cfg.Topic, "settings", settings)
		return nil
	case code == kafka.ErrTopicAlreadyExists:
		return nil
	case code == kafka.ErrPolicyViolation || code == kafka.ErrInvalidConfig || code == kafka.ErrInvalidReplicationFactor:
		log.Warn("audit topic: broker refused the settings; creating it with the broker's defaults", "topic", cfg.Topic, "code", code)
		if code, err = create(nil); err == nil && code != kafka.ErrNoError && code != kafka.ErrTopicAlreadyExists {
			err = fmt.Errorf("create topic %s: %v", cfg.Topic, code)
		}
		return err
	}
	return fmt.Errorf("create topic %s: %v", cfg.Topic, code)
}
