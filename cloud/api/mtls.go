package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/stepca"
)

// handshakeCheckTimeout bounds the store lookup in a TLS handshake.
const handshakeCheckTimeout = 5 * time.Second

// GatewayListener makes ln the gateways' mTLS listener, to be served by
// the same app as the plain listener (App().Listener). Its TLS is
// gatewayTLSConfig's, with the CA in stepcaDir. On it, the app answers
// only the device routes that gateways and step-ca call (see routes):
//   - POST /api/v1/gateways/token: a token, proven by the certificate and
//     bound to it;
//   - the gateway routes (config, heartbeat, AK certificate, logs), whose token
//     must belong to the certificate's gateway;
//   - POST /internal/step-ca/authorize: step-ca's authorizing webhook
//     (approved and enabled gateways only).
//
// Everything else, user login and user routes included, answers 404 there.
// Call it before the listener is served: it also configures the webhook.
func (s *Server) GatewayListener(ln net.Listener, stepcaDir string) (net.Listener, error) {
	cfg, layout, err := s.gatewayTLSConfig(stepcaDir)
	if err != nil {
		return nil, err
	}
	s.webhook = stepca.WebhookOptions{CANames: layout.DNSNames, Logger: s.log}
	return gatewayListener{Listener: ln, cfg: cfg}, nil
}

// gatewayListener accepts TLS connections marked as the gateway
// listener's: which listener a request came on is known from its socket,
// never from anything the client sends.
type gatewayListener struct {
	net.Listener
	cfg *tls.Config
}

// gatewayConn is a connection of the gateway listener. Embedding *tls.Conn
// keeps fasthttp's TLSConnectionState working.
type gatewayConn struct{ *tls.Conn }

func (l gatewayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return gatewayConn{tls.Server(c, l.cfg)}, nil
}

// viaGatewayListener says whether c came on the gateway listener. (fasthttp
// hands handlers the accepted conn itself; it would wrap it only with
// MaxConnsPerIP, which the app does not set, and TestGatewayListener*
// would then fail.)
func viaGatewayListener(c *fiber.Ctx) bool {
	_, ok := c.Context().Conn().(gatewayConn)
	return ok
}

// gatewayTLSConfig is the gateway listener's TLS: TLS 1.3, client
// certificates from step-ca's root, and at every handshake a check against
// the store: a certificate of a deleted, disabled or re-enrolled gateway is
// refused before any request is read, and the refusal is audited.
// Certificates naming no gateway are accepted only from step-ca itself
// (its webhook calls).
func (s *Server) gatewayTLSConfig(stepcaDir string) (*tls.Config, *stepca.Layout, error) {
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
	base := stepca.ServerTLSConfig(cert, roots)
	// VerifyConnection sees no address; a per-handshake copy of the config
	// gives the audit record of a refusal its source.
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return s.verifyGatewayConn(cs, layout.DNSNames, hello.Conn.RemoteAddr())
		}
		return cfg, nil
	}
	return base, layout, nil
}

func (s *Server) verifyGatewayConn(cs tls.ConnectionState, caNames []string, remote net.Addr) error {
	if len(cs.PeerCertificates) == 0 {
		return stepca.ErrNoGatewayID
	}
	leaf := cs.PeerCertificates[0]
	p, err := certIdentity(leaf)
	if err != nil {
		if slices.ContainsFunc(caNames, func(n string) bool { return leaf.VerifyHostname(n) == nil }) {
			return nil // step-ca calling its webhook
		}
		s.auditHandshake(remote, "", "tls_certificate_names_no_gateway")
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeCheckTimeout)
	defer cancel()
	if err := s.gateways.access.CheckCertificate(ctx, p); err != nil {
		s.log.Warn("gateway certificate refused at the TLS handshake", "gateway", p.GatewayID, "reason", err)
		s.auditHandshake(remote, "gateway:"+p.GatewayID, handshakeReason(err))
		return fmt.Errorf("gateway certificate refused: %w", err)
	}
	return nil
}

// handshakeReason names why a gateway's certificate was refused, for the
// audit trail only.
func handshakeReason(err error) string {
	switch {
	case errors.Is(err, gateways.ErrStaleEnrollment):
		return "tls_certificate_stale_enrollment"
	case errors.Is(err, gateways.ErrNotApproved):
		return "tls_certificate_gateway_not_approved"
	case errors.Is(err, gateways.ErrNotFound):
		return "tls_certificate_gateway_unknown"
	}
	return "tls_certificate_refused"
}

// auditHandshake records a refused TLS handshake as credential.refused,
// tallied per source like every refused credential. The source is the
// TCP peer: no header has been read at a handshake.
func (s *Server) auditHandshake(remote net.Addr, user, reason string) {
	ev := audit.Event{EventType: eventCredentialRefused, User: user, IPAddress: remoteIP(remote), Resource: "gateway listener",
		Action: "TLS handshake", Result: audit.ResultDenied, Reason: reason}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeCheckTimeout)
	defer cancel()
	s.tallyRefusal(ctx, ev)
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

// peerCert is the gateway identity of c's verified client certificate,
// read from the connection's TLS state (the handshake verified the chain).
func peerCert(c *fiber.Ctx) (gateways.PeerCert, error) {
	state := c.Context().TLSConnectionState()
	if !viaGatewayListener(c) || state == nil || len(state.VerifiedChains) == 0 {
		return gateways.PeerCert{}, stepca.ErrNoGatewayID
	}
	return certIdentity(state.VerifiedChains[0][0])
}

// errNoGatewayCert answers a request on the gateway listener whose client
// certificate names no gateway; why (a parse error) stays out of the answer.
var errNoGatewayCert = errorf(fiber.StatusUnauthorized, stepca.ErrNoGatewayID.Error())

// requirePeerCert lets through only requests whose client certificate
// names a gateway (not step-ca's own certificate).
func requirePeerCert(c *fiber.Ctx) error {
	if _, err := peerCert(c); err != nil {
		return errNoGatewayCert
	}
	return c.Next()
}

// tokenByCertificate gives the certificate's gateway a token bound to it.
func (s *Server) tokenByCertificate(c *fiber.Ctx) error {
	p, err := peerCert(c)
	if err != nil {
		return errNoGatewayCert
	}
	var req wire.ChallengeRequest
	if err := decodeJSON(c.Body(), &req); err != nil {
		return err
	}
	if req.GatewayID != p.GatewayID {
		return errorf(fiber.StatusForbidden, "the certificate is for another gateway than gateway_id")
	}
	tok, err := s.gateways.access.TokenForCertificate(c.UserContext(), s.gwMeta(c), p)
	switch {
	case err == nil:
		return c.JSON(tok)
	case errors.Is(err, gateways.ErrNotApproved):
		return errorf(fiber.StatusForbidden, gateways.ErrNotApproved.Error())
	case errors.Is(err, gateways.ErrStaleEnrollment):
		return errorf(fiber.StatusForbidden, gateways.ErrStaleEnrollment.Error())
	}
	return fmt.Errorf("token by certificate for %s: %w", p.GatewayID, err)
}

// stepCAWebhook serves step-ca's authorizing webhook.
func (s *Server) stepCAWebhook(c *fiber.Ctx) error {
	call := stepca.WebhookCall{TLS: c.Context().TLSConnectionState(), Signature: c.Get(stepca.SignatureHeader),
		Body: c.Body(), Remote: s.clientIP(c)}
	resp, err := s.webhook.Decide(c.UserContext(), call, s.gateways.access.Authorize)
	switch {
	case err == nil:
		return c.JSON(resp)
	case errors.Is(err, stepca.ErrWebhookUnauthenticated):
		return errorf(fiber.StatusUnauthorized, stepca.ErrWebhookUnauthenticated.Error())
	case errors.Is(err, stepca.ErrWebhookBadBody):
		return errorf(fiber.StatusBadRequest, stepca.ErrWebhookBadBody.Error())
	}
	return err
}

// peerMatches checks a gateway token against the connection it came on.
// Through the gateway listener, the token's gateway must be the
// certificate's, and a certificate-bound token (RFC 8705) must come with
// that very certificate. On the plain listener a certificate-bound token
// is refused.
func (s *Server) peerMatches(c *fiber.Ctx, a gateways.Auth) error {
	viaMTLS := viaGatewayListener(c)
	switch {
	case !viaMTLS && a.CertThumbprint != "":
		return errorf(fiber.StatusUnauthorized, "this gateway token is bound to a client certificate (RFC 8705): use it on the mTLS listener with that certificate")
	case !viaMTLS:
		return nil
	}
	p, err := peerCert(c)
	switch {
	case err != nil:
		return errNoGatewayCert
	case p.GatewayID != a.GatewayID:
		return errorf(fiber.StatusForbidden, "the gateway token and the client certificate name different gateways")
	case a.CertThumbprint != "" && subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(a.CertThumbprint)) != 1:
		return errorf(fiber.StatusUnauthorized, "this gateway token is bound to another client certificate: obtain a new token with this one")
	}
	return nil
}
