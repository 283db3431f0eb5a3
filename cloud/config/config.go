// Package config reads the control plane's settings. Every setting is an
// environment variable, and `serve` takes the same names as flags
// (STREAMFORGE_LISTEN <-> --listen); flags win. docs/cloud-config.md lists them.
package config

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/streamforge/streamforge/pkg/kafkasec"
)

// Config is the control plane's configuration.
type Config struct {
	Listen                 string
	DataDir                string
	DatabaseURL            string
	BootstrapAdminEmail    string
	BootstrapAdminPassword string
	JWTKeyDir              string
	ConfigKeyDir           string
	ConfigKeyGrace         time.Duration
	SecretKeyDir           string // key-encryption keys of the secrets (#12)
	TrustedProxies         []netip.Prefix
	RateLimitPerMinute     int
	GatewayRateLimit       int
	BodyLimit              int
	PasswordHashMemoryMiB  int
	MetricsToken           string
	TLSCert, TLSKey        string
	TPMRootsDir            string
	AttestationCADir       string
	GatewayListen          string
	StepCADir              string
	// AllowKeyIdentity accepts gateways with a software key instead of a
	// TPM; off by default, so every gateway needs a TPM.
	AllowKeyIdentity bool
	Alarms           Alarms // alarms and security alerts (alarms.go)
	Audit            Audit
}

// Audit configures the audit trail's anchors outside the database: the
// Kafka relay and the signed checkpoints.
type Audit struct {
	KafkaBrokers string // empty: no relay
	KafkaTopic   string
	// KafkaSecurity protects the relay's and the verify reader's
	// connection (TLS, SASL; auditkafka.go).
	KafkaSecurity      kafkasec.Config
	MinInsyncReplicas  int
	ReplicationFactor  int
	RelayInterval      time.Duration
	KeyDir             string
	AnchorFile         string
	CheckpointInterval time.Duration
}

type setting struct {
	env, flag, def, help string
	dst                  *string
}

// Setting is one setting as `serve` takes it: the environment variable,
// the flag and the default (empty: none, or one derived from another
// setting, like DATA_DIR/keys/jwt).
type Setting struct{ Env, Flag, Default string }

// Settings lists every setting Load reads (docs/cloud-config.md documents
// each: TestDocumentedSettingsExist).
func Settings() []Setting {
	var list []setting
	_, _ = load(nil, &list)
	out := make([]Setting, 0, len(list))
	for _, s := range list {
		out = append(out, Setting{s.env, s.flag, s.def})
	}
	return out
}

// Load reads the environment, then flags from args.
func Load(args []string) (*Config, error) { return load(args, nil) }

// load is Load; with list set it only hands over the settings, so that
// Settings lists the very ones Load reads.
func load(args []string, list *[]setting) (*Config, error) {
	var raw struct{ listen, data, db, email, pw, keys, cfgKeys, cfgGrace, proxies, rate, gwRate, body, hashMem, metrics, cert, key, tpmRoots, attestCA, gwListen, stepDir, allowKey string }
	var audit struct{ brokers, topic, minISR, rf, relayEvery, keyDir, anchor, cpEvery string }
	settings := []setting{
		{"STREAMFORGE_LISTEN", "listen", "127.0.0.1:8080", "address to serve the API and dashboard on (fd:N: a listening socket handed down as file descriptor N)", &raw.listen},
		{"STREAMFORGE_DATA_DIR", "data-dir", "./data", "directory for the SQLite database and keys", &raw.data},
		{"STREAMFORGE_DATABASE_URL", "database-url", "", "postgres://... to use PostgreSQL instead of SQLite", &raw.db},
		{"STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL", "bootstrap-admin-email", "admin@streamforge.local", "first admin's email when there are no users", &raw.email},
		{"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-admin-password", "", "first admin's password (generated and printed once if empty)", &raw.pw},
		{"STREAMFORGE_JWT_KEY_DIR", "jwt-key-dir", "", "directory of JWT signing keys (default DATA_DIR/keys/jwt); share it between replicas", &raw.keys},
		{"STREAMFORGE_CONFIG_KEY_DIR", "config-key-dir", "", "directory of the config signing keys (default DATA_DIR/keys/config); keep it out of the database's backups, share it between replicas", &raw.cfgKeys},
		{"STREAMFORGE_CONFIG_KEY_GRACE", "config-key-grace", "720h", "how long a rotated-out config signing key keeps verifying (config-keys rotate)", &raw.cfgGrace},
		{"STREAMFORGE_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed", &raw.proxies},
		{"STREAMFORGE_RATE_LIMIT", "rate-limit", "6000", "requests per minute per client IP (0: off)", &raw.rate},
		{"STREAMFORGE_GATEWAY_RATE_LIMIT", "gateway-rate-limit", "60", "enrollments and token requests per minute per client IP (0: off)", &raw.gwRate},
		{"STREAMFORGE_BODY_LIMIT", "body-limit", "1048576", "largest request body in bytes", &raw.body},
		{"STREAMFORGE_PASSWORD_HASH_MEMORY", "password-hash-memory", "64", "MiB that concurrent argon2id password checks may use (19 MiB each; past it logins wait, then get 503)", &raw.hashMem},
		{"STREAMFORGE_METRICS_TOKEN", "metrics-token", "", "bearer token for /metrics (empty: loopback clients only)", &raw.metrics},
		{"STREAMFORGE_TPM_ROOTS_DIR", "tpm-roots-dir", "", "PEM certificates of TPM manufacturers; EKs chaining to none are flagged for review", &raw.tpmRoots},
		{"STREAMFORGE_ATTESTATION_CA_DIR", "attestation-ca-dir", "", "attestation CA (from streamforge-pki init) that certifies approved gateways' AKs", &raw.attestCA},
		{"STREAMFORGE_GATEWAY_LISTEN", "gateway-listen", "", "address of the gateways' mTLS listener (TLS 1.3, step-ca client certificates) and step-ca's webhook; needs STREAMFORGE_STEPCA_DIR", &raw.gwListen},
		{"STREAMFORGE_STEPCA_DIR", "stepca-dir", "", "the step-ca directory made by streamforge-pki init (its root and the webhook listener certificate)", &raw.stepDir},
		{"STREAMFORGE_ALLOW_KEY_IDENTITY", "allow-key-identity", "false", "accept gateways that enroll with a software key instead of a TPM (demos, devices without a TPM); they prove only that they hold a key file", &raw.allowKey},
		{"STREAMFORGE_TLS_CERT", "tls-cert", "", "serve HTTPS with this certificate (PEM)", &raw.cert},
		{"STREAMFORGE_TLS_KEY", "tls-key", "", "key of --tls-cert (PEM)", &raw.key},
		// The audit trail's anchors (docs/audit.md).
		{"STREAMFORGE_AUDIT_KAFKA_BROKERS", "audit-kafka-brokers", "", "Kafka bootstrap servers the audit trail is relayed to (empty: no relay)", &audit.brokers},
		{"STREAMFORGE_AUDIT_KAFKA_TOPIC", "audit-kafka-topic", "audit_trail", "topic of the audit trail", &audit.topic},
		{"STREAMFORGE_AUDIT_KAFKA_MIN_INSYNC_REPLICAS", "audit-kafka-min-insync-replicas", "0", "min.insync.replicas of the audit topic when the relay creates it (0: the broker's default)", &audit.minISR},
		{"STREAMFORGE_AUDIT_KAFKA_REPLICATION_FACTOR", "audit-kafka-replication-factor", "0", "replication factor of the audit topic when the relay creates it (0: the broker's default)", &audit.rf},
		{"STREAMFORGE_AUDIT_RELAY_INTERVAL", "audit-relay-interval", "1s", "how often an idle relay looks for new audit records", &audit.relayEvery},
		{"STREAMFORGE_AUDIT_KEY_DIR", "audit-key-dir", "", "directory of the audit checkpoint signing keys (default DATA_DIR/keys/audit); keep it out of the database's backups, share it between replicas", &audit.keyDir},
		{"STREAMFORGE_AUDIT_ANCHOR_FILE", "audit-anchor-file", "", "file holding the newest signed checkpoint, outside the database (default DATA_DIR/keys/audit-checkpoint.json)", &audit.anchor},
		{"STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL", "audit-checkpoint-interval", "1m", "how often the audit chain head is signed (also at shutdown)", &audit.cpEvery},
	}
	var alarms alarmRaw
	settings = append(settings, alarms.settings()...)
	var auditKafka auditKafkaRaw
	settings = append(settings, auditKafka.settings()...)
	var secretKeys string // secrets (#12)
	settings = append(settings, setting{"STREAMFORGE_SECRET_KEY_DIR", "secret-key-dir", "",
		"directory of the key-encryption keys that seal secret values (default DATA_DIR/keys/secrets); keep it out of the database's backups, share it between replicas", &secretKeys})
	if list != nil {
		*list = settings
		return nil, nil
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	for _, s := range settings {
		v := s.def
		if e, ok := os.LookupEnv(s.env); ok {
			v = e
		}
		fs.StringVar(s.dst, s.flag, v, s.help+" ("+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c := &Config{
		Listen: raw.listen, DataDir: raw.data, DatabaseURL: raw.db, BootstrapAdminEmail: raw.email,
		BootstrapAdminPassword: raw.pw, JWTKeyDir: raw.keys, MetricsToken: raw.metrics, TLSCert: raw.cert, TLSKey: raw.key, TPMRootsDir: raw.tpmRoots, AttestationCADir: raw.attestCA, GatewayListen: raw.gwListen, StepCADir: raw.stepDir,
	}
	if c.JWTKeyDir == "" {
		c.JWTKeyDir = filepath.Join(c.DataDir, "keys", "jwt")
	}
	if c.ConfigKeyDir = raw.cfgKeys; c.ConfigKeyDir == "" {
		c.ConfigKeyDir = filepath.Join(c.DataDir, "keys", "config")
	}
	if c.SecretKeyDir = secretKeys; c.SecretKeyDir == "" {
		c.SecretKeyDir = filepath.Join(c.DataDir, "keys", "secrets")
	}
	if d, err := time.ParseDuration(raw.cfgGrace); err != nil || d <= 0 {
		return nil, fmt.Errorf("STREAMFORGE_CONFIG_KEY_GRACE: %q is not a positive duration (like 720h)", raw.cfgGrace)
	} else {
		c.ConfigKeyGrace = d
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return nil, fmt.Errorf("STREAMFORGE_LISTEN: %w", err)
	}
	var err error
	if c.RateLimitPerMinute, err = nonNegative("STREAMFORGE_RATE_LIMIT", raw.rate); err != nil {
		return nil, err
	}
	if c.GatewayRateLimit, err = nonNegative("STREAMFORGE_GATEWAY_RATE_LIMIT", raw.gwRate); err != nil {
		return nil, err
	}
	if c.BodyLimit, err = nonNegative("STREAMFORGE_BODY_LIMIT", raw.body); err != nil || c.BodyLimit == 0 {
		return nil, fmt.Errorf("STREAMFORGE_BODY_LIMIT: must be a positive number of bytes")
	}
	if c.AllowKeyIdentity, err = strconv.ParseBool(strings.TrimSpace(raw.allowKey)); err != nil {
		return nil, fmt.Errorf("STREAMFORGE_ALLOW_KEY_IDENTITY: %q is not true or false", raw.allowKey)
	}
	if c.PasswordHashMemoryMiB, err = nonNegative("STREAMFORGE_PASSWORD_HASH_MEMORY", raw.hashMem); err != nil || c.PasswordHashMemoryMiB < 19 {
		return nil, fmt.Errorf("STREAMFORGE_PASSWORD_HASH_MEMORY: at least 19 (MiB, one argon2id run)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("STREAMFORGE_TLS_CERT and STREAMFORGE_TLS_KEY must be given together")
	}
	if (c.GatewayListen == "") != (c.StepCADir == "") {
		return nil, fmt.Errorf("STREAMFORGE_GATEWAY_LISTEN and STREAMFORGE_STEPCA_DIR must be given together")
	}
	if c.Alarms, err = alarms.parse(); err != nil {
		return nil, err
	}
	if c.TrustedProxies, err = ParsePrefixes(raw.proxies); err != nil {
		return nil, fmt.Errorf("STREAMFORGE_TRUSTED_PROXIES: %w", err)
	}
	a := &c.Audit
	a.KafkaBrokers, a.KafkaTopic, a.KeyDir, a.AnchorFile = strings.TrimSpace(audit.brokers), audit.topic, audit.keyDir, audit.anchor
	if a.KeyDir == "" {
		a.KeyDir = filepath.Join(c.DataDir, "keys", "audit")
	}
	if a.AnchorFile == "" {
		a.AnchorFile = filepath.Join(c.DataDir, "keys", "audit-checkpoint.json")
	}
	if a.KafkaTopic == "" {
		return nil, fmt.Errorf("STREAMFORGE_AUDIT_KAFKA_TOPIC: must not be empty")
	}
	if a.MinInsyncReplicas, err = nonNegative("STREAMFORGE_AUDIT_KAFKA_MIN_INSYNC_REPLICAS", audit.minISR); err != nil {
		return nil, err
	}
	if a.ReplicationFactor, err = nonNegative("STREAMFORGE_AUDIT_KAFKA_REPLICATION_FACTOR", audit.rf); err != nil {
		return nil, err
	}
	if a.RelayInterval, err = positiveDuration("STREAMFORGE_AUDIT_RELAY_INTERVAL", audit.relayEvery); err != nil {
		return nil, err
	}
	if a.CheckpointInterval, err = positiveDuration("STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL", audit.cpEvery); err != nil {
		return nil, err
	}
	if a.KafkaSecurity, err = auditKafka.parse(); err != nil {
		return nil, err
	}
	return c, nil
}

func positiveDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration (like 30s)", name, v)
	}
	return d, nil
}

func nonNegative(name, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// ParsePrefixes reads a comma-separated list of IPs and CIDRs.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
