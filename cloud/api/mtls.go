package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/stepca"
)

// The gateway listener (mTLS) hands the verified client certificate's
// gateway id and thumbprint to the API in these headers. The secret, random
// per process, is how the API tells them from the same headers sent to the
// plain listener by a client, which are ignored.
const (
	peerGatewayHeader    = "X-Streamforge-Peer-Gateway"
	peerThumbprintHeader = "X-Streamforge-Peer-Thumbprint"
	peerSecretHeader     = "X-Streamforge-Peer-Secret"
)

// handshakeCheckTimeout bounds the store lookup in a TLS handshake.
const handshakeCheckTimeout = 5 * time.Second

// GatewayListener serves what gateways with a step-ca certificate call, on
// a TLS 1.3 listener that requires client certificates from step-ca's root
// (see GatewayTLSConfig), and nothing else:
//   - POST /api/v1/gateways/token: a token, proven by the certificate and
//     bound to it;
//   - the gateway routes (config, heartbeat, AK certificate), whose token
//     must belong to the certificate's gateway;
//   - POST /internal/step-ca/authorize: step-ca's authorizing webhook
//     (approved and enabled gateways only).
//
// User login and user routes answer 404 here.
func (s *Server) GatewayListener(webhook stepca.WebhookOptions) http.Handler {
	api := adaptor.FiberApp(s.app)
	forward := func(w http.ResponseWriter, r *http.Request) {
		p, err := peerCert(r)
		if err != nil {
			writeJSONError(w, http.StatusUnauthorized, err.Error())
			return
		}
		r.Header.Set(peerGatewayHeader, p.GatewayID)
		r.Header.Set(peerThumbprintHeader, p.Thumbprint)
		r.Header.Set(peerSecretHeader, s.peerSecret)
		api(w, r)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /internal/step-ca/authorize", stepca.WebhookHandler(s.gateways.access.Authorize, webhook))
	mux.HandleFunc("POST /api/v1/gateways/token", s.tokenByCertificate)
	mux.HandleFunc("GET /api/v1/gateways/{id}/config/current", forward)
	mux.HandleFunc("POST /api/v1/gateways/{id}/heartbeat", forward)
	mux.HandleFunc("POST /api/v1/gateways/{id}/ak-certificate", forward)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no such route on the gateway listener")
	})
	return mux
}

// GatewayTLSConfig is the gateway listener's TLS: TLS 1.3, client
// certificates from step-ca's root, and at every handshake a check against
// the store: a certificate of a deleted, disabled or re-enrolled gateway is
// refused before any request is read. Certificates naming no gateway are
// accepted only from step-ca itself (its webhook calls).
func (s *Server) GatewayTLSConfig(stepcaDir string) (*tls.Config, *stepca.Layout, error) {
	layout, err := stepca.ReadLayout(stepcaDir)
	if err != nil {
		return nil, nil, err
	}
	roots, err := stepca.LoadRoots(layout.RootCert)
	if err != nil {
		return nil, nil, err
	}
	cert, err := tls.LoadX509KeyPair(layout.WebhookCert, layout.WebhookKey)
	if err != nil {
		return nil, nil, err
	}
	cfg := stepca.ServerTLSConfig(cert, roots)
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return stepca.ErrNoGatewayID
		}
		leaf := cs.PeerCertificates[0]
		p, err := certIdentity(leaf)
		if err != nil {
			if slices.ContainsFunc(layout.DNSNames, func(n string) bool { return leaf.VerifyHostname(n) == nil }) {
				return nil // step-ca calling its webhook
			}
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), handshakeCheckTimeout)
		defer cancel()
		if err := s.gateways.access.CheckCertificate(ctx, p); err != nil {
			s.log.Warn("gateway certificate refused at the TLS handshake", "gateway", p.GatewayID, "reason", err)
			return fmt.Errorf("gateway certificate refused: %w", err)
		}
		return nil
	}
	return cfg, layout, nil
}

func certIdentity(c *x509.Certificate) (gateways.PeerCert, error) {
	id, enrollment, err := stepca.GatewayIdentity(c)
	if err != nil {
		return gateways.PeerCert{}, err
	}
	sum := sha256.Sum256(c.Raw)
	return gateways.PeerCert{GatewayID: id, EnrollmentID: enrollment, Thumbprint: base64.RawURLEncoding.EncodeToString(sum[:]),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter}, nil
}

func peerCert(r *http.Request) (gateways.PeerCert, error) {
	r.Header.Del(peerGatewayHeader)
	r.Header.Del(peerThumbprintHeader)
	r.Header.Del(peerSecretHeader)
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return gateways.PeerCert{}, stepca.ErrNoGatewayID
	}
	return certIdentity(r.TLS.PeerCertificates[0])
}

func (s *Server) tokenByCertificate(w http.ResponseWriter, r *http.Request) {
	p, err := peerCert(r)
	if err != nil {
		writeJSONError(w, http.StatusUnauthorized, err.Error())
		return
	}
	var req wire.ChallengeRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err == nil {
		err = decodeJSON(body, &req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.GatewayID != p.GatewayID {
		writeJSONError(w, http.StatusForbidden, "the certificate is for another gateway than gateway_id")
		return
	}
	m := gateways.Meta{IP: r.RemoteAddr, UserAgent: r.UserAgent()}
	tok, err := s.gateways.access.TokenForCertificate(r.Context(), m, p)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(tok)
	case errors.Is(err, gateways.ErrNotApproved), errors.Is(err, gateways.ErrStaleEnrollment):
		writeJSONError(w, http.StatusForbidden, err.Error())
	default:
		s.writeError(w, r, fmt.Errorf("token by certificate for %s: %w", p.GatewayID, err))
	}
}

// writeError renders err on the gateway listener with the same renderer
// as the API's.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.render(r.Method, r.URL.Path, err).WriteHTTP(w)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	errs.Response{Status: status, Message: msg}.WriteHTTP(w)
}

// peerMatches checks a gateway token against the connection it came on.
// Through the gateway listener, the token's gateway must be the
// certificate's, and a certificate-bound token (RFC 8705) must come with
// that very certificate. On the plain listener a certificate-bound token
// is refused.
func (s *Server) peerMatches(c *fiber.Ctx, a gateways.Auth) error {
	secret := c.Get(peerSecretHeader)
	viaMTLS := secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.peerSecret)) == 1
	switch {
	case !viaMTLS && a.CertThumbprint != "":
		return errorf(fiber.StatusUnauthorized, "this gateway token is bound to a client certificate (RFC 8705): use it on the mTLS listener with that certificate")
	case !viaMTLS:
		return nil
	case c.Get(peerGatewayHeader) != a.GatewayID:
		return errorf(fiber.StatusForbidden, "the gateway token and the client certificate name different gateways")
	case a.CertThumbprint != "" && subtle.ConstantTimeCompare([]byte(c.Get(peerThumbprintHeader)), []byte(a.CertThumbprint)) != 1:
		return errorf(fiber.StatusUnauthorized, "this gateway token is bound to another client certificate: obtain a new token with this one")
	}
	return nil
}

func newPeerSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
