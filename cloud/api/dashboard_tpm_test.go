package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/attestca"
)

// TestAKCertificateExpiryIsShown: when the cloud issues a TPM gateway's AK
// certificate it keeps the expiry; the gateway view shows it and the fleet
// overview lists it once it is within 30 days.
func TestAKCertificateExpiryIsShown(t *testing.T) {
	ctx := context.Background()
	gw := newSwGateway(t)
	e := newEnv(t, "", "")
	var err error
	if e.gw.EKRoots, err = attestca.LoadEKRoots(gw.sw.CADir); err != nil {
		t.Fatal(err)
	}
	if e.gw.AttestCA, err = attestca.Init(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, 1, "")
	client := gw.client(e, "gw-ak-1")
	if _, err := client.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-ak-1/approve", admin, nil), 200)
	if _, err := client.ObtainToken(ctx); err != nil {
		t.Fatal(err)
	}
	chain, err := client.AKCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := attestca.ParseAKCert(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		AKCertExpiresAt time.Time `json:"ak_cert_expires_at"`
	}
	decodeInto(t, e.do("GET", "/api/v1/gateways/gw-ak-1", admin, nil).raw, &g)
	if !g.AKCertExpiresAt.Equal(ak.Cert.NotAfter) {
		t.Fatalf("ak_cert_expires_at %v, certificate NotAfter %v", g.AKCertExpiresAt, ak.Cert.NotAfter)
	}
	expiring := func() []map[string]any {
		var o struct{ Expiring []map[string]any }
		decodeInto(t, e.do("GET", "/api/v1/fleet/overview", admin, nil).raw, &o)
		return o.Expiring
	}
	if ex := expiring(); len(ex) != 0 {
		t.Fatalf("a fresh AK certificate listed as expiring: %v", ex)
	}
	// The gateway token lasts a year; the AK certificate an hour, renewed
	// with every ACME order, so it is never listed.
	soon := ak.Cert.NotAfter.Add(365*24*time.Hour - 10*24*time.Hour)
	e.gw.Now = func() time.Time { return soon }
	kinds := map[any]bool{}
	for _, x := range expiring() {
		if x["gateway_id"] == "gw-ak-1" {
			kinds[x["credential"]] = true
		}
	}
	if kinds["AK certificate"] || !kinds["gateway token"] {
		t.Fatalf("10 days before the token ends, expiring: %v", kinds)
	}
}
