package forward

import (
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestSSLWithClientCertificate: Apache Kafka that takes clients only over
// TLS with a certificate its CA signed (ssl.client.auth=required), as
// brokers that authenticate clients by mutual TLS run. Without a client
// certificate, and with one another CA signed, the agent delivers nothing,
// counts the refused handshake and keeps every reading in the buffer; with
// kafka.security.cert_file and key_file set, everything arrives.
func TestSSLWithClientCertificate(t *testing.T) {
	pki, other := testenv.WritePKI(t), testenv.WritePKI(t)
	b := testenv.StartKafka(t, testenv.KafkaOpts{TLSCert: pki.CertFile, TLSKey: pki.KeyFile, TLSClientCA: pki.CAFile})
	src := newMemSource()
	src.Put(readings("plc1", 5, 100)...)
	const total = 500
	sec := func(cert, key string) Security {
		return Security{Protocol: "ssl", CAFile: pki.CAFile, CertFile: cert, KeyFile: key}
	}

	for _, c := range []struct {
		name string
		sec  Security
	}{
		{"fail-no-client-certificate", sec("", "")},
		{"fail-client-certificate-of-another-ca", sec(other.ClientCert, other.ClientKey)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, stop := start(t, Config{Brokers: b.Addr, Security: c.sec, DeliveryTimeout: time.Second, FlushTimeout: 100 * time.Millisecond},
				src, quietLog(t))
			refused := testenv.Within(30*time.Second, func() bool { return value(t, f.metrics.authFails) >= 1 })
			stop()
			if !refused {
				t.Fatalf("no refused handshake counted in 30s; last error %q", f.LastError())
			}
			if n := value(t, f.metrics.delivered.WithLabelValues("telemetry.raw")); n != 0 {
				t.Fatalf("%v messages delivered without an accepted certificate", n)
			}
			if src.Len() != total {
				t.Fatalf("%d of %d readings left in the buffer", src.Len(), total)
			}
			t.Logf("error: %s", f.LastError())
		})
	}

	t.Run("ok", func(t *testing.T) {
		start(t, Config{Brokers: b.Addr, Security: sec(pki.ClientCert, pki.ClientKey)}, src, quietLog(t))
		if err := src.waitEmpty(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		checkTopic(t, kafkatest.Conn{Brokers: b.Addr, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, src, nil)
	})
}
