package gateways

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Claim attempt limits: wrong codes per gateway and per user per window.
//
// A code has wire.ClaimCodeBits (50) random bits and lives ClaimLifetime
// (7 days), so the per-gateway limit allows at most 5 x 168 = 840 guesses
// in a code's life: a chance of 840 / 2^50, below 1e-12, of hitting it.
// Only users who can see the gateway can spend its guesses. Offline, the
// argon2id hash (19 MiB, 2 passes) makes trying 2^50 codes infeasible.
const (
	ClaimWindow         = time.Hour
	ClaimFailuresPerGW  = 5
	ClaimFailuresPerUsr = 20
)

// ClaimInput binds a pending gateway to a site by its claim code.
type ClaimInput struct {
	GatewayID string `json:"gateway_id"`
	ClaimCode string `json:"claim_code"`
	Site      string `json:"site"`
}

// newClaimCode draws a gateway's claim code and its stored hash.
func newClaimCode(ctx context.Context) (code, hash string, err error) {
	if code, err = wire.NewClaimCode(); err != nil {
		return "", "", err
	}
	hash, err = auth.HashPassword(ctx, code)
	return code, hash, err
}

// Claim checks the code a technician read off a pending gateway and binds
// the gateway to site. The claimer needs access to the gateway as it is
// and to the target site. A gateway whose TPM's EK chains to a known
// manufacturer is approved; any other (unknown EK root, software key)
// stays pending for an admin's review, with the claimer recorded. A code
// works once, until it expires; wrong codes are limited per gateway (only
// from users who can see it) and per user.
func (s *Enrollment) Claim(ctx context.Context, m Meta, access []string, in ClaimInput) (View, error) {
	site := strings.TrimSpace(in.Site)
	if site == "" || len(site) > 255 {
		return View{}, &ValidationError{"site", "the site to bind the gateway to is required"}
	}
	if err := ValidID(in.GatewayID); err != nil {
		return View{}, err
	}
	if !rbac.CanAccessGateway(access, in.GatewayID, site) {
		return View{}, &ValidationError{"site", "outside your gateway access"}
	}
	now := s.set.Now()
	gwKey, userKey := "claim-gw:"+in.GatewayID, "claim-user:"+m.Actor
	if err := s.throttled(ctx, userKey, now); err != nil {
		return View{}, err
	}
	g, err := read(ctx, s.repo, in.GatewayID)
	if err != nil && err != ErrNotFound {
		return View{}, err
	}
	if g == nil || !rbac.CanAccessGateway(access, g.ID, g.Site) {
		// Unknown, or outside the user's reach: the gateway's own limit
		// is not touched, so nobody can lock out a gateway they cannot see.
		return View{}, s.claimFailed(ctx, m, in.GatewayID, "", userKey, now)
	}
	if err := s.throttled(ctx, gwKey, now); err != nil {
		return View{}, err
	}
	match := false
	if code, err := wire.NormalizeClaimCode(in.ClaimCode); err == nil && claimable(g, now) {
		ok, err := auth.VerifyPassword(ctx, g.ClaimCodeHash, code)
		if ctx.Err() != nil {
			return View{}, ctx.Err()
		}
		if errors.Is(err, auth.ErrHashBusy) {
			return View{}, err // no verdict: the attempt does not count
		}
		match = err == nil && ok
	}
	if !match {
		return View{}, s.claimFailed(ctx, m, in.GatewayID, gwKey, userKey, now)
	}
	var out *store.Gateway
	err = s.repo.InTx(ctx, func(tx EnrollmentTx) error {
		// The code was checked outside the transaction (argon2id is slow);
		// it counts only if it is still the gateway's unused code.
		cur, err := load(tx, in.GatewayID, true)
		if err != nil || cur.ClaimCodeHash != g.ClaimCodeHash || !claimable(cur, now) ||
			!rbac.CanAccessGateway(access, cur.ID, cur.Site) {
			return ErrBadClaim
		}
		old := cur.Status
		cur.Site, cur.ClaimedAt, cur.ClaimedBy, cur.ClaimCodeHash = site, &now, m.Actor, ""
		ev := m.Event("gateway.claim", "gateway", cur.ID, "claim", audit.ResultSuccess)
		if cur.IdentityKind == "tpm" && cur.EKVerified {
			cur.Status, cur.ApprovedBy, cur.ApprovedAt = store.GatewayApproved, m.Actor, &now
			ev.ApprovedBy = &m.Actor
		} else {
			ev.Reason = "EK not verified: left for an admin's review"
		}
		if err := tx.SaveGateway(cur); err != nil {
			return err
		}
		ev.Changes = map[string]audit.Change{"status": {Old: old, New: cur.Status}, "site": {Old: g.Site, New: site},
			"claimed_by": {New: m.Actor}, "ek_verified": {New: cur.EKVerified}}
		out = cur
		return tx.Audit(ev)
	})
	if err == ErrBadClaim {
		return View{}, s.claimFailed(ctx, m, in.GatewayID, gwKey, userKey, now)
	}
	if err != nil {
		return View{}, err
	}
	return view(out, 0), nil
}

// claimable reports whether g has an unused, unexpired code.
func claimable(g *store.Gateway, now time.Time) bool {
	return g.Status == store.GatewayPending && g.ClaimCodeHash != "" && now.Before(g.ClaimExpiresAt)
}

func (s *Enrollment) throttled(ctx context.Context, key string, now time.Time) error {
	wait, err := s.repo.BlockedFor(ctx, key, now)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// claimFailed counts a wrong claim against the user and, when gwKey is
// set, against the gateway; it audits the attempt and returns ErrBadClaim.
func (s *Enrollment) claimFailed(ctx context.Context, m Meta, id, gwKey, userKey string, now time.Time) error {
	limit := func(max int) func(int, time.Time) time.Time {
		return func(n int, start time.Time) time.Time {
			if n < max {
				return time.Time{}
			}
			return start.Add(ClaimWindow)
		}
	}
	err := s.repo.InTx(ctx, func(tx EnrollmentTx) error {
		if gwKey != "" {
			if err := tx.Bump(gwKey, now, ClaimWindow, limit(ClaimFailuresPerGW)); err != nil {
				return err
			}
		}
		if err := tx.Bump(userKey, now, ClaimWindow, limit(ClaimFailuresPerUsr)); err != nil {
			return err
		}
		ev := m.Event("gateway.claim", "gateway", id, "claim", audit.ResultFailure)
		ev.Reason = "wrong, expired or used claim code"
		return tx.Audit(ev)
	})
	if err != nil {
		return err
	}
	return ErrBadClaim
}
