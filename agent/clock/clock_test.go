package clock

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tlsServer serves HTTPS on loopback with a certificate valid over
// [notBefore, notAfter], and returns a client pool trusting it.
func tlsServer(t *testing.T, notBefore, notAfter time.Time) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return srv, pool
}

// handshake connects to srv judging its certificate at the clock's time
// (nil: the local clock, as crypto/tls does by default).
func handshake(srv *httptest.Server, pool *x509.CertPool, now func() time.Time) error {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Time: now}}}
	res, err := c.Get(srv.URL)
	if err == nil {
		res.Body.Close()
	}
	return err
}

// observe asks the (real-time) control plane at url for its Date as a
// gateway whose clock reads local does.
func (c *Clock) observe(t *testing.T, url string) {
	t.Helper()
	sent := c.local()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	c.ObserveDate(res.Header.Get("Date"), sent, c.local())
}

func invalidCert(err error, reason x509.InvalidReason) bool {
	var ce x509.CertificateInvalidError
	return errors.As(err, &ce) && ce.Reason == reason
}

// TestHandshakesSurviveAGatewayClockHoursOff: with the gateway's clock
// 25 h ahead, a 24 h certificate issued an hour ago looks expired; 3 h
// behind, a certificate issued an hour ago is not yet valid. Judged by the
// clock corrected with the control plane's Date (or, behind, raised to the
// NotBefore of the gateway's own newer certificate), both handshakes work,
// and the skew is logged as a warning.
func TestHandshakesSurviveAGatewayClockHoursOff(t *testing.T) {
	real := time.Now()
	srv, pool := tlsServer(t, real.Add(-time.Hour), real.Add(23*time.Hour))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})) // the plain API: real time in Date
	defer plain.Close()

	for _, c := range []struct {
		name   string
		offset time.Duration
		reason x509.InvalidReason
	}{
		{"25h-ahead", 25 * time.Hour, x509.Expired},
		{"3h-behind", -3 * time.Hour, x509.Expired}, // crypto/x509 says Expired for "not yet valid" too
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			clk := &Clock{Tolerance: DefaultTolerance, log: slog.New(slog.NewTextHandler(&logs, nil)),
				local: func() time.Time { return time.Now().Add(c.offset) }}
			if err := handshake(srv, pool, clk.Now); !invalidCert(err, c.reason) {
				t.Fatalf("before the control plane's time is known: %v, want the certificate refused", err)
			}
			clk.observe(t, plain.URL)
			if err := handshake(srv, pool, clk.Now); err != nil {
				t.Fatalf("judged by the control plane's time: %v", err)
			}
			if skew := clk.Skew(); (skew + c.offset).Abs() > 5*time.Second {
				t.Fatalf("skew %s, want -(%s)", skew, c.offset)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "gateway clock differs") {
				t.Fatalf("skew not logged as a warning: %s", logs.String())
			}
			// Back in agreement: the local clock is trusted again, and that is logged.
			clk.local = time.Now
			clk.observe(t, plain.URL)
			if clk.Skew() != 0 || !strings.Contains(logs.String(), "agrees with the control plane again") {
				t.Fatalf("skew %s after the clock was set right; log:\n%s", clk.Skew(), logs.String())
			}
		})
	}

	t.Run("3h-behind-floor-from-own-certificate", func(t *testing.T) {
		clk := &Clock{Tolerance: DefaultTolerance, log: slog.New(slog.DiscardHandler),
			local: func() time.Time { return time.Now().Add(-3 * time.Hour) }}
		own := &x509.Certificate{NotBefore: real.Add(-10 * time.Minute)} // the gateway's certificate, issued after the server's
		clk.SawCertificates(own)
		if err := handshake(srv, pool, clk.Now); err != nil {
			t.Fatalf("with the floor of the gateway's own certificate: %v", err)
		}
	})
}

func TestDateWithinToleranceChangesNothing(t *testing.T) {
	clk := &Clock{Tolerance: DefaultTolerance, log: slog.New(slog.DiscardHandler), local: time.Now}
	now := time.Now()
	clk.ObserveDate(now.Add(30*time.Second).UTC().Format(http.TimeFormat), now, now)
	clk.ObserveDate("not a date", now, now)
	if clk.Skew() != 0 {
		t.Fatalf("skew %s within tolerance", clk.Skew())
	}
	clk.RaiseFloor(now.Add(time.Hour))
	clk.RaiseFloor(now) // never lowers
	if got := clk.Now(); got.Before(now.Add(time.Hour)) {
		t.Fatalf("Now %s below the floor", got)
	}
}
