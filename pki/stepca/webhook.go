package stepca

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"
)

// WebhookRequest is the part of step-ca's webhook request body
// (webhook.RequestBody in smallstep/certificates) that the cloud uses.
type WebhookRequest struct {
	Timestamp       time.Time `json:"timestamp"`
	ProvisionerName string    `json:"provisionerName,omitempty"`
	// AttestationData is set after a device-attest-01 challenge succeeded;
	// PermanentIdentifier is the gateway id from the AK certificate.
	AttestationData *struct {
		PermanentIdentifier string `json:"permanentIdentifier"`
	} `json:"attestationData,omitempty"`
	X509Certificate json.RawMessage `json:"x509Certificate,omitempty"`
}

// WebhookResponse is what step-ca expects back.
type WebhookResponse struct {
	Allow bool          `json:"allow"`
	Error *WebhookError `json:"error,omitempty"`
}

// WebhookError tells step-ca (and its client) why a request was refused.
type WebhookError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Headers step-ca sets on webhook requests.
const (
	SignatureHeader = "X-Smallstep-Signature"
	WebhookIDHeader = "X-Smallstep-Webhook-ID"
)

// AuthorizeFunc says whether gatewayID may get a certificate now (it is
// approved and not disabled). An error makes the webhook answer 500, and
// step-ca refuses the certificate.
type AuthorizeFunc func(ctx context.Context, gatewayID string) (allowed bool, err error)

// WebhookOptions configure Decide (and WebhookHandler).
type WebhookOptions struct {
	// Secret is the HMAC key step-ca signs request bodies with. step-ca
	// cannot read a webhook secret from ca.json (the field is not
	// serialised), so with a file-configured CA it signs with an empty
	// key; then the client certificate check below is what authenticates
	// step-ca, and the signature only guards integrity.
	Secret []byte
	// CANames, when set, require the client certificate (verified by the
	// listener, see WebhookTLSConfig) to name one of these DNS names:
	// step-ca presents its own TLS certificate, and gateways' certificates
	// from the same root carry no DNS names.
	CANames []string
	// MaxSkew bounds the age of a request's timestamp; default 5 minutes.
	MaxSkew time.Duration
	Logger  *slog.Logger
}

const maxWebhookBody = 1 << 20

// Errors of Decide. They are the whole of what a webhook client is told:
// why a signature or certificate failed stays in the log.
var (
	ErrWebhookUnauthenticated = errors.New("unauthenticated")
	ErrWebhookBadBody         = errors.New("bad request body")
	ErrWebhookUnavailable     = errors.New("authorization unavailable")
)

// WebhookCall is one request step-ca sent to the webhook, as the listener
// received it.
type WebhookCall struct {
	// TLS is the connection's verified state (nil without TLS).
	TLS       *tls.ConnectionState
	Signature string // the X-Smallstep-Signature header
	Body      []byte
	Remote    string // the caller's address, for the log
}

// Decide checks a webhook call's HMAC signature, its client certificate and
// its freshness, then asks authorize about the attested gateway id. A
// refusal of the gateway is a WebhookResponse; an error (one of the
// ErrWebhook sentinels, wrapped) means the call itself was refused.
func (o WebhookOptions) Decide(ctx context.Context, call WebhookCall, authorize AuthorizeFunc) (WebhookResponse, error) {
	o = o.withDefaults()
	if err := o.authenticate(call.TLS, call.Signature, call.Body); err != nil {
		o.Logger.Warn("step-ca webhook request refused", "reason", err, "remote", call.Remote)
		return WebhookResponse{}, fmt.Errorf("%w: %w", ErrWebhookUnauthenticated, err)
	}
	var req WebhookRequest
	if err := json.Unmarshal(call.Body, &req); err != nil {
		return WebhookResponse{}, fmt.Errorf("%w: %w", ErrWebhookBadBody, err)
	}
	if d := time.Since(req.Timestamp); d > o.MaxSkew || d < -o.MaxSkew {
		return deny("stale", "webhook request timestamp is outside the allowed skew"), nil
	}
	if req.AttestationData == nil || req.AttestationData.PermanentIdentifier == "" {
		return deny("not-attested", "only TPM-attested gateway certificates are issued"), nil
	}
	id := req.AttestationData.PermanentIdentifier
	ok, err := authorize(ctx, id)
	if err != nil {
		o.Logger.Error("gateway certificate authorization failed", "gateway", id, "err", err)
		return WebhookResponse{}, fmt.Errorf("%w: gateway %s: %w", ErrWebhookUnavailable, id, err)
	}
	if !ok {
		return deny("gateway-not-authorized", "gateway "+id+" is not approved or is disabled"), nil
	}
	return WebhookResponse{Allow: true}, nil
}

func (o WebhookOptions) withDefaults() WebhookOptions {
	if o.MaxSkew <= 0 {
		o.MaxSkew = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// WebhookHandler serves Decide on net/http, for a webhook outside the
// cloud's own listener (the cloud serves Decide on its Fiber app).
func WebhookHandler(authorize AuthorizeFunc, opts WebhookOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		call := WebhookCall{TLS: r.TLS, Signature: r.Header.Get(SignatureHeader), Body: body, Remote: r.RemoteAddr}
		resp, err := opts.Decide(r.Context(), call, authorize)
		switch {
		case errors.Is(err, ErrWebhookUnauthenticated):
			http.Error(w, ErrWebhookUnauthenticated.Error(), http.StatusUnauthorized)
		case errors.Is(err, ErrWebhookBadBody):
			http.Error(w, ErrWebhookBadBody.Error(), http.StatusBadRequest)
		case err != nil:
			http.Error(w, ErrWebhookUnavailable.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(resp)
		}
	})
}

var (
	errBadSignature  = errors.New("webhook signature does not verify")
	errClientCert    = errors.New("webhook client certificate missing or not step-ca's")
	errNoTLSIdentity = errors.New("webhook request did not come over TLS")
)

func (o WebhookOptions) authenticate(state *tls.ConnectionState, signature string, body []byte) error {
	got, err := hex.DecodeString(signature)
	if err != nil {
		return errBadSignature
	}
	m := hmac.New(sha256.New, o.Secret)
	m.Write(body)
	if subtle.ConstantTimeCompare(m.Sum(nil), got) != 1 {
		return errBadSignature
	}
	if len(o.CANames) == 0 {
		return nil
	}
	if state == nil {
		return errNoTLSIdentity
	}
	if len(state.VerifiedChains) == 0 {
		return errClientCert
	}
	leaf := state.VerifiedChains[0][0]
	for _, n := range o.CANames {
		if slices.Contains(leaf.DNSNames, n) || slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool { return ip.String() == n }) {
			return nil
		}
	}
	return errClientCert
}

func deny(code, msg string) WebhookResponse {
	return WebhookResponse{Error: &WebhookError{Code: code, Message: msg}}
}
