package stepca

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// WebhookOptions configure WebhookHandler.
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

// WebhookHandler serves step-ca's AUTHORIZING webhook: it checks the
// request's HMAC signature, its client certificate and its freshness,
// then asks authorize about the attested gateway id.
func WebhookHandler(authorize AuthorizeFunc, opts WebhookOptions) http.Handler {
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
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
		if err := opts.authenticate(r, body); err != nil {
			opts.Logger.Warn("step-ca webhook request refused", "reason", err, "remote", r.RemoteAddr)
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		var req WebhookRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		if d := time.Since(req.Timestamp); d > opts.MaxSkew || d < -opts.MaxSkew {
			writeWebhook(w, deny("stale", "webhook request timestamp is outside the allowed skew"))
			return
		}
		if req.AttestationData == nil || req.AttestationData.PermanentIdentifier == "" {
			writeWebhook(w, deny("not-attested", "only TPM-attested gateway certificates are issued"))
			return
		}
		id := req.AttestationData.PermanentIdentifier
		ok, err := authorize(r.Context(), id)
		if err != nil {
			opts.Logger.Error("gateway certificate authorization failed", "gateway", id, "err", err)
			http.Error(w, "authorization unavailable", http.StatusInternalServerError)
			return
		}
		if !ok {
			writeWebhook(w, deny("gateway-not-authorized", "gateway "+id+" is not approved or is disabled"))
			return
		}
		writeWebhook(w, WebhookResponse{Allow: true})
	})
}

var (
	errBadSignature  = errors.New("webhook signature does not verify")
	errClientCert    = errors.New("webhook client certificate missing or not step-ca's")
	errNoTLSIdentity = errors.New("webhook request did not come over TLS")
)

func (o WebhookOptions) authenticate(r *http.Request, body []byte) error {
	got, err := hex.DecodeString(r.Header.Get(SignatureHeader))
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
	if r.TLS == nil {
		return errNoTLSIdentity
	}
	if len(r.TLS.VerifiedChains) == 0 {
		return errClientCert
	}
	leaf := r.TLS.VerifiedChains[0][0]
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

func writeWebhook(w http.ResponseWriter, resp WebhookResponse) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}
