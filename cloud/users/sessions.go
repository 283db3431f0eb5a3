package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

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
		u, err = s.load(s.store.DB.WithContext(ctx), norm, false)
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
		if rerr := s.store.Tx(context.WithoutCancel(ctx), func(tx *gorm.DB) error { return s.refund(tx, res, now) }); rerr != nil {
			s.log.Error("refund login attempt", "err", rerr)
		}
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
		loginFailures.Inc()
		return Session{}, ErrInvalidCredentials
	}
	var sess Session
	err = s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := s.refund(tx, res, now); err != nil {
			return err
		}
		if err := s.recordSuccess(tx, u.Email, m.IP, now); err != nil {
			return err
		}
		if sess, err = s.issue(tx, u, now); err != nil {
			return err
		}
		ev := m.Event("authentication.success", "user", u.Email, "login", "success")
		ev.Resource = "/api/v1/auth/login"
		_, err := store.AppendAudit(tx, ev)
		return err
	})
	return sess, err
}

// tallyFailure audits a failed or throttled login, aggregated per source
// (audit.Tally).
func (s *Service) tallyFailure(ctx context.Context, m Meta, email, reason, result string, now time.Time) error {
	ev := m.Event("authentication.failure", "user", email, "login", result)
	ev.Resource, ev.Reason = "/api/v1/auth/login", reason
	return s.store.Tx(ctx, func(tx *gorm.DB) error { return store.TallyAudit(tx, ev, now) })
}

// issue records a new session and signs its token.
func (s *Service) issue(tx *gorm.DB, u *store.User, now time.Time) (Session, error) {
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
	if err := tx.Create(&row).Error; err != nil {
		return Session{}, err
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
	var row struct {
		RevokedAt *time.Time
		Disabled  bool
		Email     string
	}
	err = s.store.DB.WithContext(ctx).Table("sessions").
		Select("sessions.revoked_at, users.disabled, users.email").
		Joins("JOIN users ON users.id = sessions.user_id").
		Where("sessions.jti = ?", c.ID).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, fmt.Errorf("%w: unknown session", auth.ErrInvalidToken)
	case err != nil:
		return nil, err
	case row.RevokedAt != nil, row.Disabled, row.Email != c.Subject:
		return nil, fmt.Errorf("%w: session revoked", auth.ErrInvalidToken)
	}
	return c, nil
}

// Refresh exchanges a valid token for a new one and revokes the old one.
func (s *Service) Refresh(ctx context.Context, m Meta, c *auth.Claims) (Session, error) {
	now := s.Now()
	var sess Session
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		u, err := s.load(tx, c.Subject, true)
		if err != nil {
			return err
		}
		res := tx.Model(&store.Session{}).Where("jti = ? AND revoked_at IS NULL", c.ID).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return auth.ErrInvalidToken // refreshed or revoked concurrently
		}
		if sess, err = s.issue(tx, u, now); err != nil {
			return err
		}
		ev := m.Event("auth.refresh", "user", u.Email, "refresh", "success")
		ev.Resource = "/api/v1/auth/refresh"
		_, err = store.AppendAudit(tx, ev)
		return err
	})
	return sess, err
}

// Logout revokes the session of c at once.
func (s *Service) Logout(ctx context.Context, m Meta, c *auth.Claims) error {
	return s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&store.Session{}).Where("jti = ? AND revoked_at IS NULL", c.ID).
			Update("revoked_at", s.Now()).Error; err != nil {
			return err
		}
		ev := m.Event("auth.logout", "user", c.Subject, "logout", "success")
		ev.Resource = "/api/v1/auth/logout"
		_, err := store.AppendAudit(tx, ev)
		return err
	})
}

func revokeAll(tx *gorm.DB, userID uint64, now time.Time) error {
	return tx.Model(&store.Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).
		Update("revoked_at", now).Error
}

// PruneSessions deletes sessions that expired more than a day ago.
func (s *Service) PruneSessions(ctx context.Context) error {
	return s.store.DB.WithContext(ctx).Where("expires_at < ?", s.Now().Add(-24*time.Hour)).
		Delete(&store.Session{}).Error
}
