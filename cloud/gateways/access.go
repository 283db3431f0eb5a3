package gateways

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/stepca"
)

// Access gives approved gateways their credentials and checks them: gateway
// tokens on proof of possession or on an mTLS certificate, the batched
// token check of every gateway request, step-ca's authorizing webhook and
// AK certificates. Its token readers run from Start to Close.
type Access struct {
	repo AccessRepo
	keys *auth.KeyRing
	set  *Settings
	auth *batcher[authLookup]
}

// NewAccess returns the gateway access service over repo.
func NewAccess(repo AccessRepo, keys *auth.KeyRing, set *Settings) *Access {
	return &Access{repo: repo, keys: keys, set: set, auth: newAuthBatcher(repo)}
}

// Start starts the token readers.
func (s *Access) Start(ctx context.Context) { s.auth.start(ctx) }

// Close answers the token checks queued and stops the readers; checks
// after it fail with ErrStopped.
func (s *Access) Close() { s.auth.close() }

// Challenge returns a single-use nonce for gatewayID to sign. It answers
// the same for unknown gateways, so it does not reveal which ids exist.
func (s *Access) Challenge(ctx context.Context, gatewayID string) (wire.ChallengeResponse, error) {
	if err := ValidID(gatewayID); err != nil {
		return wire.ChallengeResponse{}, err
	}
	now := s.set.Now()
	c := store.GatewayChallenge{Nonce: randomHex(32), GatewayID: gatewayID, ExpiresAt: now.Add(ChallengeLifetime)}
	err := s.repo.InTx(ctx, func(tx AccessTx) error { return tx.AddChallenge(&c, now) })
	return wire.ChallengeResponse{Nonce: c.Nonce, ExpiresAt: c.ExpiresAt}, err
}

// nonceUser consumes nonces: Access and Enrollment transactions both do.
type nonceUser interface {
	UseChallenge(gatewayID, nonce string, now time.Time) error
}

// useNonce consumes a live nonce issued to gatewayID, or fails with
// ErrBadProof: a signed request that carries it is good once.
func useNonce(tx nonceUser, gatewayID, nonce string, now time.Time) error {
	err := tx.UseChallenge(gatewayID, nonce, now)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: unknown, used or expired nonce", ErrBadProof)
	}
	return err
}

// proven checks, inside tx, that req signs a live nonce issued to its
// gateway with the gateway's identity key, consuming the nonce.
func (s *Access) proven(tx AccessTx, g *store.Gateway, req wire.TokenRequest) error {
	if err := useNonce(tx, req.GatewayID, req.Nonce, s.set.Now()); err != nil {
		return err
	}
	pub, _, err := wire.ParsePublicKeyPEM(g.IdentityKey)
	if err != nil {
		return err
	}
	if err := wire.Verify(pub, wire.TokenMessage(req.GatewayID, req.Nonce), req.Signature); err != nil {
		return ErrBadProof
	}
	return nil
}

// IssueToken gives an approved gateway its long-lived token, on proof that
// it holds the enrolled identity key. With renewing set (the caller has
// authenticated with the current token) the tokens issued before are
// revoked.
func (s *Access) IssueToken(ctx context.Context, m Meta, req wire.TokenRequest, renewing bool) (wire.TokenResponse, error) {
	m.Actor = "gateway:" + req.GatewayID
	eventType := "gateway.token.issue"
	if renewing {
		eventType = "gateway.token.renew"
	}
	var out wire.TokenResponse
	err := s.repo.InTx(ctx, func(tx AccessTx) error {
		g, err := load(tx, req.GatewayID, true)
		if err != nil {
			return ErrBadProof // unknown ids look like bad proofs
		}
		if err := s.proven(tx, g, req); err != nil {
			return err
		}
		if g.Status != store.GatewayApproved || g.ActivationState != "" {
			return ErrNotApproved
		}
		if g.IdentityKind == "key" && !s.set.AllowKeyIdentity {
			return fmt.Errorf("%w: %w", ErrNotApproved, ErrKeyIdentity)
		}
		now := s.set.Now()
		if renewing {
			if err := tx.RevokeGatewayTokens(g.ID, now); err != nil {
				return err
			}
		}
		if out, err = s.sign(tx, g, now, ""); err != nil {
			return err
		}
		return tx.Audit(m.Event(eventType, "gateway", g.ID, "issue", audit.ResultSuccess))
	})
	return out, auditRefusal(ctx, s.repo, err, m.Event(eventType, "gateway", req.GatewayID, "issue", audit.ResultDenied),
		ErrBadProof, ErrNotApproved)
}

// sign issues a gateway token naming g's enrollment; a thumbprint binds it
// to that client certificate (RFC 8705 cnf x5t#S256).
func (s *Access) sign(tx AccessTx, g *store.Gateway, now time.Time, thumbprint string) (wire.TokenResponse, error) {
	id := g.ID
	now = now.Truncate(time.Second)
	c := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: id, Issuer: auth.Issuer, Audience: jwt.ClaimStrings{auth.AudienceGateway},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(GatewayTokenLifetime)), ID: auth.NewJTI(),
	}, Enrollment: g.EnrollmentID}
	if thumbprint != "" {
		c.Cnf = &auth.Confirmation{X5tS256: thumbprint}
	}
	row := store.GatewayToken{JTI: c.ID, GatewayID: id, IssuedAt: now, ExpiresAt: c.ExpiresAt.Time, CertThumbprint: thumbprint}
	if err := tx.AddGatewayToken(&row); err != nil {
		return wire.TokenResponse{}, err
	}
	tok, err := s.keys.Sign(c)
	if err != nil {
		return wire.TokenResponse{}, err
	}
	out := wire.TokenResponse{GatewayID: id, Token: tok, ExpiresAt: c.ExpiresAt.Time}
	if s.set.ConfigKeys != nil {
		out.ConfigKeys = s.set.ConfigKeys.Trusted(now)
	}
	return out, nil
}

// Auth is an authenticated gateway request: the gateway id, and the ETag
// of its deployed config ("" if none), read in the same query so that an
// unchanged config poll costs one database round trip.
type Auth struct {
	GatewayID string
	// HasConfig tells whether a config is deployed, ConfigETag its ETag.
	HasConfig  bool
	ConfigETag string
	// The gateway's summary, as its last heartbeat left it.
	LastSeen      *time.Time
	AgentVersion  string
	AppliedConfig int
	// CertThumbprint is set when the token is bound to a client
	// certificate (RFC 8705): the request must come over mTLS with it.
	CertThumbprint string
}

// Authenticate verifies a gateway token and checks, in the database, that
// it is not revoked, its gateway is approved and still of the enrollment
// the token names: a disabled, deleted or re-enrolled gateway's token stops
// working at once. The caller checks a certificate-bound token's
// certificate (Auth.CertThumbprint).
func (s *Access) Authenticate(ctx context.Context, token string) (Auth, error) {
	c, err := s.keys.Parse(token, auth.AudienceGateway)
	if err != nil {
		return Auth{}, err
	}
	row, found, err := s.lookupToken(ctx, c.ID, c.Subject)
	switch {
	case err != nil:
		return Auth{}, err
	case !found:
		return Auth{}, fmt.Errorf("%w: unknown gateway token", auth.ErrInvalidToken)
	case row.RevokedAt != nil:
		return Auth{}, fmt.Errorf("%w: gateway token revoked", auth.ErrInvalidToken)
	case row.Status != store.GatewayApproved:
		return Auth{}, fmt.Errorf("%w: gateway is %s", auth.ErrInvalidToken, row.Status)
	case c.Enrollment != "" && c.Enrollment != row.EnrollmentID:
		return Auth{}, fmt.Errorf("%w: %w", auth.ErrInvalidToken, ErrStaleEnrollment)
	case row.IdentityKind == "key" && !s.set.AllowKeyIdentity:
		return Auth{}, fmt.Errorf("%w: %w", auth.ErrInvalidToken, ErrKeyIdentity)
	}
	a := Auth{GatewayID: c.Subject, LastSeen: row.LastSeenAt, AgentVersion: row.AgentVersion, AppliedConfig: row.AppliedConfig,
		HasConfig: row.ETag != nil}
	if row.ETag != nil {
		a.ConfigETag = *row.ETag
	}
	if c.Cnf != nil {
		a.CertThumbprint = c.Cnf.X5tS256
	}
	return a, nil
}

// PeerCert is a gateway's client certificate as the mTLS listener verified
// it: the gateway and enrollment it names, and its SHA-256 thumbprint.
type PeerCert struct {
	GatewayID, EnrollmentID, Thumbprint string
	// NotBefore and NotAfter are the certificate's validity, kept on the
	// gateway when it exchanges the certificate for a token.
	NotBefore, NotAfter time.Time
}

// ErrStaleEnrollment means a credential names an enrollment the gateway
// no longer has: it was deleted, or another identity enrolled under its id.
var ErrStaleEnrollment = errors.New("the credential belongs to another enrollment of this gateway id")

// checkEnrollment says whether a certificate naming enrollment may act for
// g now: g approved, its TPM attested, and enrollment its own.
func checkEnrollment(g *store.Gateway, enrollment string) error {
	switch {
	case g.EnrollmentID == "" || subtle.ConstantTimeCompare([]byte(g.EnrollmentID), []byte(enrollment)) != 1:
		return ErrStaleEnrollment
	case g.Status != store.GatewayApproved || g.AttestedState == "":
		return ErrNotApproved
	}
	return nil
}

// CheckCertificate is the mTLS listener's handshake check: a certificate
// of a deleted, disabled or re-enrolled gateway is refused before any
// request is read.
func (s *Access) CheckCertificate(ctx context.Context, p PeerCert) error {
	g, err := read(ctx, s.repo, p.GatewayID)
	if err != nil {
		return err
	}
	return checkEnrollment(g, p.EnrollmentID)
}

// TokenForCertificate gives a gateway its token on a step-ca certificate
// (verified by the mTLS listener) naming it and its current enrollment:
// the certificate is the proof. The token is bound to the certificate
// (RFC 8705), and the gateway's older tokens are revoked.
func (s *Access) TokenForCertificate(ctx context.Context, m Meta, p PeerCert) (wire.TokenResponse, error) {
	m.Actor = "gateway:" + p.GatewayID
	var out wire.TokenResponse
	err := s.repo.InTx(ctx, func(tx AccessTx) error {
		g, err := load(tx, p.GatewayID, true)
		if err != nil {
			return ErrNotApproved
		}
		if err := checkEnrollment(g, p.EnrollmentID); err != nil {
			return err
		}
		if err := recordTLSCert(tx, g, p); err != nil {
			return err
		}
		now := s.set.Now()
		if err := tx.RevokeGatewayTokens(g.ID, now); err != nil {
			return err
		}
		if out, err = s.sign(tx, g, now, p.Thumbprint); err != nil {
			return err
		}
		ev := m.Event("gateway.token.issue", "gateway", g.ID, "issue", audit.ResultSuccess)
		ev.Reason = "proven by mTLS certificate; older tokens revoked"
		return tx.Audit(ev)
	})
	return out, auditRefusal(ctx, s.repo, err, m.Event("gateway.token.issue", "gateway", p.GatewayID, "issue", audit.ResultDenied),
		ErrNotApproved, ErrStaleEnrollment)
}

// Authorize answers step-ca's webhook: may the gateway named by
// permanentID (stepca.PermanentID: gateway id and enrollment id, from its
// AK certificate) get a certificate now? Only an approved gateway whose
// TPM passed credential activation, for its current enrollment.
func (s *Access) Authorize(ctx context.Context, permanentID string) (bool, error) {
	id, enrollment := stepca.SplitPermanentID(permanentID)
	g, err := read(ctx, s.repo, id)
	if errors.Is(err, ErrNotFound) {
		err = ErrStaleEnrollment
	} else if err != nil {
		return false, err
	} else {
		err = checkEnrollment(g, enrollment)
	}
	result, reason := audit.ResultSuccess, ""
	if err != nil {
		result, reason = audit.ResultDenied, err.Error()
		if errors.Is(err, ErrNotApproved) {
			reason = "gateway is " + g.Status
		}
	}
	ev := Meta{Actor: "step-ca"}.Event("gateway.certificate.authorize", "gateway", id, "authorize", result)
	ev.Reason = reason
	return err == nil, s.repo.InTx(ctx, func(tx AccessTx) error { return tx.Audit(ev) })
}
