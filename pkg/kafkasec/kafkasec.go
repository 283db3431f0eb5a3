// Package kafkasec is how a librdkafka client of ours (the agent's
// forwarder, the cloud's audit relay and its reader) protects its broker
// connection: the settings, their check, their librdkafka properties, and
// keeping the password out of what librdkafka says back. One mapping
// serves every client, so a setting means the same everywhere.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/pkg/secret"
)

// Security protocols (librdkafka's security.protocol, lower case).
const (
	Plaintext     = "plaintext"
	SSL           = "ssl"
	SASLPlaintext = "sasl_plaintext"
	SASLSSL       = "sasl_ssl"
)

// Protocols and Mechanisms are the accepted values; the first is the
// default.
var (
	Protocols  = []string{Plaintext, SSL, SASLPlaintext, SASLSSL}
	Mechanisms = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}
)

// Config is a connection's protection. Password never prints, logs or
// marshals (secret.Secret); String and LogValue leave it out too.
type Config struct {
	Protocol  string // one of Protocols; empty is plaintext
	Mechanism string // SASL mechanism, one of Mechanisms; empty is SCRAM-SHA-512
	Username  string
	Password  secret.Secret
	// CAFile is a PEM bundle of the CAs that may sign the broker's
	// certificate; empty trusts the system's roots.
	CAFile string
	// CertFile and KeyFile (PEM, unencrypted key) are the client's own
	// certificate for brokers that ask for one (mutual TLS).
	CertFile, KeyFile string
}

// SASL reports whether the protocol logs in with SASL.
func (c Config) SASL() bool { return strings.HasPrefix(strings.ToLower(c.Protocol), "sasl_") }

// TLS reports whether the protocol encrypts the connection.
func (c Config) TLS() bool {
	p := strings.ToLower(c.Protocol)
	return p == SSL || p == SASLSSL
}

// FieldError names the setting that is wrong: protocol, mechanism,
// username, password, ca_file, cert_file or key_file. Each client maps the
// field to its own name for it (an environment variable, a config path).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Check refuses what librdkafka would either reject late or accept with a
// protection the operator did not ask for: an unknown protocol or
// mechanism, SASL without credentials, credentials or certificates that
// the protocol would silently ignore, half a client key pair. It does not
// read the files (the caller knows how to name them).
func (c Config) Check() error {
	switch {
	case c.Protocol != "" && !slices.Contains(Protocols, strings.ToLower(c.Protocol)):
		return &FieldError{"protocol", fmt.Sprintf("%q (want %s)", c.Protocol, strings.Join(Protocols, ", "))}
	case c.Mechanism != "" && !slices.Contains(Mechanisms, strings.ToUpper(c.Mechanism)):
		return &FieldError{"mechanism", fmt.Sprintf("%q (want %s)", c.Mechanism, strings.Join(Mechanisms, ", "))}
	case c.SASL() && c.Username == "":
		return &FieldError{"username", fmt.Sprintf("%s needs a username", strings.ToLower(c.Protocol))}
	case c.SASL() && c.Password.IsZero():
		return &FieldError{"password", fmt.Sprintf("%s needs a password", strings.ToLower(c.Protocol))}
	case !c.SASL() && (c.Username != "" || !c.Password.IsZero()):
		return &FieldError{"username", fmt.Sprintf("credentials are only sent with %s or %s, not %s", SASLPlaintext, SASLSSL, c.protocol())}
	case !c.TLS() && c.CAFile != "":
		return &FieldError{"ca_file", fmt.Sprintf("only used with %s or %s, not %s", SSL, SASLSSL, c.protocol())}
	case !c.TLS() && (c.CertFile != "" || c.KeyFile != ""):
		return &FieldError{"cert_file", fmt.Sprintf("only used with %s or %s, not %s", SSL, SASLSSL, c.protocol())}
	case (c.CertFile == "") != (c.KeyFile == ""):
		return &FieldError{"key_file", "a client certificate and its key go together"}
	}
	return nil
}

// CheckFiles reads the files Check only names, so that a wrong path or a
// wrong file stops the start with the setting's name instead of becoming
// refused connections later: the CA bundle must hold a certificate, the
// client certificate must parse and the key must belong to it. No error
// carries the key's content.
func (c Config) CheckFiles() error {
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return &FieldError{"ca_file", err.Error()}
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return &FieldError{"ca_file", c.CAFile + " holds no PEM certificate"}
		}
	}
	if c.CertFile == "" {
		return nil
	}
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		return &FieldError{"cert_file", err.Error()}
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return &FieldError{"cert_file", c.CertFile + " does not start with a PEM certificate"}
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return &FieldError{"cert_file", fmt.Sprintf("%s: %v", c.CertFile, err)}
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return &FieldError{"key_file", err.Error()}
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return &FieldError{"key_file", fmt.Sprintf("%s is not the unencrypted PEM key of %s: %v", c.KeyFile, c.CertFile, err)}
	}
	return nil
}

func (c Config) protocol() string {
	if c.Protocol == "" {
		return Plaintext
	}
	return strings.ToLower(c.Protocol)
}

// Apply sets the connection's properties in m.
func (c Config) Apply(m kafka.ConfigMap) {
	m["security.protocol"] = c.protocol()
	if c.SASL() {
		mech := strings.ToUpper(c.Mechanism)
		if mech == "" {
			mech = Mechanisms[0]
		}
		m["sasl.mechanisms"] = mech
		m["sasl.username"] = c.Username
		m["sasl.password"] = c.Password.Reveal()
	}
	// Without ssl.ca.location the bundled (statically linked) OpenSSL
	// probes the system's usual CA paths.
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("ssl.ca.location", c.CAFile)
	set("ssl.certificate.location", c.CertFile)
	set("ssl.key.location", c.KeyFile)
}

// Scrub removes the password from text that came from librdkafka (an
// error, a log line, a debug dump of the configuration).
func (c Config) Scrub(s string) string {
	if p := c.Password.Reveal(); p != "" {
		s = strings.ReplaceAll(s, strconv.Quote(p), secret.Redacted)
		s = strings.ReplaceAll(s, p, secret.Redacted)
	}
	return s
}

// IsAuthFailure recognises a refused login or a failed TLS handshake.
// librdkafka reports a refused SASL login as ErrAuthentication, or, when
// the broker just closes the connection (as some do), as a transport error
// that names the SASL step; a handshake fails as ErrSsl or a transport
// error naming it. A broker that refuses the client's certificate (none,
// or one its CA did not sign) does so, under TLS 1.3, after the client
// has finished its side of the handshake: librdkafka then reports the
// TLS alert the broker sent ("SSL alert number 42") as a failed receive.
func IsAuthFailure(e kafka.Error) bool {
	switch e.Code() {
	case kafka.ErrAuthentication, kafka.ErrSaslAuthenticationFailed, kafka.ErrSsl:
		return true
	}
	msg := e.Error()
	return strings.Contains(msg, "SASL authentication") || strings.Contains(msg, "SSL handshake failed") ||
		strings.Contains(msg, "SSL alert number")
}

// String and GoString keep the password out of fmt output.
func (c Config) String() string {
	return fmt.Sprintf("{%s %s %s %s %s}", c.protocol(), c.Mechanism, c.Username, c.CAFile, c.CertFile)
}

// GoString is String for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("protocol", c.protocol()), slog.String("mechanism", c.Mechanism),
		slog.String("username", c.Username), slog.String("ca_file", c.CAFile), slog.String("cert_file", c.CertFile))
}
