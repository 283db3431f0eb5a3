// Package acmeclient is the agent's side of ACME device-attest-01 (format
// tpm) against step-ca: it creates a fresh TLS key inside the TPM for each
// order, proves with the AK certificate that the key lives in an attested
// TPM, finalizes with a CSR signed by that key, and renews the certificate
// at about 2/3 of its lifetime. It uses golang.org/x/crypto/acme, whose
// Challenge.Payload carries the attestation statement.
package acmeclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-attestation/attest"
	"golang.org/x/crypto/acme"

	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// coseAlgRS256 is the COSE id of RSASSA-PKCS1-v1_5 with SHA-256: how an RSA
// AK signs certInfo.
const coseAlgRS256 = -257

// DefaultTimeout bounds one whole ceremony: step-ca leaves a failed
// challenge's authorization pending, so nothing may wait without a limit.
const DefaultTimeout = 60 * time.Second

// Config configures a Client.
type Config struct {
	// DirectoryURL is step-ca's ACME directory for the gateways provisioner.
	DirectoryURL string
	// Roots verify step-ca's TLS certificate (its root_ca.crt).
	Roots *x509.CertPool
	// GatewayID is the gateway's id. The ACME permanent-identifier is the
	// one in the AK certificate (the control plane puts the gateway id and
	// its enrollment there), which must name this gateway.
	GatewayID string
	// AKChain is the AK certificate (DER) from the cloud's attestation CA,
	// then any intermediates.
	AKChain [][]byte
	// AKSource, when set, fetches a fresh AK chain before each order: AK
	// certificates are short-lived, so a renewal needs a new one.
	AKSource func(context.Context) ([][]byte, error)
	// AccountKey signs ACME requests; a fresh P-256 key when nil. It proves
	// nothing about the gateway: the TPM attestation does.
	AccountKey crypto.Signer
	Timeout    time.Duration
	// Time, when set, is the time step-ca's certificate is judged at (the
	// agent's clock corrected for skew; see agent/clock).
	Time func() time.Time
}

// Client obtains gateway certificates from step-ca.
type Client struct {
	cfg        Config
	acme       *acme.Client
	registered bool
	// chain and ident are the AK chain and its permanentIdentifier that
	// the current order uses.
	chain [][]byte
	ident string
}

// New makes a Client.
func New(cfg Config) (*Client, error) {
	if cfg.DirectoryURL == "" || cfg.GatewayID == "" || (len(cfg.AKChain) == 0 && cfg.AKSource == nil) {
		return nil, errors.New("acmeclient: directory URL, gateway id and AK certificate are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.AccountKey == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("acmeclient: account key: %w", err)
		}
		cfg.AccountKey = k
	}
	hc := &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12, Time: cfg.Time}},
	}
	c := &Client{cfg: cfg, acme: &acme.Client{Key: cfg.AccountKey, DirectoryURL: cfg.DirectoryURL, HTTPClient: hc, UserAgent: "streamforge-agent"}}
	if len(cfg.AKChain) > 0 {
		if err := c.useChain(cfg.AKChain); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// useChain makes chain the AK chain of the next orders, with its
// permanentIdentifier as their identifier.
func (c *Client) useChain(chain [][]byte) error {
	if len(chain) == 0 {
		return errors.New("acmeclient: empty AK certificate chain")
	}
	ak, err := attestca.ParseAKCert(chain[0])
	if err != nil {
		return fmt.Errorf("acmeclient: %w", err)
	}
	c.chain, c.ident = chain, ak.GatewayID
	if id, _ := stepca.SplitPermanentID(ak.GatewayID); id != c.cfg.GatewayID {
		// An AK certificate for another gateway: order for our own id,
		// which step-ca refuses (it must equal the AK's identifier).
		c.ident = c.cfg.GatewayID
	}
	return nil
}

// Key is a TLS key that lives in a TPM: it signs there, carries the AK's
// certification of itself, and can be kept (as a TPM-wrapped blob) under a
// name and unloaded.
type Key interface {
	crypto.Signer
	CertificationParameters() attest.CertificationParameters
	Save(name string) error
	Close() error
}

// KeySource makes TLS keys inside the TPM, certified by the AK over the
// qualifying data, and reloads kept ones. The agent's TPM is one, through
// TPMKeys: pki stays below the agent and does not import it.
type KeySource interface {
	NewKey(qualifyingData []byte) (Key, error)
	LoadKey(name string) (Key, error)
}

// keyMaker is a TPM whose key methods return its own concrete key type.
type keyMaker[K Key] interface {
	NewKey(qualifyingData []byte) (K, error)
	LoadKey(name string) (K, error)
}

// TPMKeys adapts a TPM whose NewKey and LoadKey return a concrete key type
// (as *tpm.TPM does) to a KeySource.
func TPMKeys[K Key](t keyMaker[K]) KeySource { return tpmKeys[K]{t} }

type tpmKeys[K Key] struct{ t keyMaker[K] }

func (a tpmKeys[K]) NewKey(q []byte) (Key, error) {
	k, err := a.t.NewKey(q)
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (a tpmKeys[K]) LoadKey(name string) (Key, error) {
	k, err := a.t.LoadKey(name)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Certificate is an issued gateway certificate and its TPM key.
type Certificate struct {
	Key   Key
	Chain [][]byte
	Leaf  *x509.Certificate
}

// TLSCertificate is the certificate for crypto/tls; signing happens in
// the TPM.
func (c *Certificate) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: c.Chain, PrivateKey: c.Key, Leaf: c.Leaf}
}

// Obtain runs one whole order under the client's timeout: a new TPM key
// certified for this order, device-attest-01, and a CSR signed by that key.
func (c *Client) Obtain(ctx context.Context, src KeySource) (*Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	o, err := c.Order(ctx)
	if err != nil {
		return nil, err
	}
	key, err := src.NewKey(o.QualifyingData())
	if err != nil {
		return nil, err
	}
	cert, err := c.complete(ctx, o, key)
	if err != nil {
		_ = key.Close()
		return nil, err
	}
	return cert, nil
}

func (c *Client) complete(ctx context.Context, o *Order, key Key) (*Certificate, error) {
	if err := c.Attest(ctx, o, key.CertificationParameters()); err != nil {
		return nil, err
	}
	chain, err := c.Finalize(ctx, o, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("acme: parse issued certificate: %w", err)
	}
	return &Certificate{Key: key, Chain: chain, Leaf: leaf}, nil
}

// Order is an ACME order for the gateway's permanent identifier with its
// pending device-attest-01 challenge.
type Order struct {
	order   *acme.Order
	chal    *acme.Challenge
	authz   string
	keyAuth string
}

// QualifyingData is sha256(keyAuthorization): the TPM must certify the new
// key over it, binding the key to this challenge and ACME account.
func (o *Order) QualifyingData() []byte {
	h := sha256.Sum256([]byte(o.keyAuth))
	return h[:]
}

// Order registers the account if needed and opens an order.
func (c *Client) Order(ctx context.Context) (*Order, error) {
	if c.cfg.AKSource != nil {
		chain, err := c.cfg.AKSource(ctx)
		if err != nil {
			return nil, fmt.Errorf("acmeclient: AK certificate: %w", err)
		}
		if err := c.useChain(chain); err != nil {
			return nil, err
		}
	}
	if !c.registered {
		if _, err := c.acme.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
			return nil, fmt.Errorf("acme: register account: %w", err)
		}
		c.registered = true
	}
	order, err := c.acme.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "permanent-identifier", Value: c.ident}})
	if err != nil {
		return nil, fmt.Errorf("acme: new order for %s: %w", c.ident, err)
	}
	if len(order.AuthzURLs) != 1 {
		return nil, fmt.Errorf("acme: order has %d authorizations, want 1", len(order.AuthzURLs))
	}
	authz, err := c.acme.GetAuthorization(ctx, order.AuthzURLs[0])
	if err != nil {
		return nil, fmt.Errorf("acme: authorization: %w", err)
	}
	for _, ch := range authz.Challenges {
		if ch.Type != "device-attest-01" {
			continue
		}
		// The key authorization is token "." thumbprint(account key), as
		// for http-01.
		ka, err := c.acme.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return nil, fmt.Errorf("acme: key authorization: %w", err)
		}
		return &Order{order: order, chal: ch, authz: authz.URI, keyAuth: ka}, nil
	}
	return nil, errors.New("acme: step-ca offered no device-attest-01 challenge")
}

// Attest answers the order's challenge with the AK's certification of the
// TLS key and waits, under ctx, until step-ca accepts or refuses it.
func (c *Client) Attest(ctx context.Context, o *Order, cp attest.CertificationParameters) error {
	payload, err := c.payload(cp)
	if err != nil {
		return err
	}
	ch := *o.chal
	ch.Payload = payload
	got, err := c.acme.Accept(ctx, &ch)
	if err != nil {
		return fmt.Errorf("acme: device-attest-01 refused: %w", err)
	}
	if got.Status == acme.StatusInvalid {
		if got.Error != nil {
			return fmt.Errorf("acme: device-attest-01 refused: %w", got.Error)
		}
		return errors.New("acme: device-attest-01 refused (challenge invalid)")
	}
	if _, err := c.acme.WaitAuthorization(ctx, o.authz); err != nil {
		return fmt.Errorf("acme: device-attest-01 not accepted: %w", err)
	}
	return nil
}

// payload is {"attObj": base64url(CBOR attestation object)} in the
// WebAuthn "tpm" format step-ca verifies.
func (c *Client) payload(cp attest.CertificationParameters) ([]byte, error) {
	att, err := cbor.Marshal(map[string]any{
		"fmt": "tpm",
		"attStmt": map[string]any{
			"ver":      "2.0",
			"alg":      coseAlgRS256,
			"x5c":      c.chain,
			"sig":      cp.CreateSignature,
			"certInfo": cp.CreateAttestation,
			"pubArea":  cp.Public,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("acme: encode attestation: %w", err)
	}
	return json.Marshal(map[string]string{"attObj": base64.RawURLEncoding.EncodeToString(att)})
}

// Finalize sends a CSR for the permanent identifier signed by signer (the attested
// TPM key; step-ca refuses any other) and fetches the certificate chain.
func (c *Client) Finalize(ctx context.Context, o *Order, signer crypto.Signer) ([][]byte, error) {
	if _, err := c.acme.WaitOrder(ctx, o.order.URI); err != nil {
		return nil, fmt.Errorf("acme: order not ready: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.ident}}, signer)
	if err != nil {
		return nil, fmt.Errorf("acme: CSR: %w", err)
	}
	chain, _, err := c.acme.CreateOrderCert(ctx, o.order.FinalizeURL, csr, true)
	if err != nil {
		return nil, fmt.Errorf("acme: finalize: %w", err)
	}
	return chain, nil
}
