package forward

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/agent/units"
)

// Drain orders (Config.DrainOrder).
const (
	FIFO      = "fifo"
	LiveFirst = "live_first"
)

// Config is the forwarder's part of the agent configuration.
type Config struct {
	// Brokers is the comma-separated bootstrap list (host:port,...).
	Brokers string `yaml:"brokers"`
	// TelemetryTopic receives every reading (default telemetry.raw).
	TelemetryTopic string `yaml:"telemetry_topic"`
	// EventsTopic receives quality transitions (default events.raw).
	EventsTopic string `yaml:"events_topic"`
	// Compression is lz4 (default), zstd or none.
	Compression string `yaml:"compression"`
	// Linger is how long librdkafka waits to fill a batch (default 5ms).
	Linger time.Duration `yaml:"linger"`
	// BatchBytes caps a produce batch in bytes (default 1 MiB).
	BatchBytes int `yaml:"batch_bytes"`
	// MemoryBudget bounds what the forwarder holds in memory: librdkafka's
	// queue (queue.buffering.max.kbytes, three quarters of it) and, unless
	// set, Window and ReadBatch are derived from it (default 16MiB).
	MemoryBudget units.ByteSize `yaml:"memory_budget"`
	// Window caps the records produced but not yet acknowledged; it bounds
	// librdkafka's memory during an outage (default: what MemoryBudget's
	// queue holds at recordCost per record, at most 20,000).
	Window int `yaml:"window"`
	// ReadBatch is how many records one buffer read takes (default 2,000,
	// less with a small MemoryBudget).
	ReadBatch int `yaml:"read_batch"`
	// DrainRate caps records produced per second (0: no cap). With
	// DrainOrder fifo it caps everything, so set it above the live rate;
	// with live_first it caps the backlog only.
	DrainRate float64 `yaml:"drain_rate"`
	// DrainOrder is fifo (default: strictly oldest first, so every stream
	// keeps its order in Kafka; live data waits behind a backlog) or
	// live_first (live data goes at once and a backlog drains behind it,
	// flagged "backlog": true; see docs/record-schema.md).
	DrainOrder string `yaml:"drain_order"`
	// LiveLag: with live_first, a record that waited longer than this to be
	// sent means the forwarder is behind, and what is stored becomes backlog
	// (default 10s).
	LiveLag time.Duration `yaml:"live_lag"`
	// OutagePurge: with live_first, when every broker goes away, also take
	// back what librdkafka had queued and send it again as backlog, so that
	// no record older than LiveLag arrives unflagged. The cost: a queued
	// message that was a retry of a request the broker had written comes
	// twice (same seq). Off by default: an outage then causes no duplicates,
	// and what was queued when the brokers went away (records taken before
	// the outage) arrives unflagged after it. See docs/record-schema.md.
	OutagePurge bool `yaml:"outage_purge"`
	// DeliveryTimeout: when records are in flight, a broker is reachable and
	// no delivery report has come for this long, the producer is recreated
	// (default 2m). While no broker is reachable the producer is kept.
	DeliveryTimeout time.Duration `yaml:"delivery_timeout"`
	// FlushTimeout bounds the flush on shutdown (default 10s).
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	// RetryBackoff is the longest pause before a new producer (default 5s).
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// Security selects plaintext or SASL_SSL.
	Security Security `yaml:"security"`
	// Librdkafka holds extra librdkafka properties (for example "debug").
	// Properties the forwarder's guarantees depend on cannot be overridden.
	Librdkafka map[string]string `yaml:"librdkafka"`
}

// Security is the broker connection's protection. The configuration file
// holds a ${secret:name} reference (PasswordRef); agent/config resolves it
// into Password, a secrets.Secret that never prints, logs or marshals.
type Security struct {
	// Protocol is plaintext (default), ssl, sasl_plaintext or sasl_ssl.
	Protocol string `yaml:"protocol"`
	// Mechanism is the SASL mechanism (default SCRAM-SHA-512).
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordRef is the reference as written in the configuration.
	PasswordRef string `yaml:"password"`
	// Password is the resolved value.
	Password secrets.Secret `yaml:"-"`
	// CAFile is a PEM bundle of the CAs that may sign the broker certificate.
	CAFile string `yaml:"ca_file"`
}

// String and GoString keep the password out of fmt output.
func (s Security) String() string {
	return fmt.Sprintf("{%s %s %s %s}", s.Protocol, s.Mechanism, s.Username, s.CAFile)
}

// GoString is String for %#v.
func (s Security) GoString() string { return s.String() }

// LogValue keeps the password out of structured logs.
func (s Security) LogValue() slog.Value {
	return slog.GroupValue(slog.String("protocol", s.Protocol), slog.String("mechanism", s.Mechanism),
		slog.String("username", s.Username), slog.String("ca_file", s.CAFile))
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.TelemetryTopic, "telemetry.raw")
	def(&c.EventsTopic, "events.raw")
	def(&c.Compression, "lz4")
	def(&c.DrainOrder, FIFO)
	def(&c.Security.Protocol, "plaintext")
	def(&c.Security.Mechanism, "SCRAM-SHA-512")
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defDur(&c.Linger, 5*time.Millisecond)
	defDur(&c.LiveLag, 10*time.Second)
	defDur(&c.DeliveryTimeout, 2*time.Minute)
	defDur(&c.FlushTimeout, 10*time.Second)
	defDur(&c.RetryBackoff, 5*time.Second)
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = 16 << 20
	}
	if c.Window == 0 {
		c.Window = int(min(max(c.queueBytes()/recordCost, 100), 20000))
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = int(min(max(int64(c.MemoryBudget)/8/decodedCost, 100), 2000))
	}
}

// Estimates behind the MemoryBudget split, measured with typical readings
// (a 250-byte JSON value): a record costs librdkafka up to two messages
// (telemetry and an event), each a copy of key and value plus about 200
// bytes of its own; a decoded record in a read batch costs about 250 bytes
// of Go heap.
const (
	recordCost  = 1024
	decodedCost = 256
)

// queueBytes is the part of MemoryBudget librdkafka's queue may hold.
func (c *Config) queueBytes() int64 { return int64(c.MemoryBudget) * 3 / 4 }

// protected are the properties the delivery guarantees rest on.
var protected = map[string]bool{
	"enable.idempotence": true, "acks": true, "message.timeout.ms": true,
	"delivery.timeout.ms": true, "max.in.flight.requests.per.connection": true,
	"max.in.flight": true, "retries": true, "message.send.max.retries": true,
	"queue.buffering.max.messages": true, "sasl.password": true,
	"go.events.channel.size": true, "go.logs.channel": true,
}

func (c *Config) validate() error {
	if err := checkBrokers(c.Brokers); err != nil {
		return err
	}
	switch {
	case c.TelemetryTopic == c.EventsTopic:
		return fmt.Errorf("events_topic: must differ from telemetry_topic %q", c.TelemetryTopic)
	case c.Window < 1:
		return fmt.Errorf("window: %d is not positive", c.Window)
	case c.ReadBatch < 1:
		return fmt.Errorf("read_batch: %d is not positive", c.ReadBatch)
	case c.MemoryBudget < 1<<20:
		return fmt.Errorf("memory_budget: %d bytes is below 1MiB", c.MemoryBudget)
	case c.DrainRate < 0:
		return fmt.Errorf("drain_rate: negative")
	}
	if c.DrainOrder != FIFO && c.DrainOrder != LiveFirst {
		return fmt.Errorf("drain_order: %q (want fifo or live_first)", c.DrainOrder)
	}
	if c.LiveLag < 0 {
		return fmt.Errorf("live_lag: negative")
	}
	switch c.Compression {
	case "lz4", "zstd", "none":
	default:
		return fmt.Errorf("compression: %q (want lz4, zstd or none)", c.Compression)
	}
	switch strings.ToLower(c.Security.Protocol) {
	case "plaintext", "ssl":
	case "sasl_plaintext", "sasl_ssl":
		if c.Security.Username == "" || c.Security.Password.IsZero() {
			return fmt.Errorf("security: %s needs username and password", c.Security.Protocol)
		}
	default:
		return fmt.Errorf("security.protocol: %q", c.Security.Protocol)
	}
	for k := range c.Librdkafka {
		if protected[k] {
			return fmt.Errorf("librdkafka.%s: cannot be overridden", k)
		}
	}
	return nil
}

// checkBrokers requires host:port for every bootstrap broker: librdkafka
// would take a missing port as 9092 without a word, and a wrong guess shows
// only as an endless outage.
func checkBrokers(list string) error {
	if strings.TrimSpace(list) == "" {
		return fmt.Errorf("brokers: empty (want host:port,...)")
	}
	for _, b := range strings.Split(list, ",") {
		b = strings.TrimSpace(b)
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return fmt.Errorf("brokers: %q is not host:port", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("brokers: %q: port %q is not 1-65535", b, port)
		}
	}
	return nil
}

// producerConfig is the librdkafka configuration for one producer session.
func (c *Config) producerConfig() *kafka.ConfigMap {
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
		"queue.buffering.max.kbytes":   int(max(c.queueBytes()>>10, 1024)),
		// The Go client's channels default to a million entries (24 MB,
		// allocated up front); delivery reports need no more than the
		// window, and ProduceChannel is not used.
		"go.events.channel.size":    2*c.Window + 1000,
		"go.produce.channel.size":   0,
		"reconnect.backoff.ms":      100,
		"reconnect.backoff.max.ms":  2000,
		"go.logs.channel.enable":    true,
		"go.delivery.report.fields": "none", // reports need no copy of key and value
		"security.protocol":         strings.ToLower(c.Security.Protocol),
	}
	if strings.HasPrefix(strings.ToLower(c.Security.Protocol), "sasl") {
		m["sasl.mechanisms"] = c.Security.Mechanism
		m["sasl.username"] = c.Security.Username
		m["sasl.password"] = c.Security.Password.Reveal()
	}
	if c.Security.CAFile != "" {
		m["ssl.ca.location"] = c.Security.CAFile
	}
	for k, v := range c.Librdkafka {
		m[k] = v
	}
	return &m
}

// scrub removes the password from text that came from librdkafka.
func (c *Config) scrub(s string) string {
	if p := c.Security.Password.Reveal(); p != "" {
		s = strings.ReplaceAll(s, p, "[redacted]")
		s = strings.ReplaceAll(s, strconv.Quote(p), "[redacted]")
	}
	return s
}
