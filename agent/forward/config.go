package forward

import (
	"strconv"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/pkg/pipeline"
)

// Config is the forwarder's part of the agent configuration; its schema
// and validation live in pkg/pipeline, which the control plane shares.
type Config = pipeline.Kafka

// Security is the broker connection's protection.
type Security = pipeline.KafkaSecurity

// Drain orders (Config.DrainOrder).
const (
	FIFO      = pipeline.FIFO
	LiveFirst = pipeline.LiveFirst
)

// producerConfig is the librdkafka configuration for one producer session.
func producerConfig(c *Config) *kafka.ConfigMap {
	m := kafka.ConfigMap{
		"bootstrap.servers":                     c.Brokers,
		"client.id":                             "streamforge-agent",
		"enable.idempotence":                    true,
		"acks":                                  "all",
		"max.in.flight.requests.per.connection": 5,
		"message.timeout.ms":                    0, // infinite: see the package doc
		"compression.type":                      c.Compression,
		"linger.ms":                             strconv.FormatFloat(float64(c.Linger.Microseconds())/1000, 'f', -1, 64),
		"batch.size":                            c.BatchBytes,
		"batch.num.messages":                    100000,
		// Two messages per record at most (telemetry and event): the
		// message count never fills before the window does. The byte bound
		// comes from the memory budget; records larger than estimated can
		// reach it, and produce then waits for delivery reports.
		"queue.buffering.max.messages": 2*c.Window + 1000,
		"queue.buffering.max.kbytes":   int(max(c.QueueBytes()>>10, 1024)),
		// The Go client's channels default to a million entries (24 MB,
		// allocated up front); delivery reports need no more than the
		// window, and ProduceChannel is not used.
		"go.events.channel.size":    2*c.Window + 1000,
		"go.produce.channel.size":   0,
		"reconnect.backoff.ms":      100,
		"reconnect.backoff.max.ms":  2000,
		"go.logs.channel.enable":    true,
		"go.delivery.report.fields": "none", // reports need no copy of key and value
	}
	c.Security.Sec().Apply(m)
	for k, v := range c.Librdkafka {
		m[k] = v
	}
	return &m
}

// scrub removes the password from text that came from librdkafka.
func scrub(c *Config, s string) string { return c.Security.Sec().Scrub(s) }
