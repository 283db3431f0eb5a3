package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/streamforge/streamforge/pkg/kafkasec"
	"github.com/streamforge/streamforge/pkg/secret"
)

// auditKafkaRaw is how the audit relay and `audit verify --kafka` reach a
// protected Kafka cluster (docs/audit.md, "Kafka security").
type auditKafkaRaw struct{ protocol, mechanism, user, passwordFile, caFile, certFile, keyFile string }

// auditKafkaEnv names each kafkasec field's setting, for start-up errors.
var auditKafkaEnv = map[string]string{
	"protocol": "STREAMFORGE_AUDIT_KAFKA_SECURITY_PROTOCOL", "mechanism": "STREAMFORGE_AUDIT_KAFKA_SASL_MECHANISM",
	"username": "STREAMFORGE_AUDIT_KAFKA_USERNAME", "password": "STREAMFORGE_AUDIT_KAFKA_PASSWORD_FILE",
	"ca_file": "STREAMFORGE_AUDIT_KAFKA_CA_FILE", "cert_file": "STREAMFORGE_AUDIT_KAFKA_CERT_FILE", "key_file": "STREAMFORGE_AUDIT_KAFKA_KEY_FILE",
}

func (r *auditKafkaRaw) settings() []setting {
	e := auditKafkaEnv
	return []setting{
		{e["protocol"], "audit-kafka-security-protocol", kafkasec.Plaintext, "protection of the audit relay's Kafka connection: " + strings.Join(kafkasec.Protocols, ", "), &r.protocol},
		{e["mechanism"], "audit-kafka-sasl-mechanism", kafkasec.Mechanisms[0], "SASL mechanism with sasl_*: " + strings.Join(kafkasec.Mechanisms, ", "), &r.mechanism},
		{e["username"], "audit-kafka-username", "", "SASL username of the audit relay", &r.user},
		{e["password"], "audit-kafka-password-file", "", "file holding the SASL password of the audit relay (read at start, never logged)", &r.passwordFile},
		{e["ca_file"], "audit-kafka-ca-file", "", "PEM CAs that may sign the brokers' certificates (default: the system's roots)", &r.caFile},
		{e["cert_file"], "audit-kafka-cert-file", "", "client certificate (PEM) for brokers that require mutual TLS", &r.certFile},
		{e["key_file"], "audit-kafka-key-file", "", "unencrypted PEM key of the client certificate", &r.keyFile},
	}
}

// parse checks the combination and reads the files now, so that a wrong
// setting stops the start with its name instead of turning into refused
// connections later. No error carries the password.
func (r *auditKafkaRaw) parse() (kafkasec.Config, error) {
	c := kafkasec.Config{
		Protocol: strings.ToLower(strings.TrimSpace(r.protocol)), Mechanism: strings.ToUpper(strings.TrimSpace(r.mechanism)),
		Username: r.user, CAFile: r.caFile, CertFile: r.certFile, KeyFile: r.keyFile,
	}
	// An operator used to other tools may try the password itself in the
	// environment (where every child process and /proc/PID/environ
	// would see it); say where it goes instead of ignoring it.
	if _, ok := os.LookupEnv("STREAMFORGE_AUDIT_KAFKA_PASSWORD"); ok {
		return c, fmt.Errorf("STREAMFORGE_AUDIT_KAFKA_PASSWORD: not read; put the password in a file (0600) named by %s", auditKafkaEnv["password"])
	}
	if r.passwordFile != "" {
		b, err := os.ReadFile(r.passwordFile)
		if err != nil {
			return c, fmt.Errorf("%s: %w", auditKafkaEnv["password"], err)
		}
		pw := strings.TrimRight(string(b), "\r\n") // the newline an editor adds
		if pw == "" {
			return c, fmt.Errorf("%s: %s is empty", auditKafkaEnv["password"], r.passwordFile)
		}
		c.Password = secret.New(pw)
	}
	if err := c.Check(); err != nil {
		var fe *kafkasec.FieldError
		if errors.As(err, &fe) {
			return c, fmt.Errorf("%s: %s", auditKafkaEnv[fe.Field], fe.Msg)
		}
		return c, err
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return c, fmt.Errorf("%s: %w", auditKafkaEnv["ca_file"], err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return c, fmt.Errorf("%s: %s holds no PEM certificate", auditKafkaEnv["ca_file"], c.CAFile)
		}
	}
	if c.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			return c, fmt.Errorf("%s, %s: %w", auditKafkaEnv["cert_file"], auditKafkaEnv["key_file"], err)
		}
	}
	return c, nil
}
