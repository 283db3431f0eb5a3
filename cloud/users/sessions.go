package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// Session is an issued token and its parsed claims.
type Session struct {
	Token  string
	Claims *auth.Claims
}

// ExpiresAt is when the token stops working.
func (s Session) ExpiresAt() time.Time { return s.Claims.ExpiresAt.Time }

// Login checks a password, subject to throttling, and starts a session.
func (s *Service) Login(ctx context.Context, m Meta, email, password string) (Session, error) {
	if auth.HashQueueFull() {
		return Session{}, auth.ErrHashBusy // shed a flood before any database work
	}
	now := s.Now().Truncate(time.Microsecond)
	norm, err := NormalizeEmail(email)
	if err != nil {
		norm = "" // still counted per IP and audited as invalid
	}
	m.Actor = norm
	if norm == "" {
		m.Actor = "(invalid)"
	}
	var u *store.User
	if norm != "" {
		u, err = notFound(s.repo.UserByEmail(ctx, norm))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Session{}, err
		}
	}
	wait, res, err := s.admit(ctx, norm, m.IP, now)
	if err != nil {
		return Session{}, fmt.Errorf("login throttle: %w", err)
	}
	if wait > 0 {
		if err := s.tallyFailure(ctx, m, norm, "throttled", audit.ResultBlocked, now); err != nil {
			return Session{}, err
		}
		return Session{}, throttled(wait)
	}
	ok := false
	if u != nil {
		ok, err = auth.VerifyPassword(ctx, u.PasswordHash, password)
	} else {
		err = auth.BurnPasswordCheck(ctx, password)
	}
	if err != nil {
		// Unchecked (no hashing slot, or a bad stored hash): not a guess.
		s.refundAlone(ctx, res, now, "login attempt")
		return Session{}, fmt.Errorf("verify password of %s: %w", m.Actor, err)
	}
	if !ok || u.Disabled {
		reason := "invalid_credentials"
		if ok {
			reason = "account_disabled"
		}
		if err := s.tallyFailure(ctx, m, norm, reason, audit.ResultFailure, now); err != nil {
			return Session{}, err
		}
		s.loginFailures.Inc()
		return Session{}, ErrInvalidCredentials
	}
	var sess Session
	err = s.repo.InTx(ctx, func(tx Tx) error {
		if err := refund(tx, res, now); err != nil {
			return err
		}
		if err := tx.TouchThrottle(knownKey(u.Email, m.IP), now); err != nil {
			return fmt.Errorf("remember client of %s: %w", u.Email, err)
		}
		if sess, err = s.issue(tx, u, now); err != nil {
			return err
		}
		ev := m.Event("authentication.success", "user", u.Email, "login", "success")
		ev.Resource = "/api/v1/auth/login"
		return tx.Audit(ev)
	})
	return sess, err
}

// tallyFailure audits a failed or throttled login, aggregated per source
// (audit.Tally).
func (s *Service) tallyFailure(ctx context.Context, m Meta, email, reason, result string, now time.Time) error {
	ev := m.Event("authentication.failure", "user", email, "login", result)
	ev.Resource, ev.Reason = "/api/v1/auth/login", reason
	return s.repo.InTx(ctx, func(tx Tx) error { return tx.Tally(ev, now) })
}

// issue records a new session and signs its token.
func (s *Service) issue(tx Tx, u *store.User, now time.Time) (Session, error) {
	now = now.Truncate(time.Second)
	c := &auth.Claims{
		Roles:         nonNil(u.Roles),
		Permissions:   rbac.Permissions(u.Roles),
		GatewayAccess: nonNil(u.GatewayAccess),
		CSRF:          auth.NewJTI(),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.Email,
			Issuer:    auth.Issuer,
			Audience:  jwt.ClaimStrings{auth.AudienceUser},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(auth.TokenLifetime)),
			ID:        auth.NewJTI(),
		},
	}
	row := store.Session{JTI: c.ID, UserID: u.ID, IssuedAt: now, ExpiresAt: c.ExpiresAt.Time}
	if err := tx.CreateSession(&row); err != nil {
		return Session{}, fmt.Errorf("record session of %s: %w", u.Email, err)
	}
	tok, err := s.keys.Sign(c)
	if err != nil {
		return Session{}, err
	}
	return Session{Token: tok, Claims: c}, nil
}

// Authenticate verifies a user token and checks, in the database shared by
// every cloud process, that its session is neither revoked nor its user
// disabled (role and access changes revoke sessions).
func (s *Service) Authenticate(ctx context.Context, token string) (*auth.Claims, error) {
	c, err := s.keys.Parse(token, auth.AudienceUser)
	if err != nil {
		return nil, err
	}
	row, err := s.repo.SessionOwner(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: unknown session", auth.ErrInvalidToken)
	case err != nil:
		return nil, err
	case row.Revoked && row.RotatedAt != nil && row.Email == c.Subject && s.Now().Sub(*row.RotatedAt) >= RefreshGrace:
		return nil, s.tokenReused(ctx, row)
	case row.Revoked, row.Disabled, row.Email != c.Subject:
		return nil, fmt.Errorf("%w: session revoked", auth.ErrInvalidToken)
	}
	return c, nil
}

// RefreshGrace is how long after a refresh its old token is merely
// refused (a request already on its way, a client retrying a refresh
// whose answer it lost); used later, it was copied.
const RefreshGrace = 30 * time.Second

// tokenReused answers a token that a refresh replaced and that came back
// after RefreshGrace: someone holds a copy (whoever refreshed first, the
// owner or a thief, the other now uses the old one), so every session of
// the account ends, and the detection is audited (aggregated, as anyone
// holding the old token can repeat it).
func (s *Service) tokenReused(ctx context.Context, row store.SessionOwner) error {
	now := s.Now()
	err := s.repo.InTx(ctx, func(tx Tx) error {
		if err := tx.RevokeUserSessions(row.UserID, now); err != nil {
			return fmt.Errorf("revoke sessions of %s: %w", row.Email, err)
		}
		ev := audit.Event{EventType: "auth.token_reuse", User: row.Email, Resource: "user", ResourceID: row.Email,
			Action: "authenticate", Result: audit.ResultDenied,
			Reason: "a token replaced by a refresh was used again: every session of the account was revoked"}
		return tx.Tally(ev, now)
	})
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: session revoked (a refreshed token was reused)", auth.ErrInvalidToken)
}

// Refresh exchanges a valid token for a new one and revokes the old one.
func (s *Service) Refresh(ctx context.Context, m Meta, c *auth.Claims) (Session, error) {
	now := s.Now()
	var sess Session
	err := s.repo.InTx(ctx, func(tx Tx) error {
		u, err := load(tx, c.Subject)
		if err != nil {
			return err
		}
		live, err := tx.RotateSession(c.ID, now)
		if err != nil {
			return fmt.Errorf("revoke refreshed session: %w", err)
		}
		if !live {
			return auth.ErrInvalidToken // refreshed or revoked concurrently
		}
		if sess, err = s.issue(tx, u, now); err != nil {
			return err
		}
		ev := m.Event("auth.refresh", "user", u.Email, "refresh", "success")
		ev.Resource = "/api/v1/auth/refresh"
		return tx.Audit(ev)
	})
	return sess, err
}

// Logout revokes the session of c at once.
func (s *Service) Logout(ctx context.Context, m Meta, c *auth.Claims) error {
	return s.repo.InTx(ctx, func(tx Tx) error {
		if _, err := tx.RevokeSession(c.ID, s.Now()); err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		ev := m.Event("auth.logout", "user", c.Subject, "logout", "success")
		ev.Resource = "/api/v1/auth/logout"
		return tx.Audit(ev)
	})
}

// PruneSessions deletes sessions that expired more than a day ago.
func (s *Service) PruneSessions(ctx context.Context) error {
	return s.repo.PruneSessions(ctx, s.Now().Add(-24*time.Hour))
}
