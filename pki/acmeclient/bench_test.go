package acmeclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/acmeclient"
)

// BenchmarkFullCeremony is one gateway's whole path against one cloud and
// one step-ca: EK check, credential activation (in the TPM), AK
// certificate, then ACME device-attest-01 with a new TPM key and the
// certificate. swtpm does the TPM work on the same two cores.
func BenchmarkFullCeremony(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	for b.Loop() {
		w.ceremony(b, ctx, w.device, gatewayID)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ceremonies/s")
}

// BenchmarkFullCeremonyParallel runs the ceremony for 4 gateways at once,
// each with its own swtpm, against one cloud and one step-ca.
func BenchmarkFullCeremonyParallel(b *testing.B) {
	w := newWorld(b)
	const n = 4
	devs := make(chan *device, n)
	for i := range n {
		if i == 0 {
			devs <- w.device
			continue
		}
		devs <- newDevice(b)
	}
	for i := range n {
		w.auth.set(fmt.Sprintf("gw-bench-%d", i), true)
	}
	var next atomic.Int32
	b.SetParallelism(n / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := <-devs
		id := fmt.Sprintf("gw-bench-%d", next.Add(1)-1)
		for pb.Next() {
			w.ceremony(b, context.Background(), d, id)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ceremonies/s")
}

// ceremony enrolls d (EK check, activation), issues its AK certificate and
// obtains its TLS certificate.
func (w *world) ceremony(b *testing.B, ctx context.Context, d *device, id string) {
	d.enroll(b)
	cert, err := w.clientFor(b, id, d.akCert(b, w.ca, id)).Obtain(ctx, acmeclient.TPMKeys(d.tpm))
	if err != nil {
		b.Fatal(err)
	}
	cert.Key.Close()
}

// BenchmarkMTLSHandshake is a full TLS 1.3 handshake (no resumption) with
// a client certificate, its key in the TPM or in software.
func BenchmarkMTLSHandshake(b *testing.B) {
	w := newWorld(b)
	tpmCert, err := w.client(b, w.akCert(b, w.ca, gatewayID)).Obtain(context.Background(), acmeclient.TPMKeys(w.tpm))
	if err != nil {
		b.Fatal(err)
	}
	defer tpmCert.Key.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", w.serverTLS())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	for _, tc := range []struct {
		name string
		cert tls.Certificate
	}{
		{"tpm-key", tpmCert.TLSCertificate()},
		{"software-key", w.softwareClientCert(b)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := &tls.Config{RootCAs: w.roots, Certificates: []tls.Certificate{tc.cert}, MinVersion: tls.VersionTLS13}
			for b.Loop() {
				c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				// The server verifies the client certificate after the
				// client's Finished; reading waits for the server's close.
				_, _ = c.Read(make([]byte, 1))
				c.Close()
			}
		})
	}
}

func (w *world) serverTLS() *tls.Config {
	cfg := w.mtlsConfig()
	cfg.SessionTicketsDisabled = true
	return cfg
}

// softwareClientCert is a gateway-like certificate whose key is in memory,
// signed with step-ca's intermediate key, for comparison.
func (w *world) softwareClientCert(b *testing.B) tls.Certificate {
	dir := filepath.Dir(filepath.Dir(w.layout.RootCert))
	read := func(p string) []byte {
		raw, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			b.Fatal(err)
		}
		blk, _ := pem.Decode(raw)
		return blk.Bytes
	}
	inter, err := x509.ParseCertificate(read("certs/intermediate_ca.crt"))
	if err != nil {
		b.Fatal(err)
	}
	interKey, err := x509.ParseECPrivateKey(read("secrets/intermediate_ca_key"))
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "software"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, inter, key.Public(), interKey)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, inter.Raw}, PrivateKey: key}
}
