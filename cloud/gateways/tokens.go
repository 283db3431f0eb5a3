package gateways

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Challenge returns a single-use nonce for gatewayID to sign. It answers
// the same for unknown gateways, so it does not reveal which ids exist.
func (s *Service) Challenge(ctx context.Context, gatewayID string) (wire.ChallengeResponse, error) {
	if err := ValidID(gatewayID); err != nil {
		return wire.ChallengeResponse{}, err
	}
	now := s.Now()
	c := store.GatewayChallenge{Nonce: randomHex(32), GatewayID: gatewayID, ExpiresAt: now.Add(ChallengeLifetime)}
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", now).Delete(&store.GatewayChallenge{}).Error; err != nil {
			return err
		}
		return tx.Create(&c).Error
	})
	return wire.ChallengeResponse{Nonce: c.Nonce, ExpiresAt: c.ExpiresAt}, err
}

// useNonce consumes a live nonce issued to gatewayID, or fails with
// ErrBadProof: a signed request that carries it is good once.
func (s *Service) useNonce(tx *gorm.DB, gatewayID, nonce string) error {
	res := tx.Where("nonce = ? AND gateway_id = ? AND expires_at > ?", nonce, gatewayID, s.Now()).
		Delete(&store.GatewayChallenge{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: unknown, used or expired nonce", ErrBadProof)
	}
	return nil
}

// proven checks, inside tx, that req signs a live nonce issued to its
// gateway with the gateway's identity key, consuming the nonce.
func (s *Service) proven(tx *gorm.DB, g *store.Gateway, req wire.TokenRequest) error {
	if err := s.useNonce(tx, req.GatewayID, req.Nonce); err != nil {
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
func (s *Service) IssueToken(ctx context.Context, m Meta, req wire.TokenRequest, renewing bool) (wire.TokenResponse, error) {
	m.Actor = "gateway:" + req.GatewayID
	eventType := "gateway.token.issue"
	if renewing {
		eventType = "gateway.token.renew"
	}
	var out wire.TokenResponse
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		g, err := s.load(tx, req.GatewayID, true)
		if err != nil {
			return ErrBadProof // unknown ids look like bad proofs
		}
		if err := s.proven(tx, g, req); err != nil {
			return err
		}
		if g.Status != store.GatewayApproved || g.ActivationState != "" {
			return ErrNotApproved
		}
		now := s.Now()
		if renewing {
			if err := tx.Model(&store.GatewayToken{}).Where("gateway_id = ? AND revoked_at IS NULL", g.ID).
				Update("revoked_at", now).Error; err != nil {
				return err
			}
		}
		if out, err = s.sign(tx, g.ID, now); err != nil {
			return err
		}
		return appendAudit(tx, m.Event(eventType, "gateway", g.ID, "issue", audit.ResultSuccess))
	})
	if errors.Is(err, ErrBadProof) || errors.Is(err, ErrNotApproved) {
		ev := m.Event(eventType, "gateway", req.GatewayID, "issue", audit.ResultDenied)
		ev.Reason = err.Error()
		if aerr := s.store.Tx(ctx, func(tx *gorm.DB) error { return appendAudit(tx, ev) }); aerr != nil {
			return out, aerr
		}
	}
	return out, err
}

func (s *Service) sign(tx *gorm.DB, id string, now time.Time) (wire.TokenResponse, error) {
	now = now.Truncate(time.Second)
	c := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: id, Issuer: auth.Issuer, Audience: jwt.ClaimStrings{auth.AudienceGateway},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(GatewayTokenLifetime)), ID: auth.NewJTI(),
	}}
	row := store.GatewayToken{JTI: c.ID, GatewayID: id, IssuedAt: now, ExpiresAt: c.ExpiresAt.Time}
	if err := tx.Create(&row).Error; err != nil {
		return wire.TokenResponse{}, err
	}
	tok, err := s.keys.Sign(c)
	if err != nil {
		return wire.TokenResponse{}, err
	}
	out := wire.TokenResponse{GatewayID: id, Token: tok, ExpiresAt: c.ExpiresAt.Time}
	if s.ConfigKeys != nil {
		out.ConfigKeys = s.ConfigKeys.Trusted(now)
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
}

// Authenticate verifies a gateway token and checks, in the database, that
// it is not revoked and its gateway is approved: a disabled gateway's
// token stops working at once.
func (s *Service) Authenticate(ctx context.Context, token string) (Auth, error) {
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
	}
	a := Auth{GatewayID: c.Subject, LastSeen: row.LastSeenAt, AgentVersion: row.AgentVersion, AppliedConfig: row.AppliedConfig,
		HasConfig: row.ETag != nil}
	if row.ETag != nil {
		a.ConfigETag = *row.ETag
	}
	return a, nil
}

// TokenForCertificate gives a gateway its token on a step-ca certificate
// (verified by the mTLS listener) naming it: the certificate is the proof.
func (s *Service) TokenForCertificate(ctx context.Context, m Meta, id string) (wire.TokenResponse, error) {
	m.Actor = "gateway:" + id
	var out wire.TokenResponse
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		g, err := s.load(tx, id, true)
		if err != nil || g.Status != store.GatewayApproved {
			return ErrNotApproved
		}
		if out, err = s.sign(tx, id, s.Now()); err != nil {
			return err
		}
		ev := m.Event("gateway.token.issue", "gateway", id, "issue", audit.ResultSuccess)
		ev.Reason = "proven by mTLS certificate"
		return appendAudit(tx, ev)
	})
	return out, err
}

// Authorize answers step-ca's webhook: may gateway id get a certificate
// now? Only an approved gateway whose TPM passed credential activation.
func (s *Service) Authorize(ctx context.Context, id string) (bool, error) {
	g, err := s.load(s.store.DB.WithContext(ctx), id, false)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok := g.Status == store.GatewayApproved && g.AttestedState != ""
	result, reason := audit.ResultSuccess, ""
	if !ok {
		result, reason = audit.ResultDenied, "gateway is "+g.Status
	}
	ev := Meta{Actor: "step-ca"}.Event("gateway.certificate.authorize", "gateway", id, "authorize", result)
	ev.Reason = reason
	return ok, s.store.Tx(ctx, func(tx *gorm.DB) error { return appendAudit(tx, ev) })
}
