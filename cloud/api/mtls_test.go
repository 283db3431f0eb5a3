package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/acmeclient"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// mtlsCall sends a JSON request over the gateway listener with a client
// certificate (and a Bearer token when given).
func mtlsCall(t *testing.T, client *http.Client, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// mtlsWorld is a control plane with an attestation CA, its gateway
// listener (mTLS, with step-ca's webhook) and the real step-ca program.
type mtlsWorld struct {
	e      *env
	base   string // the gateway listener
	layout *stepca.Layout
	roots  *x509.CertPool
	step   *testenv.StepCA
}

// newMTLSWorld serves e's gateway listener; ekCADir holds the TPM
// manufacturer roots (a swtpm's local CA).
func newMTLSWorld(tb testing.TB, e *env, ekCADir string) *mtlsWorld {
	tb.Helper()
	var err error
	if e.gw.EKRoots, err = attestca.LoadEKRoots(ekCADir); err != nil {
		tb.Fatal(err)
	}
	if e.gw.AttestCA, err = attestca.Init(filepath.Join(tb.TempDir(), "attest")); err != nil {
		tb.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = raw.Close() })
	caAddr := testenv.FreeAddr(tb)
	layout, err := stepca.Init(stepca.InitOptions{Dir: filepath.Join(tb.TempDir(), "step"), Address: caAddr,
		DNSNames: []string{"127.0.0.1"}, AttestationRootsPEM: e.gw.AttestCA.CertificatePEM(),
		WebhookURL: "https://" + raw.Addr().String() + "/internal/step-ca/authorize"})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := e.srv.GatewayListener(raw, filepath.Dir(filepath.Dir(layout.Config)))
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = e.srv.App().Listener(ln) }()
	w := &mtlsWorld{e: e, base: "https://" + raw.Addr().String(), layout: layout}
	w.step = testenv.StartStepCA(tb, layout.Config, caAddr, layout.RootCert)
	w.roots, _ = stepca.LoadRoots(layout.RootCert)
	return w
}

// obtain runs device-attest-01 at step-ca for gateway id with akChain and
// a new key in g's TPM.
func (w *mtlsWorld) obtain(ctx context.Context, g *swGateway, id string, akChain [][]byte) (*acmeclient.Certificate, error) {
	ac, err := acmeclient.New(acmeclient.Config{DirectoryURL: w.layout.ACMEDirectory, Roots: w.roots, GatewayID: id,
		AKChain: akChain, Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	return ac.Obtain(ctx, acmeclient.TPMKeys(g.tpm))
}

// approvedCertificate enrolls g as id, approves it, and gets its step-ca
// certificate with an AK certificate from the cloud.
func (w *mtlsWorld) approvedCertificate(t *testing.T, g *swGateway, admin, id string) *acmeclient.Certificate {
	t.Helper()
	ctx := context.Background()
	_, token := w.e.enrollmentToken(admin, 1, "")
	client := g.client(w.e, id)
	if _, err := client.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, w.e.do("POST", "/api/v1/gateways/"+id+"/approve", admin, nil), 200)
	if _, err := client.ObtainToken(ctx); err != nil {
		t.Fatal(err)
	}
	chain, err := client.AKCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := w.obtain(ctx, g, id, chain)
	if err != nil {
		t.Fatalf("certificate: %v\nstep-ca log:\n%s", err, w.step.Log())
	}
	return cert
}

// client presents cert on the gateway listener; every call opens a new
// connection, so each one is a new TLS handshake.
func (w *mtlsWorld) client(cert *acmeclient.Certificate) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
		RootCAs: w.roots, Certificates: []tls.Certificate{cert.TLSCertificate()}, MinVersion: tls.VersionTLS13}}}
}

// TestStepCAIssuesOnlyToApprovedTPMGateways runs the whole chain with the
// real step-ca program and swtpm: TPM enrollment, approval, the AK
// certificate from the cloud's attestation CA, ACME device-attest-01 at
// step-ca (which asks the cloud's webhook), then the gateway's token
// proven by its certificate on the mTLS listener, and its gateway routes
// there. A disabled gateway gets no new certificate, a client without a
// certificate is refused, and a certificate cannot be used with another
// gateway's token.
func TestStepCAIssuesOnlyToApprovedTPMGateways(t *testing.T) {
	ctx := context.Background()
	gw := newSwGateway(t)
	e := newEnv(t, "", "")
	w := newMTLSWorld(t, e, gw.sw.CADir)
	roots, step := w.roots, w.step

	admin := e.login(adminEmail, adminPassword)
	_, token := e.enrollmentToken(admin, 5, "")
	client := gw.client(e, "gw-mtls-1")
	if _, err := client.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	var chain [][]byte
	obtain := func() (*acmeclient.Certificate, error) { return w.obtain(ctx, gw, "gw-mtls-1", chain) }
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-mtls-1/approve", admin, nil), 200)
	if _, err := client.ObtainToken(ctx); err != nil {
		t.Fatal(err)
	}
	chain, err := client.AKCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := obtain()
	if err != nil {
		t.Fatalf("certificate for an approved gateway: %v\nstep-ca log:\n%s", err, step.Log())
	}
	if id, err := stepca.GatewayID(cert.Leaf); err != nil || id != "gw-mtls-1" {
		t.Fatalf("certificate names %q: %v", id, err)
	}
	mtls := w.client(cert)
	base := w.base

	st, body := mtlsCall(t, mtls, "POST", base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-mtls-1"})
	if st != 200 || body["token"] == nil {
		t.Fatalf("token by certificate: %d %v", st, body)
	}
	tok := body["token"].(string)
	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-mtls-1/config", admin, map[string]any{"config": map[string]any{"log_level": "info"}}), 200)
	if st, body = mtlsCall(t, mtls, "GET", base+"/api/v1/gateways/gw-mtls-1/config/current", tok, nil); st != 200 || body["version"] != float64(1) {
		t.Fatalf("config over mTLS: %d %v", st, body)
	}
	if st, _ = mtlsCall(t, mtls, "POST", base+"/api/v1/gateways/gw-mtls-1/heartbeat", tok, wire.Heartbeat{Status: "ok"}); st != 204 {
		t.Fatalf("heartbeat over mTLS: %d", st)
	}
	if st, body = mtlsCall(t, mtls, "POST", base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-other"}); st != 403 {
		t.Fatalf("token for another gateway's id: %d %v", st, body)
	}
	// The gateway listener parses bodies with the API's one decoder.
	for _, raw := range []string{`{"gateway_id":"gw-mtls-1","GATEWAY_ID":"gw-other"}`, `{"gateway_id":"gw-mtls-1\u202e"}`} {
		if st, body = mtlsCall(t, mtls, "POST", base+"/api/v1/gateways/token", "", json.RawMessage(raw)); st != 400 {
			t.Fatalf("body %s on the gateway listener: %d %v", raw, st, body)
		}
	}

	// Another gateway's token with this gateway's certificate.
	other := newSwGateway(t)
	oc := other.client(e, "gw-mtls-2")
	if _, err := oc.Enroll(ctx, token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-mtls-2/approve", admin, nil), 200)
	ot, err := oc.ObtainToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, body = mtlsCall(t, mtls, "GET", base+"/api/v1/gateways/gw-mtls-2/config/current", ot.Token, nil); st != 403 || !strings.Contains(body["error"].(string), "different gateways") {
		t.Fatalf("other gateway's token with this certificate: %d %v", st, body)
	}
	// No client certificate: the TLS handshake itself fails.
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if st, _ := mtlsCall(t, plain, "POST", base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-mtls-1"}); st != 0 {
		t.Fatalf("no client certificate: %d", st)
	}
	// A disabled gateway gets no new certificate, though it still holds its
	// AK certificate: step-ca asks the webhook, which says no.
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-mtls-1/disable", admin, nil), 200)
	if _, err := obtain(); err == nil {
		t.Fatal("a disabled gateway got a certificate")
	}
	if _, err := client.AKCertificate(ctx); err == nil {
		t.Fatal("a disabled gateway got an AK certificate")
	}
	if got := e.records(admin, "event_type=gateway.certificate.authorize&resource_id=gw-mtls-1"); len(got) < 1 || got[0]["result"] != "denied" {
		t.Fatalf("webhook decisions not audited: %v", got)
	}
	if st, _ = mtlsCall(t, mtls, "POST", base+"/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-mtls-1"}); st != 0 {
		t.Fatalf("disabled gateway's certificate passed the TLS handshake: %d", st)
	}
}
