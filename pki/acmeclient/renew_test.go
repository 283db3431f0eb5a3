package acmeclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/acmeclient"
	"github.com/streamforge/streamforge/pki/stepca"
)

// TestRenewerReplacesCertificateAndStopsForDisabledGateway: the renewer
// replaces the certificate at 2/3 of its lifetime (Status says nothing is
// wrong); once step-ca refuses the gateway, each attempt fails and Status
// keeps the reason, which the agent reports in its heartbeats.
func TestRenewerReplacesCertificateAndStopsForDisabledGateway(t *testing.T) {
	w := newWorldWith(t, stepca.InitOptions{CertLifetime: 3 * time.Second, Backdate: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := w.client(t, w.akCert(t, w.ca, gatewayID))
	first, err := c.Obtain(ctx, acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatal(err)
	}
	store := &acmeclient.Store{Dir: t.TempDir()}
	var holder acmeclient.Holder
	holder.Set(first)
	certs, errs := make(chan *acmeclient.Certificate, 10), make(chan error, 10)
	r := &acmeclient.Renewer{
		Client: c, Keys: acmeclient.TPMKeys(w.tpm), Store: store,
		OnCert:   func(c *acmeclient.Certificate) { holder.Set(c); certs <- c },
		OnError:  func(err error) { errs <- err },
		RetryMin: 200 * time.Millisecond,
		Status:   &acmeclient.RenewStatus{},
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, first) }()

	var renewed *acmeclient.Certificate
	select {
	case renewed = <-certs:
	case err := <-errs:
		t.Fatalf("renewal failed: %v", err)
	case <-ctx.Done():
		t.Fatal("no renewal")
	}
	if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("renewal returned the same certificate")
	}
	if at := acmeclient.RenewAt(first.Leaf); time.Now().Before(at) {
		t.Fatalf("renewed before 2/3 of the lifetime (%v)", at)
	}
	if e := r.Status.LastError(); e != "" {
		t.Fatalf("renewal status after a renewal: %q", e)
	}
	// The renewed certificate is kept and reloads with its TPM key.
	loaded, err := store.Load(acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) != 0 {
		t.Fatal("store holds another certificate")
	}
	loaded.Key.Close()
	// The holder serves the renewed certificate over mTLS.
	srv := w.mtlsServer(t)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: w.roots, GetClientCertificate: holder.GetClientCertificate, MinVersion: tls.VersionTLS13,
	}}}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatalf("mTLS with renewed certificate: %v", err)
	}
	resp.Body.Close()

	// Once the gateway is disabled, renewal fails (and keeps failing).
	w.auth.set(gatewayID, false)
	for {
		select {
		case <-certs:
			continue // a renewal that started before the gateway was disabled
		case err := <-errs:
			if err == nil {
				t.Fatal("nil error")
			}
			// (a later attempt may have failed since, with other words)
			if got := r.Status.LastError(); !strings.HasPrefix(got, "renew gateway certificate") {
				t.Fatalf("renewal status %q after the failed attempt %q", got, err)
			}
		case <-ctx.Done():
			t.Fatal("disabled gateway: no failed renewal reported")
		}
		break
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run ended with %v", err)
	}
}

// A gateway that was offline past its certificate's expiry re-attests: the
// AK certificate is all a new order needs.
func TestRenewerRecoversAfterExpiry(t *testing.T) {
	w := newWorldWith(t, stepca.InitOptions{CertLifetime: 2 * time.Second, Backdate: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := w.client(t, w.akCert(t, w.ca, gatewayID))
	old, err := c.Obtain(ctx, acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(old.Leaf.NotAfter) + 100*time.Millisecond)
	got := make(chan *acmeclient.Certificate, 1)
	r := &acmeclient.Renewer{Client: c, Keys: acmeclient.TPMKeys(w.tpm), OnCert: func(c *acmeclient.Certificate) {
		select {
		case got <- c:
		default:
		}
	}}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, old) }()
	defer func() { cancel(); <-done }()
	select {
	case c := <-got:
		if !time.Now().Before(c.Leaf.NotAfter) {
			t.Fatal("recovered certificate already expired")
		}
	case <-ctx.Done():
		t.Fatal("no certificate after expiry")
	}
}
