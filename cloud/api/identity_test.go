package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/stepca"
)

// TestDeletedGatewayIsCutOffEverywhere: a gateway's credentials belong to
// its enrollment. After gw-a is deleted and another TPM enrolls as gw-a and
// is approved, the old device's TLS certificate is refused at the
// handshake (so it gets no token and sends no heartbeat as the new gw-a),
// and its AK certificate gets no new certificate from step-ca (the
// webhook refuses its enrollment). The new device works.
func TestDeletedGatewayIsCutOffEverywhere(t *testing.T) {
	ctx := context.Background()
	oldDev, newDev := newSwGateway(t), newSwGateway(t)
	e := newEnv(t, "", "")
	w := newMTLSWorld(t, e, oldDev.sw.CADir)
	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, 5, "")

	oldClient := oldDev.client(e, "gw-a")
	if _, err := oldClient.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-a/approve", admin, nil), 200)
	oldToken, err := oldClient.ObtainToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldAK, err := oldClient.AKCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldCert, err := w.obtain(ctx, oldDev, "gw-a", oldAK)
	if err != nil {
		t.Fatalf("old device's certificate: %v\n%s", err, w.step.Log())
	}
	oldMTLS := w.client(oldCert)
	if st, body := mtlsCall(t, oldMTLS, "POST", w.base+"/api/v1/gateways/token", "", wire.ChallengeRequest{GatewayID: "gw-a"}); st != 200 {
		t.Fatalf("old device before the delete: %d %v", st, body)
	}

	wantStatus(t, e.do("DELETE", "/api/v1/gateways/gw-a", admin, nil), 204)
	newClient := newDev.client(e, "gw-a")
	if _, err := newClient.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-a/approve", admin, nil), 200)

	// The old certificate: refused at the handshake, so no token and no
	// heartbeat as the new gw-a.
	if st, body := mtlsCall(t, oldMTLS, "POST", w.base+"/api/v1/gateways/token", "", wire.ChallengeRequest{GatewayID: "gw-a"}); st != 0 {
		t.Fatalf("old device's certificate after the delete: %d %v", st, body)
	}
	// Its token and its TPM key proof on the plain listener: refused.
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-a/heartbeat", oldToken.Token, wire.Heartbeat{Status: "ok"}), 401)
	_, err = oldClient.ObtainToken(ctx)
	wantAPIStatus(t, err, 401)
	// The old AK certificate: step-ca asks the webhook, which refuses the
	// old enrollment.
	if _, err := w.obtain(ctx, oldDev, "gw-a", oldAK); err == nil {
		t.Fatal("the old device's AK certificate still gets step-ca certificates")
	}
	// The new device: AK certificate, certificate and token all work.
	if _, err := newClient.ObtainToken(ctx); err != nil {
		t.Fatal(err)
	}
	newAK, err := newClient.AKCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newCert, err := w.obtain(ctx, newDev, "gw-a", newAK)
	if err != nil {
		t.Fatalf("new device's certificate: %v\n%s", err, w.step.Log())
	}
	oldID, oldEnr, _ := stepca.GatewayIdentity(oldCert.Leaf)
	newID, newEnr, _ := stepca.GatewayIdentity(newCert.Leaf)
	if oldID != "gw-a" || newID != "gw-a" || oldEnr == "" || oldEnr == newEnr {
		t.Fatalf("certificates name %s:%s and %s:%s, want gw-a with two enrollments", oldID, oldEnr, newID, newEnr)
	}
	newMTLS := w.client(newCert)
	st, body := mtlsCall(t, newMTLS, "POST", w.base+"/api/v1/gateways/token", "", wire.ChallengeRequest{GatewayID: "gw-a"})
	if st != 200 {
		t.Fatalf("new device's token: %d %v", st, body)
	}
	if st, _ := mtlsCall(t, newMTLS, "POST", w.base+"/api/v1/gateways/gw-a/heartbeat", body["token"].(string), wire.Heartbeat{Status: "ok"}); st != 204 {
		t.Fatalf("new device's heartbeat: %d", st)
	}
	denied := 0
	for _, r := range e.records(admin, "event_type=gateway.certificate.authorize&resource_id=gw-a") {
		if r["result"] == "denied" {
			denied++
		}
	}
	if denied == 0 {
		t.Fatal("the webhook's refusal of the old enrollment is not audited")
	}
}

// TestCertificateBoundTokens: a token obtained with a certificate carries
// RFC 8705 cnf x5t#S256. It is refused on the plain listener and with any
// other certificate, a new one revokes the older ones, and a disabled
// gateway's certificate is refused at the TLS handshake.
func TestCertificateBoundTokens(t *testing.T) {
	ctx := context.Background()
	dev := newSwGateway(t)
	e := newEnv(t, "", "")
	w := newMTLSWorld(t, e, dev.sw.CADir)
	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, 5, "")
	c := dev.client(e, "gw-cnf")
	if _, err := c.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-cnf/approve", admin, nil), 200)
	plainTok, err := c.ObtainToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := c.AKCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	certA, err := w.obtain(ctx, dev, "gw-cnf", ak)
	if err != nil {
		t.Fatal(err)
	}
	certB, err := w.obtain(ctx, dev, "gw-cnf", ak)
	if err != nil {
		t.Fatal(err)
	}
	mtlsA, mtlsB := w.client(certA), w.client(certB)
	tokenBy := func(t *testing.T) string {
		t.Helper()
		st, body := mtlsCall(t, mtlsA, "POST", w.base+"/api/v1/gateways/token", "", wire.ChallengeRequest{GatewayID: "gw-cnf"})
		if st != 200 {
			t.Fatalf("token by certificate: %d %v", st, body)
		}
		return body["token"].(string)
	}
	first := tokenBy(t)
	heartbeat := "/api/v1/gateways/gw-cnf/heartbeat"
	if st, _ := mtlsCall(t, mtlsA, "POST", w.base+heartbeat, first, wire.Heartbeat{Status: "ok"}); st != 204 {
		t.Fatalf("bound token with its certificate: %d", st)
	}
	wantError(t, e.do("POST", heartbeat, first, wire.Heartbeat{Status: "ok"}), 401, "bound to a client certificate")
	if st, body := mtlsCall(t, mtlsB, "POST", w.base+heartbeat, first, wire.Heartbeat{Status: "ok"}); st != 401 {
		t.Fatalf("bound token with another certificate of the same gateway: %d %v", st, body)
	}
	second := tokenBy(t)
	if st, _ := mtlsCall(t, mtlsA, "POST", w.base+heartbeat, first, wire.Heartbeat{Status: "ok"}); st != 401 {
		t.Fatalf("older token after a new one was issued: %d", st)
	}
	wantStatus(t, e.do("POST", heartbeat, plainTok.Token, wire.Heartbeat{Status: "ok"}), 401)
	if st, _ := mtlsCall(t, mtlsA, "POST", w.base+heartbeat, second, wire.Heartbeat{Status: "ok"}); st != 204 {
		t.Fatalf("newest token: %d", st)
	}

	// Only gateway routes on the gateway listener.
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/v1/auth/login"}, {"GET", "/api/v1/users"}, {"GET", "/api/v1/auth/me"}, {"GET", "/api/v1/gateways"},
		{"GET", "/api/v1/audit"}, {"POST", "/api/v1/gateways/enroll"}, {"GET", "/claim"}, {"GET", "/healthz"},
	} {
		if st, _ := mtlsCall(t, mtlsA, r.method, w.base+r.path, second, map[string]string{"email": adminEmail, "password": adminPassword}); st != 404 {
			t.Errorf("%s %s on the gateway listener: %d, want 404", r.method, r.path, st)
		}
	}

	// Disabled: refused at the handshake; enabled again: accepted.
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-cnf/disable", admin, nil), 200)
	if st, body := mtlsCall(t, mtlsA, "POST", w.base+heartbeat, second, wire.Heartbeat{Status: "ok"}); st != 0 {
		t.Fatalf("disabled gateway's certificate passed the handshake: %d %v", st, body)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-cnf/enable", admin, nil), 200)
	if st, body := mtlsCall(t, mtlsA, "POST", w.base+"/api/v1/gateways/token", "", wire.ChallengeRequest{GatewayID: "gw-cnf"}); st != 200 {
		t.Fatalf("re-enabled gateway's certificate: %d %v", st, body)
	}
}

// TestKeyIdentityNeedsTheSetting: without STREAMFORGE_ALLOW_KEY_IDENTITY
// every gateway needs a TPM. A software-key enrollment is refused (400,
// audited), and a key gateway approved while the setting was on loses its
// token and gets no new one once it is off. A TPM gateway is unaffected.
func TestKeyIdentityNeedsTheSetting(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, 5, "")
	allowed := e.gateway("gw-key-1")
	if _, err := allowed.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-key-1/approve", admin, nil), 200)
	tok, err := allowed.ObtainToken(ctx)
	if err != nil {
		t.Fatal(err)
	}

	e.gw.AllowKeyIdentity = false
	_, err = e.gateway("gw-key-2").Enroll(ctx, token, "edge", nil)
	wantAPIStatus(t, err, 400)
	if !strings.Contains(err.Error(), "software key identity is not allowed") {
		t.Fatalf("refusal does not say why: %v", err)
	}
	wantStatus(t, e.do("GET", "/api/v1/gateways/gw-key-2", admin, nil), 404)
	refused := false
	for _, r := range e.records(admin, "event_type=gateway.enroll&resource_id=gw-key-2") {
		refused = refused || (r["result"] == "failure" && r["reason"] == "key_identity_not_allowed")
	}
	if !refused {
		t.Fatal("the refused key enrollment is not audited")
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-key-1/heartbeat", tok.Token, wire.Heartbeat{Status: "ok"}), 401)
	_, err = allowed.ObtainToken(ctx)
	wantAPIStatus(t, err, 403)

	dev := newSwGateway(t)
	if _, err := dev.client(e, "gw-tpm-1").Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatalf("TPM enrollment with key identity off: %v", err)
	}
}

// TestGatewayTokensNameTheirEnrollment: a gateway token names the
// enrollment it was issued to. Even if its row survived the gateway's
// deletion (restored from a backup, say), it does not work for the gateway
// that enrolled under the same id afterwards.
func TestGatewayTokensNameTheirEnrollment(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 2, "")
	enroll := func() (string, store.GatewayToken) {
		t.Helper()
		gw := e.gateway("gw-k")
		if _, err := gw.Enroll(ctx, value, "edge", nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-k/approve", admin, nil), 200)
		tok, err := gw.ObtainToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var row store.GatewayToken
		if err := e.store.DB.Where("gateway_id = ? AND revoked_at IS NULL", "gw-k").Take(&row).Error; err != nil {
			t.Fatal(err)
		}
		return tok.Token, row
	}
	oldToken, oldRow := enroll()
	wantStatus(t, e.do("DELETE", "/api/v1/gateways/gw-k", admin, nil), 204)
	newToken, _ := enroll()
	if err := e.store.DB.Create(&oldRow).Error; err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-k/heartbeat", oldToken, wire.Heartbeat{Status: "ok"}), 401)
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-k/heartbeat", newToken, wire.Heartbeat{Status: "ok"}), 204)
}
