package auditrelay

import "github.com/confluentinc/confluent-kafka-go/v2/kafka"

// clientConfig completes m with what the relay's producer and the
// reader share: the brokers and the connection's protection.
func clientConfig(cfg Config, m kafka.ConfigMap) *kafka.ConfigMap {
	m["bootstrap.servers"] = cfg.Brokers
	cfg.Security.Apply(m)
	return &m
}
