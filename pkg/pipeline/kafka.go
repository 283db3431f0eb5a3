package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamforge/streamforge/pkg/kafkasec"
	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/units"
)

// Drain orders (Kafka.DrainOrder).
const (
	FIFO      = "fifo"
	LiveFirst = "live_first"
)

// Kafka is the output: the brokers, topics and security the agent's
// forwarder (agent/forward) produces to.
type Kafka struct {
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
	// Security selects plaintext, TLS, SASL or both, and a client
	// certificate.
	Security KafkaSecurity `yaml:"security"`
	// Librdkafka holds extra librdkafka properties (for example "debug").
	// Properties the forwarder's guarantees depend on cannot be overridden.
	Librdkafka map[string]string `yaml:"librdkafka"`
}

// KafkaSecurity is the broker connection's protection. The configuration
// holds a ${secret:name} reference (PasswordRef); agent/config resolves it
// into Password, a secret.Secret that never prints, logs or marshals.
type KafkaSecurity struct {
	// Protocol is plaintext (default), ssl, sasl_plaintext or sasl_ssl
	// (kafkasec.Protocols).
	Protocol string `yaml:"protocol"`
	// Mechanism is the SASL mechanism: SCRAM-SHA-512 (default),
	// SCRAM-SHA-256 or PLAIN (kafkasec.Mechanisms).
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordRef is the reference as written in the configuration.
	PasswordRef string `yaml:"password"`
	// Password is the resolved value.
	Password secret.Secret `yaml:"-" json:"-"`
	// CAFile is a PEM bundle of the CAs that may sign the broker certificate.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the gateway's client certificate and its
	// unencrypted key (PEM files), for brokers that require one (mutual
	// TLS, with ssl or sasl_ssl). They name files on the gateway; the
	// agent checks that they exist, parse and belong together.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Sec is the protection in the form the librdkafka mapping the agent and
// the cloud share (pkg/kafkasec) takes, with the resolved password.
func (s KafkaSecurity) Sec() kafkasec.Config {
	return kafkasec.Config{Protocol: s.Protocol, Mechanism: s.Mechanism, Username: s.Username, Password: s.Password,
		CAFile: s.CAFile, CertFile: s.CertFile, KeyFile: s.KeyFile}
}

// String and GoString keep the password out of fmt output.
func (s KafkaSecurity) String() string {
	return fmt.Sprintf("{%s %s %s %s %s}", s.Protocol, s.Mechanism, s.Username, s.CAFile, s.CertFile)
}

// GoString is String for %#v.
func (s KafkaSecurity) GoString() string { return s.String() }

// LogValue keeps the password out of structured logs.
func (s KafkaSecurity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("protocol", s.Protocol), slog.String("mechanism", s.Mechanism),
		slog.String("username", s.Username), slog.String("ca_file", s.CAFile), slog.String("cert_file", s.CertFile))
}

// SetDefaults fills what is not set.
func (c *Kafka) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.TelemetryTopic, "telemetry.raw")
	def(&c.EventsTopic, "events.raw")
	def(&c.Compression, "lz4")
	def(&c.DrainOrder, FIFO)
	def(&c.Security.Protocol, kafkasec.Plaintext)
	def(&c.Security.Mechanism, kafkasec.Mechanisms[0])
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
		c.Window = int(min(max(c.QueueBytes()/recordCost, 100), 20000))
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

// QueueBytes is the part of MemoryBudget librdkafka's queue may hold.
func (c *Kafka) QueueBytes() int64 { return int64(c.MemoryBudget) * 3 / 4 }

// protected are the properties the delivery guarantees rest on, and those
// that say where the credentials go: the brokers are kafka.brokers only,
// which the control plane checks against each secret's destinations. The
// credentials themselves are among securityProperty's.
var protected = map[string]bool{
	"bootstrap.servers": true, "metadata.broker.list": true,
	"enable.idempotence": true, "acks": true, "message.timeout.ms": true,
	"delivery.timeout.ms": true, "max.in.flight.requests.per.connection": true,
	"max.in.flight": true, "retries": true, "message.send.max.retries": true,
	"queue.buffering.max.messages": true, "go.events.channel.size": true, "go.logs.channel": true,
}

// Validate checks a defaulted Kafka section and names the bad field
// (relative to kafka). SASL credentials are checked in their resolved
// form (Password) when resolved is true, else as references.
func (c *Kafka) Validate(resolved bool) error {
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
	if err := c.checkSecurity(resolved); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(c.Librdkafka)) {
		switch {
		case protected[strings.ToLower(k)]:
			return fmt.Errorf("librdkafka.%s: cannot be overridden", k)
		case securityProperty(k):
			return fmt.Errorf("librdkafka.%s: the connection's protection is kafka.security's alone (an override could send the password in clear, to another mechanism or past certificate checks)", k)
		case secretProperty(k):
			return fmt.Errorf("librdkafka.%s: a secret has no place here (it would be stored, shown and deployed in plain text); use kafka.security with a ${secret:name} reference", k)
		}
	}
	return nil
}

// checkSecurity applies the check every client of pkg/kafkasec shares
// (the protocols and mechanisms it knows, credentials and certificates
// only where the protocol uses them, a whole client key pair). Unresolved,
// the password's reference stands for the password.
func (c *Kafka) checkSecurity(resolved bool) error {
	sec := c.Security.Sec()
	if !resolved && c.Security.PasswordRef != "" {
		sec.Password = secret.New(c.Security.PasswordRef)
	}
	err := sec.Check()
	var fe *kafkasec.FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("security.%s: %s", fe.Field, fe.Msg)
	}
	return err
}

// securityProperty reports whether a librdkafka property belongs to the
// connection's protection, which kafka.security sets: the protocol, SASL
// (mechanism, OAuth endpoints, Kerberos), TLS (trust, client certificate,
// host name and certificate verification) and plugins, which load code.
// The secret binding of the control plane checks where kafka.brokers sends
// the password; an override here would let a pipeline edit downgrade
// SASL_SSL to SASL_PLAINTEXT or SCRAM to PLAIN towards the same brokers.
func securityProperty(k string) bool {
	k = strings.ToLower(k)
	if k == "security.protocol" || k == "enable.ssl.certificate.verification" || k == "plugin.library.paths" ||
		k == "https.ca.location" || k == "https.ca.pem" {
		return true
	}
	for _, p := range []string{"sasl.", "ssl.", "ssl_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// secretProperty reports whether a librdkafka property holds a secret
// (ssl.key.password, ssl.key.pem, sasl.oauthbearer.client.secret, ...):
// the properties map carries no references, so a value there would be a
// plain-text secret in every copy of the configuration.
func secretProperty(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"password", "secret", "key.pem", "private", "token", "sasl.jaas"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
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
