// Package controlplane is the agent's side of the gateway API: enrollment,
// tokens obtained by proving possession of the identity key, config polls
// with ETags, heartbeats, and the loop that runs them and keeps the
// last-known-good config on disk while the control plane is away.
package controlplane

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/streamforge/streamforge/agent/clock"
	"github.com/streamforge/streamforge/pkg/wire"
)

// APIError is a non-2xx answer of the control plane.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("control plane: %d %s", e.Status, e.Message) }

// IsStatus reports whether err is an APIError with one of statuses.
func IsStatus(err error, statuses ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, s := range statuses {
		if ae.Status == s {
			return true
		}
	}
	return false
}

// Attestor proves that the identity key lives in a TPM: it supplies the
// TPM's evidence (EK, AK) with the AK's certification of the key, and
// answers the credential activation challenge with the TPM.
type Attestor interface {
	Evidence() (json.RawMessage, *wire.KeyCertification, error)
	ActivateCredential(credential json.RawMessage) ([]byte, error)
}

// Client talks to the control plane as one gateway.
type Client struct {
	BaseURL   string
	GatewayID string
	Signer    crypto.Signer
	HTTP      *http.Client
	// Attestor, when set, makes enrollment a TPM enrollment.
	Attestor Attestor
	// Clock, when set, learns the control plane's time from the Date
	// header of every answer.
	Clock *clock.Clock

	mu       sync.Mutex
	mtls     bool
	token    string
	tokenExp time.Time
	etag     string
	// testsWaiting: the last config poll said connection tests wait.
	testsWaiting bool
}

// NewClient returns a client for gatewayID holding identity key signer.
func NewClient(baseURL, gatewayID string, signer crypto.Signer) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), GatewayID: gatewayID, Signer: signer,
		HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a JSON request; out (if not nil) receives a 2xx JSON answer.
func (c *Client) do(ctx context.Context, method, path string, body, out any, hdr map[string]string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	c.mu.Lock()
	base, httpc := c.BaseURL, c.HTTP
	c.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sent := time.Now()
	res, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if c.Clock != nil {
		c.Clock.ObserveDate(res.Header.Get("Date"), sent, time.Now())
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode >= 300 && res.StatusCode != http.StatusNotModified {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return res, &APIError{Status: res.StatusCode, Message: e.Error}
	}
	if out != nil && res.StatusCode != http.StatusNotModified && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return res, fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return res, nil
}

// Enroll registers this gateway (as pending) with an enrollment token: the
// whole request, with a fresh nonce from the control plane, is signed by
// the identity key, so it cannot be replayed or altered.
func (c *Client) Enroll(ctx context.Context, enrollmentToken, hostname string, hw map[string]string) (wire.EnrollResponse, error) {
	pub, err := wire.PublicKeyPEM(c.Signer.Public())
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	var ch wire.ChallengeResponse
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/gateways/enroll/challenge", wire.ChallengeRequest{GatewayID: c.GatewayID}, &ch, nil); err != nil {
		return wire.EnrollResponse{}, err
	}
	req := wire.EnrollRequest{GatewayID: c.GatewayID, EnrollmentToken: enrollmentToken, Hostname: hostname,
		HardwareInfo: hw, Identity: wire.Identity{Kind: "key", PublicKey: pub}, Nonce: ch.Nonce}
	if c.Attestor != nil {
		req.Identity.Kind = "tpm"
		if req.Identity.Evidence, req.Identity.Certification, err = c.Attestor.Evidence(); err != nil {
			return wire.EnrollResponse{}, fmt.Errorf("TPM evidence: %w", err)
		}
	}
	if err := wire.SignEnroll(c.Signer, &req); err != nil {
		return wire.EnrollResponse{}, err
	}
	var out wire.EnrollResponse
	if _, err = c.do(ctx, http.MethodPost, "/api/v1/gateways/enroll", req, &out, nil); err != nil || out.Status != "activating" {
		return out, err
	}
	if c.Attestor == nil {
		return out, errors.New("control plane asks for TPM credential activation, but this gateway has no TPM")
	}
	secret, err := c.Attestor.ActivateCredential(out.Credential)
	if err != nil {
		return out, fmt.Errorf("TPM credential activation: %w", err)
	}
	var act wire.EnrollResponse
	_, err = c.do(ctx, http.MethodPost, "/api/v1/gateways/activate", wire.ActivateRequest{GatewayID: c.GatewayID, Secret: secret}, &act, nil)
	act.ClaimCode = out.ClaimCode // only the enrollment answer carries it
	return act, err
}

// proof fetches a nonce and signs it.
func (c *Client) proof(ctx context.Context) (wire.TokenRequest, error) {
	var ch wire.ChallengeResponse
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/gateways/token/challenge", wire.ChallengeRequest{GatewayID: c.GatewayID}, &ch, nil); err != nil {
		return wire.TokenRequest{}, err
	}
	sig, err := wire.Sign(c.Signer, wire.TokenMessage(c.GatewayID, ch.Nonce))
	if err != nil {
		return wire.TokenRequest{}, fmt.Errorf("sign nonce: %w", err)
	}
	return wire.TokenRequest{GatewayID: c.GatewayID, Nonce: ch.Nonce, Signature: sig}, nil
}

// UseMTLS sends every later call to the control plane's mTLS listener at
// baseURL through httpc (which presents the gateway's certificate); tokens
// are then proven by the certificate.
func (c *Client) UseMTLS(baseURL string, httpc *http.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.BaseURL, c.HTTP, c.mtls = strings.TrimRight(baseURL, "/"), httpc, true
}

// ObtainToken gets a gateway token; 403 means not approved (yet).
func (c *Client) ObtainToken(ctx context.Context) (wire.TokenResponse, error) {
	return c.tokenCall(ctx, "/api/v1/gateways/token", nil)
}

// RenewToken exchanges the current token (plus a fresh proof) for a new one.
func (c *Client) RenewToken(ctx context.Context) (wire.TokenResponse, error) {
	if c.onMTLS() {
		return c.ObtainToken(ctx) // the certificate is the proof; it renews itself
	}
	return c.tokenCall(ctx, "/api/v1/gateways/token/renew", c.auth())
}

func (c *Client) onMTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mtls
}

func (c *Client) tokenCall(ctx context.Context, path string, hdr map[string]string) (wire.TokenResponse, error) {
	var body any = wire.ChallengeRequest{GatewayID: c.GatewayID}
	if !c.onMTLS() {
		req, err := c.proof(ctx)
		if err != nil {
			return wire.TokenResponse{}, err
		}
		body = req
	}
	var out wire.TokenResponse
	if _, err := c.do(ctx, http.MethodPost, path, body, &out, hdr); err != nil {
		return out, err
	}
	c.SetToken(out.Token, out.ExpiresAt)
	return out, nil
}

// SetToken installs a token (for example one loaded from disk).
func (c *Client) SetToken(token string, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.tokenExp = token, exp
}

// Token returns the current token and its expiry.
func (c *Client) Token() (string, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, c.tokenExp
}

func (c *Client) auth() map[string]string {
	tok, _ := c.Token()
	return map[string]string{"Authorization": "Bearer " + tok}
}

// FetchConfig polls the deployed config. It returns nil when the config is
// unchanged since the last fetch (304) or none is deployed.
func (c *Client) FetchConfig(ctx context.Context) (*wire.ConfigResponse, error) {
	hdr := c.auth()
	c.mu.Lock()
	if c.etag != "" {
		hdr["If-None-Match"] = c.etag
	}
	c.mu.Unlock()
	var out wire.ConfigResponse
	res, err := c.do(ctx, http.MethodGet, "/api/v1/gateways/"+c.GatewayID+"/config/current", nil, &out, hdr)
	c.noteConnectionTests(res)
	if IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusNotModified {
		return nil, nil
	}
	c.mu.Lock()
	c.etag = res.Header.Get("ETag")
	c.mu.Unlock()
	return &out, nil
}

// Heartbeat reports health.
func (c *Client) Heartbeat(ctx context.Context, hb wire.Heartbeat) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/gateways/"+c.GatewayID+"/heartbeat", hb, nil, c.auth())
	return err
}

// Call sends a JSON request with a Bearer token (if any) and decodes a
// JSON answer into out; other tools reuse the client's error handling.
func (c *Client) Call(ctx context.Context, method, path, bearer string, body, out any) error {
	var hdr map[string]string
	if bearer != "" {
		hdr = map[string]string{"Authorization": "Bearer " + bearer}
	}
	_, err := c.do(ctx, method, path, body, out, hdr)
	return err
}

// AKCertificate fetches the attestation CA's certificate of this approved
// gateway's AK, then the CA's own (DER), for ACME device-attest-01.
func (c *Client) AKCertificate(ctx context.Context) ([][]byte, error) {
	var out struct {
		Certificate []byte   `json:"certificate"`
		Chain       [][]byte `json:"chain"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/gateways/"+c.GatewayID+"/ak-certificate", nil, &out, c.auth()); err != nil {
		return nil, err
	}
	return append([][]byte{out.Certificate}, out.Chain...), nil
}

// ShipLogs sends a batch of the agent's recent log lines.
func (c *Client) ShipLogs(ctx context.Context, b wire.LogBatch) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/gateways/"+c.GatewayID+"/logs", b, nil, c.auth())
	return err
}
