package kafkasec

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/streamforge/streamforge/pkg/secret"
)

func TestCheckNamesTheWrongSetting(t *testing.T) {
	pw := secret.New("pw")
	sasl := Config{Protocol: "sasl_ssl", Username: "relay", Password: pw}
	cases := []struct {
		name  string
		cfg   Config
		field string // "" = ok
	}{
		{"ok-empty-is-plaintext", Config{}, ""},
		{"ok-ssl-with-ca-and-client-cert", Config{Protocol: "ssl", CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}, ""},
		{"ok-sasl_ssl", sasl, ""},
		{"ok-upper-case-protocol", Config{Protocol: "SASL_PLAINTEXT", Username: "u", Password: pw, Mechanism: "scram-sha-256"}, ""},
		{"ok-plain", Config{Protocol: "sasl_ssl", Mechanism: "PLAIN", Username: "u", Password: pw}, ""},
		{"fail-unknown-protocol", Config{Protocol: "tls"}, "protocol"},
		{"fail-unknown-mechanism", Config{Protocol: "sasl_ssl", Mechanism: "GSSAPI", Username: "u", Password: pw}, "mechanism"},
		{"fail-sasl-without-username", Config{Protocol: "sasl_ssl", Password: pw}, "username"},
		{"fail-sasl-without-password", Config{Protocol: "sasl_plaintext", Username: "u"}, "password"},
		{"fail-credentials-without-sasl", Config{Protocol: "ssl", Username: "u", Password: pw}, "username"},
		{"fail-ca-without-tls", Config{Protocol: "sasl_plaintext", Username: "u", Password: pw, CAFile: "ca.pem"}, "ca_file"},
		{"fail-client-cert-without-tls", Config{CertFile: "c.pem", KeyFile: "k.pem"}, "cert_file"},
		{"fail-cert-without-key", Config{Protocol: "ssl", CertFile: "c.pem"}, "key_file"},
		{"fail-key-without-cert", Config{Protocol: "ssl", KeyFile: "k.pem"}, "key_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Check()
			fe, _ := err.(*FieldError)
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.field != "" && (fe == nil || fe.Field != c.field):
				t.Fatalf("error %v, want one naming %s", err, c.field)
			}
		})
	}
}

func TestApplySetsTheProperties(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want kafka.ConfigMap
	}{
		{"plaintext", Config{}, kafka.ConfigMap{"security.protocol": "plaintext"}},
		{"sasl_ssl-default-mechanism-system-roots", Config{Protocol: "SASL_SSL", Username: "u", Password: secret.New("pw")},
			kafka.ConfigMap{"security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": "pw"}},
		{"sasl_plaintext-scram-256", Config{Protocol: "sasl_plaintext", Mechanism: "scram-sha-256", Username: "u", Password: secret.New("pw")},
			kafka.ConfigMap{"security.protocol": "sasl_plaintext", "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": "u", "sasl.password": "pw"}},
		{"ssl-mtls", Config{Protocol: "ssl", CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"},
			kafka.ConfigMap{"security.protocol": "ssl", "ssl.ca.location": "ca.pem", "ssl.certificate.location": "c.pem", "ssl.key.location": "k.pem"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := kafka.ConfigMap{}
			c.cfg.Apply(got)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestPasswordNeverShows(t *testing.T) {
	const pw = `hun"ter2`
	c := Config{Protocol: "sasl_ssl", Username: "u", Password: secret.New(pw)}
	if got := c.Scrub(`sasl.password="hun\"ter2" and hun"ter2`); strings.Contains(got, "hun") {
		t.Errorf("scrubbed %q", got)
	}
	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("kafka", "security", c)
	for name, s := range map[string]string{"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c),
		"%#v": fmt.Sprintf("%#v", c), "slog": logs.String(), "error": (&Config{Protocol: "ssl", Password: c.Password}).Check().Error()} {
		if strings.Contains(s, "hun") {
			t.Errorf("%s shows the password: %s", name, s)
		}
	}
}

func TestIsAuthFailure(t *testing.T) {
	cases := []struct {
		err  kafka.Error
		want bool
	}{
		{kafka.NewError(kafka.ErrAuthentication, "SASL authentication error: invalid credentials", false), true},
		{kafka.NewError(kafka.ErrTransport, "127.0.0.1:9093/bootstrap: SASL authentication failed: Disconnected", false), true},
		{kafka.NewError(kafka.ErrSsl, "certificate verify failed", false), true},
		{kafka.NewError(kafka.ErrTransport, "127.0.0.1:9093/bootstrap: SSL handshake failed: unsupported protocol", false), true},
		{kafka.NewError(kafka.ErrTransport, "ssl://127.0.0.1:36611/bootstrap: Receive failed: error:0A000412:SSL routines::sslv3 alert bad certificate: "+
			"SSL alert number 42 (after 0ms in state APIVERSION_QUERY)", false), true},
		{kafka.NewError(kafka.ErrTransport, "ssl://127.0.0.1:36611/bootstrap: Receive failed: error:0A000416:SSL routines::sslv3 alert certificate unknown: "+
			"SSL alert number 46 (after 2ms in state APIVERSION_QUERY)", false), true},
		{kafka.NewError(kafka.ErrTransport, "ssl://127.0.0.1:36611/bootstrap: Receive failed: Disconnected", false), false},
		{kafka.NewError(kafka.ErrAllBrokersDown, "1/1 brokers are down", false), false},
		{kafka.NewError(kafka.ErrTransport, "Connection refused", false), false},
	}
	for _, c := range cases {
		if got := IsAuthFailure(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}
