package forward

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/agent/secrets"
)

func TestAppendReadingIsValidJSONForEveryValue(t *testing.T) {
	ts := time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name  string
		value any
		want  any // as decoded by encoding/json
	}{
		{"bool", true, true},
		{"int64-negative", int64(-32768), float64(-32768)},
		{"uint64-max-as-text", uint64(math.MaxUint64), "18446744073709551615"},
		{"float", 21.5, 21.5},
		{"nan", math.NaN(), "NaN"},
		{"plus-inf", math.Inf(1), "+Inf"},
		{"minus-inf", math.Inf(-1), "-Inf"},
		{"string-escapes", "a\"b\\c\n\x01é", "a\"b\\c\n\x01é"},
		{"string-invalid-utf8", "ok\xff", "ok\ufffd"},
		{"nil", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := adapters.Reading{GatewayID: "gw\"1", Device: "plc/1", Tag: "t", Type: adapters.TypeFloat64,
				Value: tc.value, Quality: adapters.QualityUncertain, SourceTime: ts, Seq: 7}
			b := AppendReading(nil, &r)
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			got := m["value"]
			if n, ok := got.(json.Number); ok {
				if s := n.String(); s == "18446744073709551615" {
					got = s
				} else {
					got, _ = n.Float64()
				}
			}
			if got != tc.want {
				t.Errorf("value %#v, want %#v (%s)", got, tc.want, b)
			}
			if m["schema"] != ReadingSchema || m["gateway_id"] != "gw\"1" || m["quality"] != "uncertain" ||
				m["source_time"] != "2026-11-28T11:00:00.123456789Z" || m["seq"] != json.Number("7") {
				t.Errorf("fields %v", m)
			}
		})
	}
}

func TestAppendEventCarriesPreviousQuality(t *testing.T) {
	r := adapters.Reading{GatewayID: "g", Device: "d", Tag: "t", Value: int64(1), Quality: adapters.QualityBad, Seq: 3}
	var m map[string]any
	if err := json.Unmarshal(AppendEvent(nil, &r, "good"), &m); err != nil {
		t.Fatal(err)
	}
	if m["schema"] != EventSchema || m["event"] != "quality_change" || m["prev_quality"] != "good" || m["quality"] != "bad" {
		t.Errorf("event %v", m)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Brokers: "127.0.0.1:9092"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"ok", func(*Config) {}, ""},
		{"ok-sasl-ssl", func(c *Config) {
			c.Security = Security{Protocol: "sasl_ssl", Username: "u", Password: secrets.New("p")}
		}, ""},
		{"fail-no-brokers", func(c *Config) { c.Brokers = "" }, "brokers"},
		{"ok-two-brokers", func(c *Config) { c.Brokers = "127.0.0.1:9092, [::1]:9093" }, ""},
		{"fail-broker-without-port", func(c *Config) { c.Brokers = "127.0.0.1" }, `brokers: "127.0.0.1" is not host:port`},
		{"fail-second-broker-without-port", func(c *Config) { c.Brokers = "127.0.0.1:9092,kafka2" }, `"kafka2" is not host:port`},
		{"fail-broker-port-zero", func(c *Config) { c.Brokers = "127.0.0.1:0" }, "port"},
		{"fail-broker-port-name", func(c *Config) { c.Brokers = "127.0.0.1:kafka" }, "port"},
		{"fail-broker-empty-host", func(c *Config) { c.Brokers = ":9092" }, "host:port"},
		{"fail-same-topics", func(c *Config) { c.EventsTopic = "telemetry.raw" }, "events_topic"},
		{"fail-compression", func(c *Config) { c.Compression = "snappy" }, "compression"},
		{"fail-sasl-without-password", func(c *Config) { c.Security = Security{Protocol: "sasl_ssl", Username: "u"} }, "password"},
		{"fail-protocol", func(c *Config) { c.Security.Protocol = "tls" }, "security.protocol"},
		{"fail-negative-rate", func(c *Config) { c.DrainRate = -1 }, "drain_rate"},
		{"fail-override-acks", func(c *Config) { c.Librdkafka = map[string]string{"acks": "1"} }, "librdkafka.acks"},
		{"fail-override-timeout", func(c *Config) { c.Librdkafka = map[string]string{"message.timeout.ms": "5000"} }, "message.timeout.ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			_, err := New(c, newMemSource(), nil, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestScrubRemovesPassword(t *testing.T) {
	c := Config{Security: Security{Password: secrets.New("hunter2")}}
	if got := scrub(&c, `sasl.password="hunter2" and hunter2`); strings.Contains(got, "hunter2") {
		t.Errorf("scrubbed %q", got)
	}
}

func TestSecurityNeverFormatsPassword(t *testing.T) {
	c := Config{Brokers: "b:1", Security: Security{Protocol: "sasl_ssl", Username: "u", Password: secrets.New("hunter2")}}
	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "security", c.Security, "config", c)
	for name, s := range map[string]string{"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c),
		"%#v": fmt.Sprintf("%#v", c), "slog": logs.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s shows the password: %s", name, s)
		}
	}
}

func TestAppendKeyIsStreamKey(t *testing.T) {
	r := adapters.Reading{GatewayID: "gw", Device: "plc/1", Tag: "t"}
	if got := string(appendKey(nil, &r)); got != r.StreamKey() {
		t.Errorf("appendKey %q, StreamKey %q", got, r.StreamKey())
	}
}

func TestMemoryBudgetSetsTheQueueBoundsWindowAndReadBatch(t *testing.T) {
	cases := []struct {
		name                      string
		cfg                       Config
		window, readBatch, kbytes int
	}{
		{"ok-default-16MiB", Config{}, 12288, 2000, 12288},
		{"ok-1MiB", Config{MemoryBudget: 1 << 20}, 768, 512, 1024},
		{"ok-64MiB-window-capped", Config{MemoryBudget: 64 << 20}, 20000, 2000, 49152},
		{"ok-explicit-window-kept", Config{MemoryBudget: 4 << 20, Window: 50000, ReadBatch: 7}, 50000, 7, 3072},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Brokers = "127.0.0.1:9092"
			cfg.SetDefaults()
			m := *producerConfig(&cfg)
			if cfg.Window != c.window || cfg.ReadBatch != c.readBatch || m["queue.buffering.max.kbytes"] != c.kbytes ||
				m["queue.buffering.max.messages"] != 2*c.window+1000 || m["go.events.channel.size"] != 2*c.window+1000 {
				t.Errorf("window %d, read_batch %d, librdkafka %v %v %v; want %d, %d, %d KiB", cfg.Window, cfg.ReadBatch,
					m["queue.buffering.max.kbytes"], m["queue.buffering.max.messages"], m["go.events.channel.size"], c.window, c.readBatch, c.kbytes)
			}
		})
	}
	if _, err := New(Config{Brokers: "127.0.0.1:9092", MemoryBudget: 1000}, newMemSource(), nil, nil); err == nil ||
		!strings.Contains(err.Error(), "memory_budget") {
		t.Errorf("a 1000-byte budget: %v, want an error naming memory_budget", err)
	}
}
