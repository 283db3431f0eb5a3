package api

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/stepca"
)

// The gateway listener (mTLS) hands the verified client certificate's
// gateway id to the API in these headers. The secret, random per process,
// is how the API tells them from the same headers sent to the plain
// listener by a client, which are ignored.
const (
	peerGatewayHeader = "X-Streamforge-Peer-Gateway"
	peerSecretHeader  = "X-Streamforge-Peer-Secret"
)

// GatewayListener serves what gateways with a step-ca certificate call, on
// a TLS 1.3 listener that requires client certificates from step-ca's root:
//   - POST /api/v1/gateways/token: a token, proven by the certificate;
//   - every other gateway route, whose token must belong to the
//     certificate's gateway;
//   - POST /internal/step-ca/authorize: step-ca's authorizing webhook
//     (approved and enabled gateways only).
func (s *Server) GatewayListener(webhook stepca.WebhookOptions) http.Handler {
	api := adaptor.FiberApp(s.app)
	mux := http.NewServeMux()
	mux.Handle("POST /internal/step-ca/authorize", stepca.WebhookHandler(s.gateways.Authorize, webhook))
	mux.HandleFunc("POST /api/v1/gateways/token", s.tokenByCertificate)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		id, err := peerGateway(r)
		if err != nil {
			writeJSONError(w, http.StatusUnauthorized, err.Error())
			return
		}
		r.Header.Set(peerGatewayHeader, id)
		r.Header.Set(peerSecretHeader, s.peerSecret)
		api(w, r)
	})
	return mux
}

// GatewayTLSConfig is the gateway listener's TLS: TLS 1.3, client
// certificates from step-ca's root.
func GatewayTLSConfig(stepcaDir string) (*tls.Config, *stepca.Layout, error) {
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
	return stepca.ServerTLSConfig(cert, roots), layout, nil
}

func peerGateway(r *http.Request) (string, error) {
	r.Header.Del(peerGatewayHeader)
	r.Header.Del(peerSecretHeader)
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", stepca.ErrNoGatewayID
	}
	return stepca.GatewayID(r.TLS.PeerCertificates[0])
}

func (s *Server) tokenByCertificate(w http.ResponseWriter, r *http.Request) {
	id, err := peerGateway(r)
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
	if req.GatewayID != id {
		writeJSONError(w, http.StatusForbidden, "the certificate is for another gateway than gateway_id")
		return
	}
	m := gateways.Meta{IP: r.RemoteAddr, UserAgent: r.UserAgent()}
	tok, err := s.gateways.TokenForCertificate(r.Context(), m, id)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(tok)
	case err == gateways.ErrNotApproved:
		writeJSONError(w, http.StatusForbidden, err.Error())
	default:
		s.writeError(w, r, fmt.Errorf("token by certificate for %s: %w", id, err))
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

// peerMatches checks, for a request that came through the gateway
// listener, that the token's gateway is the certificate's.
func (s *Server) peerMatches(c *fiber.Ctx, gatewayID string) error {
	secret := c.Get(peerSecretHeader)
	if secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(s.peerSecret)) != 1 {
		return nil // the plain listener: no certificate to match
	}
	if c.Get(peerGatewayHeader) != gatewayID {
		return errorf(fiber.StatusForbidden, "the gateway token and the client certificate name different gateways")
	}
	return nil
}

func newPeerSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
