package acmeclient_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/acmeclient"
	"github.com/streamforge/streamforge/pki/attestca"
)

// TestShortLivedAKCertificatePerOrder: step-ca refuses an expired AK
// certificate, so a client given a source of fresh ones (as the agent is:
// the control plane's AK certificates live an hour) keeps obtaining
// certificates, while one holding a single AK certificate does not.
func TestShortLivedAKCertificatePerOrder(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	calls := 0
	issue := func(context.Context) ([][]byte, error) {
		calls++
		der, err := w.ca.IssueAKCert(attestca.AKCertRequest{Challenge: w.chal, GatewayID: gatewayID, TPM: w.ekRes.TPM, Lifetime: 2 * time.Second})
		return [][]byte{der}, err
	}
	fresh, err := acmeclient.New(acmeclient.Config{DirectoryURL: w.layout.ACMEDirectory, Roots: w.roots, GatewayID: gatewayID,
		AKSource: issue, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	first, err := fresh.Obtain(ctx, acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatal(err)
	}
	first.Key.Close()
	oldAK, _ := issue(ctx)
	ak, _ := x509.ParseCertificate(oldAK[0])
	<-time.After(time.Until(ak.NotAfter.Add(time.Second))) // until that AK certificate has expired

	if _, err := w.client(t, oldAK).Obtain(ctx, acmeclient.TPMKeys(w.tpm)); err == nil || !strings.Contains(err.Error()+w.stepCA.Log(), "x5c is not valid") {
		t.Fatalf("an expired AK certificate was accepted: %v", err)
	}
	second, err := fresh.Obtain(ctx, acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatalf("a fresh AK certificate per order: %v", err)
	}
	second.Key.Close()
	if calls != 3 {
		t.Fatalf("AK source asked %d times, want once per order (2) plus the test's own", calls)
	}
}
