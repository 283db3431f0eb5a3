package forward

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

// testPKI writes a CA and a broker certificate for 127.0.0.1 signed by it.
func testPKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("broker.pem", "CERTIFICATE", der), write("broker.key", "EC PRIVATE KEY", keyDER)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSASLSSLWithSCRAMAndCA(t *testing.T) {
	const user, pass = "gateway-1", "s3cret-Pa55word"
	ca, cert, key := testPKI(t)
	b := testenv.StartKfake(t, testenv.KafkaOpts{SCRAMUser: user, SCRAMPassword: pass, TLSCert: cert, TLSKey: key})
	sec := Security{Protocol: "sasl_ssl", Username: user, CAFile: ca}
	src := newMemSource()
	src.Put(readings("plc1", 5, 100)...)

	t.Run("fail-wrong-password-keeps-everything", func(t *testing.T) {
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		bad := sec
		bad.Password = secrets.New("wrong-" + pass)
		f, stop := start(t, Config{Brokers: b.Addr, Security: bad, DeliveryTimeout: time.Second, FlushTimeout: 100 * time.Millisecond,
			Librdkafka: map[string]string{"debug": "security,broker,protocol"}}, src, log)
		// The first error may be the broker's closed connection; the
		// refused login is named once librdkafka has read it as one.
		testenv.Within(15*time.Second, func() bool {
			return strings.Contains(f.LastError(), "SASL authentication") && value(t, f.metrics.authFails) >= 1
		})
		stop()
		if !strings.Contains(f.LastError(), "SASL authentication") {
			t.Fatalf("error %q does not name the SASL authentication", f.LastError())
		}
		if n := value(t, f.metrics.authFails); n < 1 {
			t.Errorf("auth failures metric %v after a refused login, want >= 1", n)
		}
		if src.Len() != 500 {
			t.Fatalf("%d of 500 readings left in the buffer", src.Len())
		}
		for _, s := range []string{logs.String(), f.LastError()} {
			if strings.Contains(s, bad.Password.Reveal()) || strings.Contains(s, pass) {
				t.Fatal("password in the log or error")
			}
		}
		t.Logf("error: %s", f.LastError())
	})

	t.Run("ok", func(t *testing.T) {
		good := sec
		good.Password = secrets.New(pass)
		start(t, Config{Brokers: b.Addr, Security: good}, src, quietLog(t))
		if err := src.waitEmpty(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		checkTopic(t, kafkatest.Conn{Brokers: b.Addr, User: user, Password: pass, CAFile: ca}, src, nil)
	})
}
