package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/pki/acmeclient"
)

// BenchmarkEnrollmentCeremony: the whole ceremony of one gateway through
// one control plane, end to end: TPM enrollment with EK check, credential
// activation, approval, token, AK certificate, ACME device-attest-01 at
// the real step-ca (with the webhook) and the certificate. The TPM is a
// swtpm on the same two cores.
func BenchmarkEnrollmentCeremony(b *testing.B) {
	ctx := context.Background()
	gw := newSwGatewayTB(b)
	e := newEnv(b, "", "", func(o *api.Options, _ *api.Deps) { o.GatewayRateLimit = 0 })
	w := newMTLSWorld(b, e, gw.sw.CADir)
	layout, roots := w.layout, w.roots
	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, b.N+1, "")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("gw-ceremony-%d", i)
		c := gw.client(e, id)
		if _, err := c.Enroll(ctx, token, "edge", nil); err != nil {
			b.Fatal(err)
		}
		e.do("POST", "/api/v1/gateways/"+id+"/approve", admin, nil)
		if _, err := c.ObtainToken(ctx); err != nil {
			b.Fatal(err)
		}
		chain, err := c.AKCertificate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		ac, err := acmeclient.New(acmeclient.Config{DirectoryURL: layout.ACMEDirectory, Roots: roots, GatewayID: id, AKChain: chain, Timeout: 30 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		cert, err := ac.Obtain(ctx, acmeclient.TPMKeys(gw.tpm))
		if err != nil {
			b.Fatal(err)
		}
		_ = cert.Key.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enrollments/s")
}
