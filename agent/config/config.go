// Package config loads agent.yaml, the agent's one configuration document
// (its data path part is what the control plane delivers): it applies
// defaults, resolves `${secret:name}` references through agent/secrets, and
// validates everything at load with errors that name the field. The part a
// control plane delivers (adapters, kafka, buffer, log_level) is a
// pkg/pipeline.Spec, checked by that package, which the control plane runs
// too. The file format is documented in docs/agent-config.md;
// agent/agent.example.yaml is a complete sample.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/streamforge/streamforge/agent/buffer"
	"github.com/streamforge/streamforge/agent/forward"
	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/pkg/pipeline"
	"github.com/streamforge/streamforge/pkg/secret"
	"github.com/streamforge/streamforge/pkg/secretdest"
	"github.com/streamforge/streamforge/pkg/secretprot"
	"github.com/streamforge/streamforge/pkg/units"
	"github.com/streamforge/streamforge/pkg/wire"
)

// ByteSize is a byte count written as 1048576, "512MiB", "2GB" or "64KiB".
type ByteSize = units.ByteSize

// Config is agent.yaml.
type Config struct {
	// GatewayID is stamped on every reading and is its streams' key prefix.
	GatewayID string `yaml:"gateway_id"`
	// DataDir holds the buffer file (default /var/lib/streamforge).
	DataDir string `yaml:"data_dir"`
	// SecretsFile resolves ${secret:name} references; empty: environment only.
	SecretsFile string `yaml:"secrets_file"`
	// Vault, when set, resolves ${vault:path#key} references (AppRole).
	Vault *secrets.VaultConfig `yaml:"vault"`
	// Spec is the pipeline: log_level, buffer, kafka and adapters, the
	// part the control plane may deliver, with its schema and validation
	// in pkg/pipeline (shared with the cloud).
	pipeline.Spec `yaml:",inline"`
	Metrics       Metrics         `yaml:"metrics"`
	ControlPlane  ControlPlane    `yaml:"control_plane"`
	Secrets       ResolvedSecrets `yaml:"-"`
}

// Buffer configures agent/buffer (pkg/pipeline).
type Buffer = pipeline.Buffer

// Adapter is one entry of the adapters list (pkg/pipeline).
type Adapter = pipeline.Adapter

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is host:port (default 127.0.0.1:9090); "off" disables it.
	Listen string `yaml:"listen"`
}

// ControlPlane is where the agent enrolls and fetches its configuration.
// Flags and CONTROL_PLANE_* variables of the agent command override it.
type ControlPlane struct {
	URL string `yaml:"url"`
	// EnrollmentToken must be a ${secret:name} reference.
	EnrollmentToken   string        `yaml:"enrollment_token"`
	PollInterval      time.Duration `yaml:"poll_interval"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// MTLS moves an approved TPM gateway to the control plane's mTLS
	// listener, with a certificate from step-ca (ACME device-attest-01).
	MTLS MTLS `yaml:"mtls"`
	// ConfigKeys ("key_id:base64", from `streamforge-cloud config-keys
	// list`) pin the config signing keys out of band, instead of trusting
	// those of the first token answer.
	ConfigKeys []string `yaml:"config_keys"`
}

// MTLS says where the gateway gets and uses its step-ca certificate.
type MTLS struct {
	// GatewayURL is the control plane's mTLS listener (https://...).
	GatewayURL string `yaml:"gateway_url"`
	// ACMEDirectory is step-ca's ACME directory of the gateways provisioner.
	ACMEDirectory string `yaml:"acme_directory"`
	// StepCARoot is step-ca's root certificate (PEM file): it verifies
	// step-ca and the mTLS listener.
	StepCARoot string `yaml:"stepca_root"`
}

// ResolvedSecrets holds the values the references resolved to.
type ResolvedSecrets struct {
	EnrollmentToken secrets.Secret
	// logins holds the OPC UA passwords this config resolved, by the
	// server they are sent to (TestPassword).
	logins map[login]secrets.Secret
}

// Defaults.
const (
	DefaultDataDir       = "/var/lib/streamforge"
	DefaultMetricsListen = "127.0.0.1:9090"
	DefaultMaxBytes      = pipeline.DefaultMaxBytes
)

// BufferFile is the buffer's path inside DataDir.
func (c *Config) BufferFile() string { return filepath.Join(c.DataDir, "buffer.db") }

// BufferOptions returns agent/buffer's options (without metrics and logger).
func (c *Config) BufferOptions() buffer.Options {
	return buffer.Options{MaxBytes: int64(c.Buffer.MaxBytes), DefaultPolicy: c.Buffer.DefaultPolicy, Rules: c.Buffer.Streams}
}

// Load reads, resolves and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes, resolves and validates a document. Unknown fields are errors.
func Parse(data []byte) (*Config, error) { return ParseWith(data, nil) }

// ParseWith is Parse with the secrets the control plane delivered as one
// more source of ${secret:name} values (after the environment and the
// secrets file).
func ParseWith(data []byte, delivered map[string]secrets.Secret) (*Config, error) {
	var c Config
	if err := pipeline.DecodeStrict(data, &c); err != nil {
		if errors.Is(err, pipeline.ErrEmpty) {
			return nil, ErrEmpty
		}
		return nil, err
	}
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	store, err := secrets.Load(c.SecretsFile)
	if err != nil {
		return nil, fmt.Errorf("secrets_file: %w", err)
	}
	store.WithDelivered(delivered)
	if err := c.useVault(store); err != nil {
		return nil, err
	}
	if err := c.resolve(store); err != nil {
		return nil, err
	}
	// The forwarder checks its resolved settings; New connects to nothing.
	if _, err := forward.New(c.Kafka, nil, slog.New(slog.DiscardHandler), nil); err != nil {
		return nil, fmt.Errorf("kafka.%w", err)
	}
	if err := checkKafkaFiles(c.Kafka.Security); err != nil {
		return nil, fmt.Errorf("kafka.security.%w", err)
	}
	return &c, nil
}

// checkKafkaFiles reads the files kafka.security names, which only the
// gateway has (the control plane checks the rest): they must exist and
// parse, and the client key, a secret, must be as private as the secrets
// file. Errors start with the field's name.
func checkKafkaFiles(sec pipeline.KafkaSecurity) error {
	if sec.KeyFile != "" {
		if err := secrets.CheckPrivate(sec.KeyFile); err != nil {
			return fmt.Errorf("key_file: %w", err)
		}
	}
	return sec.Sec().CheckFiles()
}

// ErrEmpty is returned for a document without settings.
var ErrEmpty = errors.New("the configuration is empty: it needs at least gateway_id and kafka.brokers (see agent/agent.example.yaml)")

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	c.Spec.SetDefaults()
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = DefaultMetricsListen
	}
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

func (c *Config) validate() error {
	if !idRE.MatchString(c.GatewayID) {
		return fmt.Errorf("gateway_id: %q must be 1-128 of [A-Za-z0-9_.:-] without '/'", c.GatewayID)
	}
	if err := c.Spec.Validate(); err != nil {
		return err
	}
	if c.Metrics.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %q is not host:port or off", c.Metrics.Listen)
		}
	}
	if err := c.buildAdapters(); err != nil {
		return err
	}
	for i, k := range c.ControlPlane.ConfigKeys {
		if _, err := wire.ParseConfigKey(k); err != nil {
			return fmt.Errorf("control_plane.config_keys[%d]: %w", i, err)
		}
	}
	if m := c.ControlPlane.MTLS; m != (MTLS{}) && (m.GatewayURL == "" || m.ACMEDirectory == "" || m.StepCARoot == "") {
		return fmt.Errorf("control_plane.mtls: gateway_url, acme_directory and stepca_root go together")
	}
	if u := c.ControlPlane.URL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("control_plane.url: %q is not an http(s) URL", u)
		}
	}
	return nil
}

// useVault connects store to Vault when the local file configures it.
// Its AppRole secret id is a local ${secret:name}: a Vault reference to
// the credential that opens Vault would have nothing to log in with.
func (c *Config) useVault(store *secrets.Store) error {
	v := c.Vault
	if v == nil {
		return nil
	}
	if v.Address == "" || v.RoleID == "" {
		return fmt.Errorf("vault: address and role_id must be set")
	}
	if _, ok := secrets.ParseRef(v.SecretID); !ok {
		return fmt.Errorf("vault.secret_id: must be a ${secret:name} reference (a local secret)")
	}
	sid, err := store.Resolve("vault.secret_id", v.SecretID)
	if err != nil {
		return err
	}
	vc, err := secrets.NewVault(*v, sid)
	if err != nil {
		return err
	}
	store.WithVault(vc)
	return nil
}

// resolve replaces secret references with their values.
func (c *Config) resolve(store *secrets.Store) error {
	sec := &c.Kafka.Security
	use := func(f string) secretdest.Use {
		return secretdest.Use{Field: "kafka.security." + f, DestField: "kafka.brokers", Destinations: secretdest.Brokers(c.Kafka.Brokers),
			ProtField: "kafka.security", Protection: secretprot.KafkaOf(sec.Protocol, sec.Mechanism)}
	}
	if secret.IsRef(sec.Username) {
		v, err := store.ResolveFor(sec.Username, use("username"))
		if err != nil {
			return err
		}
		sec.Username = v.Reveal()
	}
	var err error
	if sec.Password, err = store.ResolveFor(sec.PasswordRef, use("password")); err != nil {
		return err
	}
	if c.Secrets.EnrollmentToken, err = store.Resolve("control_plane.enrollment_token", c.ControlPlane.EnrollmentToken); err != nil {
		return err
	}
	for i := range c.Adapters {
		if err := c.resolveAdapter(&c.Adapters[i], fmt.Sprintf("adapters[%d]", i), store); err != nil {
			return err
		}
	}
	return nil
}

// SecretValues lists the values of the secrets this config resolved (the
// Kafka password, the enrollment token, OPC UA passwords), for the log
// scrubber.
func (c *Config) SecretValues() []string {
	vals := []string{c.Kafka.Security.Password.Reveal(), c.Secrets.EnrollmentToken.Reveal()}
	for _, a := range c.Adapters {
		if a.OPCUA == nil {
			continue
		}
		for _, s := range a.OPCUA.Servers {
			vals = append(vals, s.Identity.Password)
		}
	}
	return vals
}
