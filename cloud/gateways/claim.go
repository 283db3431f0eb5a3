package gateways

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
)

// Claim attempt limits: wrong codes per gateway and per user per window.
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

// Claim checks the code a technician read off a pending gateway, binds the
// gateway to site and approves it. A code works once, until it expires;
// wrong codes are limited per gateway and per user.
func (s *Service) Claim(ctx context.Context, m Meta, access []string, in ClaimInput) (View, error) {
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
	now := s.Now()
	gwKey, userKey := "claim-gw:"+in.GatewayID, "claim-user:"+m.Actor
	for _, k := range []string{gwKey, userKey} {
		wait, err := s.store.BlockedFor(s.store.DB.WithContext(ctx), k, now)
		if err != nil {
			return View{}, err
		}
		if wait > 0 {
			return View{}, &ThrottledError{RetryAfter: wait}
		}
	}
	code, codeErr := wire.NormalizeClaimCode(in.ClaimCode)
	var out *store.Gateway
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		g, err := s.load(tx, in.GatewayID, true)
		if err != nil && err != ErrNotFound {
			return err
		}
		ok := codeErr == nil && g != nil && g.Status == store.GatewayPending && now.Before(g.ClaimExpiresAt) &&
			subtle.ConstantTimeCompare([]byte(code), []byte(wire.ClaimCode(g.IdentityFingerprint))) == 1
		if !ok {
			return ErrBadClaim
		}
		g.Status, g.Site, g.ClaimedAt, g.ApprovedBy, g.ApprovedAt = store.GatewayApproved, site, &now, m.Actor, &now
		if err := tx.Save(g).Error; err != nil {
			return err
		}
		ev := m.Event("gateway.claim", "gateway", g.ID, "claim", audit.ResultSuccess)
		ev.Changes = map[string]audit.Change{"status": {Old: store.GatewayPending, New: g.Status}, "site": {New: site}}
		ev.ApprovedBy = &m.Actor
		out = g
		return appendAudit(tx, ev)
	})
	if err == ErrBadClaim {
		return View{}, s.claimFailed(ctx, m, in.GatewayID, gwKey, userKey, now)
	}
	if err != nil {
		return View{}, err
	}
	return view(out, 0), nil
}

func (s *Service) claimFailed(ctx context.Context, m Meta, id, gwKey, userKey string, now time.Time) error {
	limit := func(max int) func(int, time.Time) time.Time {
		return func(n int, start time.Time) time.Time {
			if n < max {
				return time.Time{}
			}
			return start.Add(ClaimWindow)
		}
	}
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.store.Bump(tx, gwKey, now, ClaimWindow, limit(ClaimFailuresPerGW)); err != nil {
			return err
		}
		if _, err := s.store.Bump(tx, userKey, now, ClaimWindow, limit(ClaimFailuresPerUsr)); err != nil {
			return err
		}
		ev := m.Event("gateway.claim", "gateway", id, "claim", audit.ResultFailure)
		ev.Reason = "wrong, expired or used claim code"
		return appendAudit(tx, ev)
	})
	if err != nil {
		return err
	}
	return ErrBadClaim
}
