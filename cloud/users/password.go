package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/store"
)

// ErrWrongPassword answers a password change whose current password is
// wrong. It is 403, not 401: the session itself is fine.
var ErrWrongPassword = errs.New(errs.Forbidden, "the current password is wrong")

// ChangePassword sets a new password for the caller c, who proves the
// current one. The check is throttled and audited like a login (a stolen
// session must not become a way to guess the password). Every session of
// the user is revoked, and a new one is returned so the caller stays
// logged in.
func (s *Service) ChangePassword(ctx context.Context, m Meta, c *auth.Claims, current, next string) (Session, error) {
	now := s.Now().Truncate(time.Microsecond)
	email := c.Subject
	if err := auth.CheckPasswordPolicy(next, email); err != nil {
		return Session{}, errs.Invalid("new_password", err.Error())
	}
	if next == current {
		return Session{}, errs.Invalid("new_password", "must differ from the current password")
	}
	u, err := s.load(s.store.DB.WithContext(ctx), email, false)
	if err != nil {
		return Session{}, err
	}
	wait, res, err := s.admit(ctx, email, m.IP, now)
	if err != nil {
		return Session{}, fmt.Errorf("password change throttle: %w", err)
	}
	if wait > 0 {
		return Session{}, throttled(wait)
	}
	ok, err := auth.VerifyPassword(ctx, u.PasswordHash, current)
	if err != nil {
		if rerr := s.store.Tx(context.WithoutCancel(ctx), func(tx *gorm.DB) error { return s.refund(tx, res, now) }); rerr != nil {
			s.log.Error("refund password check", "err", rerr)
		}
		return Session{}, fmt.Errorf("verify current password of %s: %w", email, err)
	}
	if !ok {
		m.Actor = email
		ev := m.Event("authentication.failure", "user", email, "password_change", audit.ResultFailure)
		ev.Resource, ev.Reason = "/api/v1/auth/password", "wrong_current_password"
		if err := s.store.Tx(ctx, func(tx *gorm.DB) error { return store.TallyAudit(tx, ev, now) }); err != nil {
			return Session{}, err
		}
		loginFailures.Inc()
		return Session{}, ErrWrongPassword
	}
	hash, err := auth.HashPassword(ctx, next)
	if err != nil {
		return Session{}, err
	}
	var sess Session
	err = s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := s.refund(tx, res, now); err != nil {
			return err
		}
		res := tx.Model(&store.User{}).Where("id = ? AND password_hash = ?", u.ID, u.PasswordHash).Update("password_hash", hash)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.New(errs.Conflict, "the password was changed meanwhile; log in again")
		}
		if err := revokeAll(tx, u.ID, now); err != nil {
			return err
		}
		if sess, err = s.issue(tx, u, now); err != nil {
			return err
		}
		ev := m.Event("user.password_change", "user", email, "update", audit.ResultSuccess)
		ev.Resource = "/api/v1/auth/password"
		ev.Changes = map[string]audit.Change{"password": {Old: "[redacted]", New: "[redacted]"}}
		_, err := store.AppendAudit(tx, ev)
		return err
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, ErrNotFound
	}
	return sess, err
}
