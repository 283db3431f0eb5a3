package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// gatewayCA is e's gateway listener over a CA that stepca.Init wrote (no
// step-ca program runs): enough for what needs no gateway's certificate.
type gatewayCA struct {
	gw         *env // e, its base the gateway listener
	roots      *x509.CertPool
	inter      *x509.Certificate
	interKey   *ecdsa.PrivateKey
	stepCAName string
}

func newGatewayCA(t *testing.T, e *env) *gatewayCA {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	ac, err := attestca.Init(filepath.Join(t.TempDir(), "attest"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "step")
	layout, err := stepca.Init(stepca.InitOptions{Dir: dir, Address: "127.0.0.1:1", DNSNames: []string{"127.0.0.1"},
		AttestationRootsPEM: ac.CertificatePEM(), WebhookURL: "https://" + raw.Addr().String() + "/internal/step-ca/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := e.srv.GatewayListener(raw, dir)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.srv.App().Listener(ln) }()
	w := &gatewayCA{stepCAName: layout.DNSNames[0]}
	if w.roots, err = stepca.LoadRoots(layout.RootCert); err != nil {
		t.Fatal(err)
	}
	w.inter = parsePEM(t, filepath.Join(dir, "certs", "intermediate_ca.crt"), x509.ParseCertificate)
	w.interKey = parsePEM(t, filepath.Join(dir, "secrets", "intermediate_ca_key"), x509.ParseECPrivateKey)
	gw := *e
	gw.base = "https://" + raw.Addr().String()
	w.gw = &gw
	return w
}

func parsePEM[T any](t *testing.T, path string, parse func([]byte) (T, error)) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	v, err := parse(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// client presents a client certificate from the CA's intermediate: as
// step-ca's own when stepCA, else one naming neither a gateway nor step-ca.
func (w *gatewayCA) client(t *testing.T, stepCA bool) *http.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "intruder"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if stepCA {
		tmpl.Subject.CommonName = w.stepCAName
		tmpl.IPAddresses = []net.IP{net.ParseIP(w.stepCAName)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.inter, key.Public(), w.interKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der, w.inter.Raw}, PrivateKey: key}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: w.roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}}}
}

// TestGatewayListenerServesDeviceRoutesOnly: one app serves both
// listeners, and each answers only its own groups: management and
// enrollment routes are 404 on the gateway listener, step-ca's webhook is
// 404 on the plain one, and errors on both come from the one renderer
// (JSON, no-store).
func TestGatewayListenerServesDeviceRoutesOnly(t *testing.T) {
	e := newEnv(t, "", "")
	w := newGatewayCA(t, e)
	stepCA := w.client(t, true)
	admin := e.login(adminEmail, adminPassword)
	for _, c := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", "/metrics"}, {"GET", "/"}, {"GET", "/claim"}, {"GET", "/api/v1/openapi.json"},
		{"POST", "/api/v1/auth/login"}, {"GET", "/api/v1/users"}, {"GET", "/api/v1/audit"}, {"GET", "/api/v1/gateways"},
		{"POST", "/api/v1/gateways/enroll"}, {"POST", "/api/v1/gateways/token/challenge"}, {"POST", "/api/v1/gateways/token/renew"},
		{"GET", "/no/such/route"},
	} {
		r := w.gw.doWith(stepCA, c.method, c.path, admin, map[string]string{})
		if r.status != 404 || r.body["error"] != "no such route on the gateway listener" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s on the gateway listener: %d %v %v", c.method, c.path, r.status, r.header, string(r.raw))
		}
	}
	// Device routes there need a certificate that names a gateway.
	wantError(t, w.gw.doWith(stepCA, "GET", "/api/v1/gateways/gw-1/config/current", "", nil), 401, "names no gateway")
	wantError(t, w.gw.doWith(stepCA, "POST", "/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-1"}), 401, "names no gateway")
	// The webhook: unsigned is refused through the API's renderer; on the
	// plain listener it does not exist.
	wantError(t, w.gw.doWith(stepCA, "POST", "/internal/step-ca/authorize", "", map[string]string{}), 401, "unauthenticated")
	wantError(t, e.do("POST", "/internal/step-ca/authorize", "", map[string]string{}), 404, "no such route")
	wantStatus(t, e.do("GET", "/healthz", "", nil), 200)
}

// TestForwardedForTrustedOnlyFromTrustedProxiesOnBothListeners: the one
// client-IP logic keys the rate limit on both listeners. From an untrusted
// peer, X-Forwarded-For is ignored (every request counts against the
// peer); from a trusted proxy it names the client.
func TestForwardedForTrustedOnlyFromTrustedProxiesOnBothListeners(t *testing.T) {
	limit := func(o *api.Options, _ *api.Deps) { o.RateLimitPerMinute = 2 }
	for _, trusted := range []bool{false, true} {
		for _, listener := range []string{"plain", "gateway"} {
			name := listener + "-untrusted-peer"
			if trusted {
				name = listener + "-trusted-proxy"
			}
			t.Run(name, func(t *testing.T) {
				opts := []envOpt{limit}
				if trusted {
					opts = append(opts, withTrustedProxy("127.0.0.0/8"))
				}
				e := newEnv(t, "", "", opts...)
				w := newGatewayCA(t, e)
				target, client := e, http.DefaultClient
				if listener == "gateway" {
					target, client = w.gw, w.client(t, true)
				}
				get := func(xff string) int {
					return target.doWith(client, "GET", "/nothing-here", "", nil, "X-Forwarded-For", xff).status
				}
				got := []int{get("203.0.113.1"), get("203.0.113.2"), get("203.0.113.3")}
				if !trusted {
					if got[0] == 429 || got[1] == 429 || got[2] != 429 {
						t.Fatalf("spoofed X-Forwarded-For from an untrusted peer changed the client: %v", got)
					}
					return
				}
				if got[0] == 429 || got[1] == 429 || got[2] == 429 {
					t.Fatalf("a trusted proxy's X-Forwarded-For was not used: %v", got)
				}
				if again := []int{get("203.0.113.1"), get("203.0.113.1")}; again[1] != 429 {
					t.Fatalf("the forwarded client's own limit: %v", again)
				}
			})
		}
	}
}

// TestRefusedHandshakeIsAudited: a certificate from step-ca's root that
// names neither a gateway nor step-ca fails the TLS handshake, and the
// refusal is in the audit trail with its source address.
func TestRefusedHandshakeIsAudited(t *testing.T) {
	e := newEnv(t, "", "")
	w := newGatewayCA(t, e)
	if _, err := w.client(t, false).Get(w.gw.base + "/api/v1/gateways/token"); err == nil {
		t.Fatal("a certificate naming no gateway passed the handshake")
	}
	admin := e.login(adminEmail, adminPassword)
	got := e.records(admin, "event_type=credential.refused")
	for _, r := range got {
		if r["reason"] == "tls_certificate_names_no_gateway" && r["ip_address"] == "127.0.0.1" && r["result"] == "denied" {
			return
		}
	}
	t.Fatalf("refused handshake not audited: %v", got)
}

// TestGatewayListenerTrustsOnlyTheTLSState runs the real chain (swtpm,
// step-ca): the X-Streamforge-Peer-* headers the old bridge used give a
// client nothing on either listener, and a disabled gateway's certificate
// is refused at the handshake with an audit record naming the gateway.
func TestGatewayListenerTrustsOnlyTheTLSState(t *testing.T) {
	g := newSwGateway(t)
	e := newEnv(t, "", "")
	w := newMTLSWorld(t, e, g.sw.CADir)
	admin := e.login(adminEmail, adminPassword)
	cert := w.approvedCertificate(t, g, admin, "gw-hdr-1")
	mtls := w.client(cert)
	gw := *e
	gw.base = w.base
	r := gw.doWith(mtls, "POST", "/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-hdr-1"})
	wantStatus(t, r, 200)
	bound := r.body["token"].(string)
	sum := sha256.Sum256(cert.Leaf.Raw)
	forged := []string{"X-Streamforge-Peer-Gateway", "gw-hdr-1", "X-Streamforge-Peer-Thumbprint",
		base64.RawURLEncoding.EncodeToString(sum[:]), "X-Streamforge-Peer-Secret", strings.Repeat("0", 64)}

	// Plain listener: the headers do not stand in for the certificate.
	wantError(t, e.do("POST", "/api/v1/gateways/gw-hdr-1/heartbeat", bound, wire.Heartbeat{Status: "ok"}, forged...), 401, "bound to a client certificate")
	// Gateway listener: headers naming another gateway and certificate
	// change nothing; the certificate on the connection decides.
	other := []string{"X-Streamforge-Peer-Gateway", "gw-other", "X-Streamforge-Peer-Thumbprint", "forged", "X-Streamforge-Peer-Secret", "forged"}
	wantStatus(t, gw.doWith(mtls, "POST", "/api/v1/gateways/gw-hdr-1/heartbeat", bound, wire.Heartbeat{Status: "ok"}, other...), 204)
	wantError(t, gw.doWith(mtls, "POST", "/api/v1/gateways/token", "", map[string]string{"gateway_id": "gw-other"}, other...), 403, "another gateway")

	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-hdr-1/disable", admin, nil), 200)
	if _, err := mtls.Get(w.base + "/api/v1/gateways/gw-hdr-1/config/current"); err == nil {
		t.Fatal("a disabled gateway's certificate passed the handshake")
	}
	for _, rec := range e.records(admin, "event_type=credential.refused") {
		if rec["reason"] == "tls_certificate_gateway_not_approved" && rec["user"] == "gateway:gw-hdr-1" && rec["ip_address"] == "127.0.0.1" {
			return
		}
	}
	t.Fatal("the refused handshake of a disabled gateway is not audited")
}
