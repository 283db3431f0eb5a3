package users

import (
	"context"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
)

// ErrWrongPassword answers a password change whose current password is
// wrong. It is 403, not 401: the session itself is fine.
var ErrWrongPassword = errs.New(errs.Forbidden, "the current password is wrong")

// errChangedMeanwhile answers a password change that lost a race with
// another change of the same password.
var errChangedMeanwhile = errs.New(errs.Conflict, "the password was changed meanwhile; log in again")

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
	u, err := notFound(s.repo.UserByEmail(ctx, canonical(email)))
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
		s.refundAlone(ctx, res, now, "password check")
		return Session{}, fmt.Errorf("verify current password of %s: %w", email, err)
	}
	if !ok {
		m.Actor = email
		ev := m.Event("authentication.failure", "user", email, "password_change", audit.ResultFailure)
		ev.Resource, ev.Reason = "/api/v1/auth/password", "wrong_current_password"
		if err := s.repo.InTx(ctx, func(tx Tx) error { return tx.Tally(ev, now) }); err != nil {
			return Session{}, err
		}
		s.loginFailures.Inc()
		return Session{}, ErrWrongPassword
	}
	hash, err := auth.HashPassword(ctx, next)
	if err != nil {
		return Session{}, err
	}
	var sess Session
	err = s.repo.InTx(ctx, func(tx Tx) error {
		if err := refund(tx, res, now); err != nil {
			return err
		}
		changed, err := tx.ReplacePasswordHash(u.ID, u.PasswordHash, hash)
		if err != nil {
			return fmt.Errorf("set password of %s: %w", email, err)
		}
		if !changed {
			return errChangedMeanwhile
		}
		if err := tx.RevokeUserSessions(u.ID, now); err != nil {
			return err
		}
		if sess, err = s.issue(tx, u, now); err != nil {
			return err
		}
		ev := m.Event("user.password_change", "user", email, "update", audit.ResultSuccess)
		ev.Resource = "/api/v1/auth/password"
		ev.Changes = map[string]audit.Change{"password": {Old: "[redacted]", New: "[redacted]"}}
		return tx.Audit(ev)
	})
	return sess, err
}
