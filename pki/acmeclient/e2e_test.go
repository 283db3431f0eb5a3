package acmeclient_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pki/acmeclient"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// authorizer is the cloud's side of the webhook: which gateways may get
// certificates, and who asked.
type authorizer struct {
	mu      sync.Mutex
	allowed map[string]bool
	asked   []string
}

func (a *authorizer) authorize(_ context.Context, id string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, id)
	return a.allowed[id], nil
}

func (a *authorizer) set(id string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowed[id] = ok
}

// device is a gateway's TPM as the cloud saw it at enrollment.
type device struct {
	tpm   *tpm.TPM
	ekRes attestca.EKResult
	chal  attestca.ChallengeState
	// ekRootsDir holds the swtpm's EK CA: the cloud's manufacturer roots.
	ekRootsDir string
}

// world is a gateway device, the cloud's attestation CA and webhook, and
// a running step-ca trusting them.
type world struct {
	*device
	ca      *attestca.CA
	auth    *authorizer
	layout  *stepca.Layout
	roots   *x509.CertPool
	webhook tls.Certificate
	hookURL string
	stepCA  *testenv.StepCA
}

const gatewayID = "gw-e2e-1"

func newWorld(t testing.TB) *world { return newWorldWith(t, stepca.InitOptions{}) }

// newWorldWith starts the world with opts' lifetime and backdate.
func newWorldWith(t testing.TB, opts stepca.InitOptions) *world {
	t.Helper()
	w := &world{auth: &authorizer{allowed: map[string]bool{gatewayID: true}}, device: newDevice(t)}
	var err error
	if w.ca, err = attestca.Init(filepath.Join(t.TempDir(), "attest")); err != nil {
		t.Fatal(err)
	}

	hook := httptest.NewUnstartedServer(stepca.WebhookHandler(w.auth.authorize, stepca.WebhookOptions{CANames: []string{"127.0.0.1"}}))
	t.Cleanup(hook.Close)
	addr := testenv.FreeAddr(t)
	opts.Dir = filepath.Join(t.TempDir(), "step")
	opts.Address = addr
	opts.DNSNames = []string{"127.0.0.1"}
	opts.AttestationRootsPEM = w.ca.CertificatePEM()
	w.hookURL = "https://" + hook.Listener.Addr().String() + "/webhook"
	opts.WebhookURL = w.hookURL
	w.layout, err = stepca.Init(opts)
	if err != nil {
		t.Fatal(err)
	}
	if w.roots, err = stepca.LoadRoots(w.layout.RootCert); err != nil {
		t.Fatal(err)
	}
	if w.webhook, err = tls.LoadX509KeyPair(w.layout.WebhookCert, w.layout.WebhookKey); err != nil {
		t.Fatal(err)
	}
	hook.TLS = stepca.ServerTLSConfig(w.webhook, w.roots)
	hook.StartTLS()
	w.stepCA = testenv.StartStepCA(t, w.layout.Config, addr, w.layout.RootCert)
	return w
}

// newDevice manufactures a TPM and enrolls it.
func newDevice(t testing.TB) *device {
	t.Helper()
	sw := testenv.StartSwTPM(t)
	tp, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	if err := tp.LoadOrCreateAK(); err != nil {
		t.Fatal(err)
	}
	d := &device{tpm: tp, ekRootsDir: sw.CADir}
	d.enroll(t)
	return d
}

// enroll is the enrollment exchange as the agent and cloud run it, through
// JSON: evidence, EK check and challenge, activation, answer check.
func (w *device) enroll(t testing.TB) {
	t.Helper()
	roots, err := attestca.LoadEKRoots(w.ekRootsDir)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.tpm.Evidence()
	if err != nil {
		t.Fatal(err)
	}
	var sent attestca.Evidence
	roundTrip(t, ev, &sent)
	en, err := roots.Enroll(sent, time.Minute)
	if err != nil || !en.EK.Verified {
		t.Fatalf("enroll: %+v %v", en.EK, err)
	}
	var cred attestca.Credential
	roundTrip(t, en.Credential, &cred)
	secret, err := w.tpm.ActivateCredential(cred.Encrypted())
	if err != nil {
		t.Fatal(err)
	}
	var kept attestca.ChallengeState
	roundTrip(t, en.State, &kept)
	if err := kept.Verify(secret, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.ekRes, w.chal = en.EK, kept
}

func roundTrip(t testing.TB, in, out any) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (w *device) akCert(t testing.TB, ca *attestca.CA, id string) [][]byte {
	t.Helper()
	der, err := ca.IssueAKCert(attestca.AKCertRequest{Challenge: w.chal, GatewayID: id, TPM: w.ekRes.TPM})
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{der}
}

func (w *world) client(t testing.TB, akChain [][]byte) *acmeclient.Client {
	return w.clientFor(t, gatewayID, akChain)
}

func (w *world) clientFor(t testing.TB, id string, akChain [][]byte) *acmeclient.Client {
	t.Helper()
	c, err := acmeclient.New(acmeclient.Config{
		DirectoryURL: w.layout.ACMEDirectory,
		Roots:        w.roots,
		GatewayID:    id,
		AKChain:      akChain,
		Timeout:      20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mtlsServer requires TLS 1.3 client certificates from step-ca's root and
// answers with the gateway id it read from the certificate.
func (w *world) mtlsServer(t testing.TB) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, err := stepca.GatewayID(r.TLS.PeerCertificates[0])
		if err != nil {
			http.Error(rw, err.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(rw, id)
	}))
	srv.TLS = w.mtlsConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// mtlsConfig is the cloud's gateway listener: TLS 1.3, client
// certificates from step-ca's root.
func (w *world) mtlsConfig() *tls.Config { return stepca.ServerTLSConfig(w.webhook, w.roots) }

func mtlsClient(roots *x509.CertPool, cert tls.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
	}}}
}

func TestTPMToMTLSHappyPath(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cert, err := w.client(t, w.akCert(t, w.ca, gatewayID)).Obtain(ctx, acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatal(err)
	}
	defer cert.Key.Close()
	if !cert.Key.Public().(*ecdsa.PublicKey).Equal(cert.Leaf.PublicKey) {
		t.Fatal("certificate is not for the TPM key")
	}
	if life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); life < 23*time.Hour || life > 25*time.Hour {
		t.Fatalf("lifetime %v, want 24h", life)
	}
	if id, err := stepca.GatewayID(cert.Leaf); err != nil || id != gatewayID {
		t.Fatalf("gateway id %q %v", id, err)
	}
	w.auth.mu.Lock()
	asked := strings.Join(w.auth.asked, ",")
	w.auth.mu.Unlock()
	if asked != gatewayID {
		t.Fatalf("webhook asked about %q", asked)
	}

	srv := w.mtlsServer(t)
	resp, err := mtlsClient(w.roots, cert.TLSCertificate()).Get(srv.URL)
	if err != nil {
		t.Fatalf("mTLS with TPM key: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS.Version != tls.VersionTLS13 || string(body) != gatewayID {
		t.Fatalf("TLS %x body %q", resp.TLS.Version, body)
	}

	t.Run("fail-no-client-certificate", func(t *testing.T) {
		if _, err := mtlsClient(w.roots, tls.Certificate{}).Get(srv.URL); err == nil {
			t.Fatal("listener accepted a client without certificate")
		}
	})
	t.Run("fail-webhook-called-by-a-gateway", func(t *testing.T) {
		// A gateway's certificate chains to the same root as step-ca's,
		// and step-ca signs with an empty HMAC key (see WebhookOptions),
		// so only the CA name in the client certificate tells them apart.
		body := []byte(`{"timestamp":"` + time.Now().Format(time.RFC3339) + `","attestationData":{"permanentIdentifier":"` + gatewayID + `"}}`)
		m := hmac.New(sha256.New, nil)
		m.Write(body)
		req, _ := http.NewRequest(http.MethodPost, w.hookURL, bytes.NewReader(body))
		req.Header.Set(stepca.SignatureHeader, hex.EncodeToString(m.Sum(nil)))
		resp, err := mtlsClient(w.roots, cert.TLSCertificate()).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("webhook answered a gateway with %d", resp.StatusCode)
		}
	})
	t.Run("fail-step-ca-renew-endpoint", func(t *testing.T) {
		// Renewal must go through attestation and the webhook.
		req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(w.layout.ProvisionerURL, "/acme/"+stepca.ProvisionerName)+"/1.0/renew", nil)
		resp, err := mtlsClient(w.roots, cert.TLSCertificate()).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("step-ca /renew answered %d", resp.StatusCode)
			}
		}
		if !strings.Contains(w.stepCA.Log(), "renew is disabled") {
			t.Fatal("step-ca did not refuse /renew because renewal is disabled")
		}
	})
}

func TestStepCARefuses(t *testing.T) {
	w := newWorld(t)
	wrongCA, err := attestca.Init(filepath.Join(t.TempDir(), "wrong"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name  string
		run   func(t *testing.T) error
		wants string // in the error the agent gets, or else in step-ca's log
	}{
		{"fail-ak-certificate-from-wrong-ca", func(t *testing.T) error {
			_, err := w.client(t, w.akCert(t, wrongCA, gatewayID)).Obtain(ctx, acmeclient.TPMKeys(w.tpm))
			return err
		}, "x5c is not valid"},
		{"fail-wrong-permanent-identifier", func(t *testing.T) error {
			_, err := w.client(t, w.akCert(t, w.ca, "gw-someone-else")).Obtain(ctx, acmeclient.TPMKeys(w.tpm))
			return err
		}, "permanent identifier does not match"},
		{"fail-csr-key-outside-tpm", func(t *testing.T) error {
			c := w.client(t, w.akCert(t, w.ca, gatewayID))
			o, err := c.Order(ctx)
			if err != nil {
				return err
			}
			k, err := w.tpm.NewKey(o.QualifyingData())
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			if err := c.Attest(ctx, o, k.CertificationParameters()); err != nil {
				t.Fatalf("attestation of the TPM key: %v", err)
			}
			soft, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			_, err = c.Finalize(ctx, o, soft)
			return err
		}, "does not match the attested key"},
		{"fail-replayed-attestation", func(t *testing.T) error {
			// A key certified for one order cannot answer another.
			c := w.client(t, w.akCert(t, w.ca, gatewayID))
			first, err := c.Order(ctx)
			if err != nil {
				return err
			}
			k, err := w.tpm.NewKey(first.QualifyingData())
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			second, err := c.Order(ctx)
			if err != nil {
				return err
			}
			return c.Attest(ctx, second, k.CertificationParameters())
		}, "key authorization invalid"},
		{"fail-webhook-denies-disabled-gateway", func(t *testing.T) error {
			w.auth.set(gatewayID, false)
			defer w.auth.set(gatewayID, true)
			_, err := w.client(t, w.akCert(t, w.ca, gatewayID)).Obtain(ctx, acmeclient.TPMKeys(w.tpm))
			return err
		}, "gateway-not-authorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start, logged := time.Now(), len(w.stepCA.Log())
			err := tc.run(t)
			if err == nil {
				t.Fatal("step-ca issued")
			}
			if !strings.Contains(err.Error(), tc.wants) && !strings.Contains(w.stepCA.Log()[logged:], tc.wants) {
				t.Fatalf("error %q does not say %q", err, tc.wants)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("refusal took %v", d)
			}
		})
	}
	// The gateway still gets a certificate once nothing is wrong.
	cert, err := w.client(t, w.akCert(t, w.ca, gatewayID)).Obtain(ctx, acmeclient.TPMKeys(w.tpm))
	if err != nil {
		t.Fatal(err)
	}
	cert.Key.Close()
}
