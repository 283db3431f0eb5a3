package forward

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

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
	pki := testenv.WritePKI(t)
	ca := pki.CAFile
	b := testenv.StartKfake(t, testenv.KafkaOpts{SCRAMUser: user, SCRAMPassword: pass, TLSCert: pki.CertFile, TLSKey: pki.KeyFile})
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
