package gateways

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Enrollment lets gateways join: enrollment tokens, enrollment with a TPM
// (or, where allowed, a software key), credential activation, and the
// claim codes technicians bind gateways to sites with.
type Enrollment struct {
	repo EnrollmentRepo
	set  *Settings
}

// NewEnrollment returns the enrollment service over repo.
func NewEnrollment(repo EnrollmentRepo, set *Settings) *Enrollment {
	return &Enrollment{repo: repo, set: set}
}

// EnrollmentTokenPrefix starts every enrollment token value.
const EnrollmentTokenPrefix = "sfe_"

// TokenInput creates an enrollment token.
type TokenInput struct {
	// ExpiresIn is a Go duration ("24h", "30m"); at most 90 days.
	ExpiresIn string `json:"expires_in"`
	MaxUses   int    `json:"max_uses"`
	Site      string `json:"site"`
}

// TokenView is an enrollment token as listed; Token is set only once, in
// the answer to its creation.
type TokenView struct {
	ID        string     `json:"id"`
	Token     string     `json:"token,omitempty"`
	Site      string     `json:"site"`
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
}

func tokenView(t *store.EnrollmentToken) TokenView {
	return TokenView{ID: t.ID, Site: t.Site, MaxUses: t.MaxUses, Uses: t.Uses, ExpiresAt: t.ExpiresAt,
		RevokedAt: t.RevokedAt, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hashToken(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// CreateToken makes an enrollment token into a site within access. Its
// value is returned once and stored only as a SHA-256 hash (it has 256
// random bits, so a fast hash is enough).
func (s *Enrollment) CreateToken(ctx context.Context, m Meta, access []string, in TokenInput) (TokenView, error) {
	d, err := time.ParseDuration(in.ExpiresIn)
	if err != nil || d <= 0 || d > 90*24*time.Hour {
		return TokenView{}, &ValidationError{"expires_in", "a duration such as \"24h\", at most 2160h (90 days)"}
	}
	if in.MaxUses < 1 || in.MaxUses > 100000 {
		return TokenView{}, &ValidationError{"max_uses", "between 1 and 100000"}
	}
	if len(in.Site) > 255 {
		return TokenView{}, &ValidationError{"site", "at most 255 characters"}
	}
	if !tokenWithin(access, strings.TrimSpace(in.Site)) {
		return TokenView{}, &ValidationError{"site", "outside your gateway_access: you can create enrollment tokens only for your own sites"}
	}
	value := EnrollmentTokenPrefix + randomHex(32)
	t := &store.EnrollmentToken{ID: "et_" + randomHex(8), TokenHash: hashToken(value), Site: strings.TrimSpace(in.Site),
		MaxUses: in.MaxUses, ExpiresAt: s.set.Now().Add(d).Truncate(time.Second), CreatedBy: m.Actor}
	err = s.repo.InTx(ctx, func(tx EnrollmentTx) error {
		if err := tx.AddEnrollmentToken(t); err != nil {
			return err
		}
		ev := m.Event("enrollment.token.create", "gateway", t.ID, "create", audit.ResultSuccess)
		ev.Resource = "enrollment_token"
		ev.Changes = map[string]audit.Change{"max_uses": {New: t.MaxUses}, "site": {New: t.Site}, "expires_at": {New: t.ExpiresAt}}
		return tx.Audit(ev)
	})
	if err != nil {
		return TokenView{}, err
	}
	v := tokenView(t)
	v.Token = value
	return v, nil
}

// ListTokens lists the enrollment tokens within access (never their
// values).
func (s *Enrollment) ListTokens(ctx context.Context, access []string) ([]TokenView, error) {
	ts, err := s.repo.EnrollmentTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := []TokenView{}
	for i := range ts {
		if tokenWithin(access, ts[i].Site) {
			out = append(out, tokenView(&ts[i]))
		}
	}
	return out, nil
}

// RevokeToken stops a token within access from enrolling anything more.
func (s *Enrollment) RevokeToken(ctx context.Context, m Meta, access []string, id string) error {
	return s.repo.InTx(ctx, func(tx EnrollmentTx) error {
		t, err := tx.EnrollmentToken(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !tokenWithin(access, t.Site)) {
			return ErrTokenNotFound
		} else if err != nil {
			return err
		}
		revoked, err := tx.RevokeEnrollmentToken(id, s.set.Now())
		if err != nil || !revoked {
			return err // already revoked: nothing to do
		}
		ev := m.Event("enrollment.token.revoke", "gateway", id, "revoke", audit.ResultSuccess)
		ev.Resource = "enrollment_token"
		return tx.Audit(ev)
	})
}

func validateEnroll(req *wire.EnrollRequest) error {
	if err := ValidID(req.GatewayID); err != nil {
		return err
	}
	if !strings.HasPrefix(req.EnrollmentToken, EnrollmentTokenPrefix) || len(req.EnrollmentToken) > 200 {
		return &ValidationError{"enrollment_token", "must be an sfe_... token from an admin"}
	}
	if len(req.Hostname) > 255 {
		return &ValidationError{"hostname", "at most 255 characters"}
	}
	if len(req.HardwareInfo) > 32 {
		return &ValidationError{"hardware_info", "at most 32 entries"}
	}
	for k, v := range req.HardwareInfo {
		if len(k) > 64 || len(v) > 255 {
			return &ValidationError{"hardware_info", "keys up to 64 and values up to 255 characters"}
		}
	}
	if req.Nonce == "" || len(req.Nonce) > 128 {
		return &ValidationError{"nonce", "a nonce from POST /api/v1/gateways/enroll/challenge is required"}
	}
	if req.Identity.Kind != "key" && req.Identity.Kind != "tpm" {
		return &ValidationError{"identity.kind", `must be "tpm" or "key"`}
	}
	return nil
}

// errBadPublicKey answers an identity key that does not parse; the parser's
// text stays in the error chain for logs.
var errBadPublicKey = &ValidationError{"identity.public_key", "must be a PEM PUBLIC KEY: RSA of at least 2048 bits, ECDSA or Ed25519"}

// Enroll creates a gateway as pending (or updates the one enrolled with
// the same identity) when the token is good and the whole request, with a
// fresh single-use nonce, is signed by the identity key it carries. A
// gateway id bound to another identity cannot be taken over.
func (s *Enrollment) Enroll(ctx context.Context, m Meta, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	m.Actor = "gateway:" + req.GatewayID
	if err := validateEnroll(&req); err != nil {
		return wire.EnrollResponse{}, err
	}
	if req.Identity.Kind == "key" && !s.set.AllowKeyIdentity {
		return wire.EnrollResponse{}, s.refuseEnroll(ctx, m, req.GatewayID,
			&ValidationError{"identity.kind", ErrKeyIdentity.Error()}, "key_identity_not_allowed")
	}
	pub, fp, err := wire.ParsePublicKeyPEM(req.Identity.PublicKey)
	if err != nil {
		return wire.EnrollResponse{}, fmt.Errorf("%w: %w", errBadPublicKey, err)
	}
	msg, err := wire.EnrollMessage(&req)
	if err != nil {
		return wire.EnrollResponse{}, &ValidationError{"identity.evidence", "must be JSON"}
	}
	if err := wire.Verify(pub, msg, req.Proof); err != nil {
		return wire.EnrollResponse{}, s.refuseEnroll(ctx, m, req.GatewayID, ErrBadProof, "bad_proof")
	}
	// The nonce is used up whatever follows: a captured request, replayed
	// or not, changes nothing (no new activation challenge, no rewritten
	// hostname, no token use).
	if err := s.repo.InTx(ctx, func(tx EnrollmentTx) error { return useNonce(tx, req.GatewayID, req.Nonce, s.set.Now()) }); err != nil {
		if errors.Is(err, ErrBadProof) {
			return wire.EnrollResponse{}, s.refuseEnroll(ctx, m, req.GatewayID, err, "replayed_or_stale_nonce")
		}
		return wire.EnrollResponse{}, err
	}
	id, err := s.identityOf(&req, fp)
	if err != nil {
		return wire.EnrollResponse{}, s.refuseEnroll(ctx, m, req.GatewayID, err, "bad_tpm_evidence")
	}
	// A gateway waiting for approval gets a new claim code with each
	// enrollment (the answer to the last one may have been lost). It is
	// returned once and kept only as a hash, made before the transaction
	// (argon2id must not hold the token's row lock) and only for a usable
	// token (nobody without one can make the server hash).
	now := s.set.Now()
	if ok, err := s.repo.EnrollmentTokenUsable(ctx, hashToken(req.EnrollmentToken), now); err != nil || !ok {
		if err == nil {
			err = s.refuseEnroll(ctx, m, req.GatewayID, ErrBadEnrollment, "bad_enrollment_token")
		}
		return wire.EnrollResponse{}, err
	}
	code, codeHash, err := newClaimCode(ctx)
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	var out wire.EnrollResponse
	err = s.repo.InTx(ctx, func(tx EnrollmentTx) error {
		t, err := tx.UseEnrollmentToken(hashToken(req.EnrollmentToken), now)
		if errors.Is(err, store.ErrNotFound) {
			return ErrBadEnrollment
		} else if err != nil {
			return err
		}
		g, err := load(tx, req.GatewayID, true)
		switch {
		case errors.Is(err, ErrNotFound):
			g = &store.Gateway{ID: req.GatewayID, Status: store.GatewayPending, Site: t.Site, IdentityKind: req.Identity.Kind,
				EnrollmentID: store.NewEnrollmentID()}
		case err != nil:
			return err
		case g.IdentityFingerprint != id.fingerprint || g.IdentityKind != req.Identity.Kind || g.IdentityKey != req.Identity.PublicKey:
			// Another TPM, or another key claiming this TPM: an admin
			// must delete the gateway before it can enroll anew.
			return ErrIdentityTaken
		}
		if g.Status == store.GatewayRejected {
			g.Status = store.GatewayPending
		}
		// Identity and activation are set only until the TPM has answered;
		// a replayed enrollment of an activated gateway changes neither.
		if g.IdentityFingerprint == "" || g.Status == store.GatewayActivating {
			g.IdentityKey, g.IdentityFingerprint, g.EKVerified, g.EKReason = req.Identity.PublicKey, id.fingerprint, id.ekVerified, id.ekReason
			g.TPMInfo, g.KeyCertification, g.ActivationState = id.tpmInfo, id.cert, id.state
			if id.state != "" {
				g.Status = store.GatewayActivating
			}
		} else {
			id.credential = nil
		}
		if req.HardwareInfo == nil {
			req.HardwareInfo = map[string]string{}
		}
		g.Hostname, g.HardwareInfo, g.EnrolledWith, g.EnrolledAt = req.Hostname, req.HardwareInfo, t.ID, now
		claimable := g.Status == store.GatewayPending || g.Status == store.GatewayActivating
		if claimable {
			g.ClaimCodeHash, g.ClaimExpiresAt = codeHash, now.Add(ClaimLifetime)
		}
		if err := tx.SaveGateway(g); err != nil {
			return err
		}
		ev := m.Event("gateway.enroll", "gateway", g.ID, "enroll", audit.ResultSuccess)
		ev.Reason = "enrollment token " + t.ID
		ev.Changes = map[string]audit.Change{"status": {New: g.Status}, "identity_fingerprint": {New: id.fingerprint},
			"identity_kind": {New: g.IdentityKind}, "ek_verified": {New: g.EKVerified}, "ek_reason": {New: g.EKReason}, "site": {New: g.Site}}
		if err := tx.Audit(ev); err != nil {
			return err
		}
		out = wire.EnrollResponse{GatewayID: g.ID, Status: g.Status, Site: g.Site, EKVerified: g.EKVerified,
			ClaimExpiresAt: g.ClaimExpiresAt, Credential: id.credential}
		if claimable {
			out.ClaimCode = code
		}
		return nil
	})
	if errors.Is(err, ErrBadEnrollment) || errors.Is(err, ErrIdentityTaken) {
		reason := "bad_enrollment_token"
		if errors.Is(err, ErrIdentityTaken) {
			reason = "identity_mismatch"
		}
		return out, s.refuseEnroll(ctx, m, req.GatewayID, err, reason)
	}
	return out, err
}

// refuseEnroll audits a refused enrollment and returns err.
func (s *Enrollment) refuseEnroll(ctx context.Context, m Meta, id string, err error, reason string) error {
	ev := m.Event("gateway.enroll", "gateway", id, "enroll", audit.ResultFailure)
	ev.Reason = reason
	if aerr := s.repo.InTx(ctx, func(tx EnrollmentTx) error { return tx.Audit(ev) }); aerr != nil {
		return aerr
	}
	return err
}
