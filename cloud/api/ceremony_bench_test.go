package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pki/acmeclient"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// BenchmarkEnrollmentCeremony: the whole ceremony of one gateway through
// one control plane, end to end: TPM enrollment with EK check, credential
// activation, approval, token, AK certificate, ACME device-attest-01 at
// the real step-ca (with the webhook) and the certificate. The TPM is a
// swtpm on the same two cores.
func BenchmarkEnrollmentCeremony(b *testing.B) {
	ctx := context.Background()
	gw := newSwGatewayTB(b)
	e := newEnv(b, "", "", func(o *api.Options) { o.GatewayRateLimit = 0 })
	var err error
	if e.gw.EKRoots, err = attestca.LoadEKRoots(gw.sw.CADir); err != nil {
		b.Fatal(err)
	}
	if e.gw.AttestCA, err = attestca.Init(filepath.Join(b.TempDir(), "attest")); err != nil {
		b.Fatal(err)
	}
	listener := httptest.NewUnstartedServer(nil)
	b.Cleanup(listener.Close)
	caAddr := testenv.FreeAddr(b)
	layout, err := stepca.Init(stepca.InitOptions{Dir: filepath.Join(b.TempDir(), "step"), Address: caAddr,
		DNSNames: []string{"127.0.0.1"}, AttestationRootsPEM: e.gw.AttestCA.CertificatePEM(),
		WebhookURL: "https://" + listener.Listener.Addr().String() + "/internal/step-ca/authorize"})
	if err != nil {
		b.Fatal(err)
	}
	tlsCfg, _, err := api.GatewayTLSConfig(filepath.Dir(filepath.Dir(layout.Config)))
	if err != nil {
		b.Fatal(err)
	}
	listener.Config.Handler = e.srv.GatewayListener(stepca.WebhookOptions{CANames: layout.DNSNames})
	listener.TLS = tlsCfg
	listener.StartTLS()
	testenv.StartStepCA(b, layout.Config, caAddr, layout.RootCert)
	roots, _ := stepca.LoadRoots(layout.RootCert)
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
