package api_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// TestTLSCertificateExpiryIsShown: step-ca does not tell the cloud what it
// issues, so the cloud keeps the validity of the certificate a gateway
// exchanges for a token on the mTLS listener. The gateway view shows it,
// and the fleet overview lists the certificate once its renewal is overdue
// (past 2/3 of its lifetime, when the agent renews it), for approved
// gateways within the reader's gateway_access only.
func TestTLSCertificateExpiryIsShown(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		gw := newSwGateway(t)
		e := newEnv(t, dbURL, "")
		w := newMTLSWorld(t, e, gw.sw.CADir)
		admin := e.login(adminEmail, adminPassword)
		_, token := e.enrollmentToken(admin, 1, "site-a")
		client := gw.client(e, "gw-tls-1")
		if _, err := client.Enroll(ctx, token, "edge", nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-tls-1/approve", admin, nil), 200)
		if _, err := client.ObtainToken(ctx); err != nil {
			t.Fatal(err)
		}
		chain, err := client.AKCertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := w.obtain(ctx, gw, "gw-tls-1", chain)
		if err != nil {
			t.Fatalf("step-ca certificate: %v\nstep-ca log:\n%s", err, w.step.Log())
		}
		type gwView struct {
			NotBefore *time.Time `json:"tls_cert_not_before"`
			ExpiresAt *time.Time `json:"tls_cert_expires_at"`
		}
		view := func() gwView {
			var g gwView
			decodeInto(t, e.do("GET", "/api/v1/gateways/gw-tls-1", admin, nil).raw, &g)
			return g
		}
		if g := view(); g.NotBefore != nil || g.ExpiresAt != nil {
			t.Fatalf("TLS certificate validity before the gateway used mTLS: %+v", g)
		}

		st, body := mtlsCall(t, w.client(cert), "POST", w.base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-tls-1"})
		if st != 200 {
			t.Fatalf("token by certificate: %d %v", st, body)
		}
		leaf := cert.Leaf
		if g := view(); g.ExpiresAt == nil || !g.ExpiresAt.Equal(leaf.NotAfter) || g.NotBefore == nil || !g.NotBefore.Equal(leaf.NotBefore) {
			t.Fatalf("after the token exchange the view has %+v, certificate %v..%v", g, leaf.NotBefore, leaf.NotAfter)
		}

		// The same certificate again: nothing is written (the exchange stays
		// one read of the gateway). A marker in the row shows it untouched.
		row := e.store.DB.Table("gateways").Where("id = ?", "gw-tls-1")
		var renewAt time.Time
		if err := row.Session(&gorm.Session{}).Select("tls_cert_renew_at").Scan(&renewAt).Error; err != nil {
			t.Fatal(err)
		}
		marker := leaf.NotAfter.Add(time.Hour).UTC()
		if err := row.Session(&gorm.Session{}).Update("tls_cert_renew_at", marker).Error; err != nil {
			t.Fatal(err)
		}
		if st, body := mtlsCall(t, w.client(cert), "POST", w.base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-tls-1"}); st != 200 {
			t.Fatalf("second token by certificate: %d %v", st, body)
		}
		var after time.Time
		if err := row.Session(&gorm.Session{}).Select("tls_cert_renew_at").Scan(&after).Error; err != nil {
			t.Fatal(err)
		}
		if !after.Equal(marker) {
			t.Fatalf("the same certificate rewrote its validity (renew_at %v, marker %v)", after, marker)
		}
		if err := row.Session(&gorm.Session{}).Update("tls_cert_renew_at", renewAt).Error; err != nil {
			t.Fatal(err)
		}

		// The agent renews at 2/3 of the lifetime (step-ca's default: 24 h).
		renew := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
		listed := func(reader string) []time.Time {
			var o struct {
				Expiring []struct {
					GatewayID  string    `json:"gateway_id"`
					Credential string    `json:"credential"`
					ExpiresAt  time.Time `json:"expires_at"`
				}
			}
			decodeInto(t, e.do("GET", "/api/v1/fleet/overview", reader, nil).raw, &o)
			var at []time.Time
			for _, x := range o.Expiring {
				if x.GatewayID == "gw-tls-1" && x.Credential == "TLS certificate" {
					at = append(at, x.ExpiresAt)
				}
			}
			return at
		}
		if got := listed(admin); len(got) != 0 {
			t.Fatalf("a fresh TLS certificate listed as expiring: %v", got)
		}
		e.gw.Now = func() time.Time { return renew.Add(-time.Minute) }
		if got := listed(admin); len(got) != 0 {
			t.Fatalf("a minute before its renewal point the TLS certificate is listed: %v", got)
		}
		e.gw.Now = func() time.Time { return renew.Add(time.Minute) }
		if got := listed(admin); len(got) != 1 || !got[0].Equal(leaf.NotAfter) {
			t.Fatalf("a minute past its renewal point, TLS certificate listings %v, want one ending %v", got, leaf.NotAfter)
		}
		siteA := e.user("site-a@example.com", []string{rbac.Viewer}, "site-a")
		siteB := e.user("site-b@example.com", []string{rbac.Viewer}, "site-b")
		if len(listed(siteA)) != 1 || len(listed(siteB)) != 0 {
			t.Fatalf("gateway_access: site-a viewer sees %v, site-b viewer %v", listed(siteA), listed(siteB))
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-tls-1/disable", admin, nil), 200)
		if got := listed(admin); len(got) != 0 {
			t.Fatalf("a disabled gateway's TLS certificate is listed: %v", got)
		}
	})
}
