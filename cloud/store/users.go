package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Users is the repository of accounts, their sessions and their login
// throttles. Reads that stand alone run on it; a change that must hold
// together (an account change with its audit record, a login's throttle
// counters with its session) runs in one UserTx through InTx.
type Users struct{ s *Store }

// Users returns the store's users repository.
func (s *Store) Users() *Users { return &Users{s: s} }

// UserTx is one transaction over the users tables (and the audit trail
// that records their changes). It is valid only inside InTx's callback.
type UserTx struct {
	tx      *gorm.DB
	dialect string
}

// InTx runs fn in one transaction, committed when fn returns nil.
func (r *Users) InTx(ctx context.Context, fn func(*UserTx) error) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error { return fn(&UserTx{tx: tx, dialect: r.s.Dialect}) })
}

// UserByEmail returns the account with this (normalized) email, or
// ErrNotFound.
func (r *Users) UserByEmail(ctx context.Context, email string) (*User, error) {
	return (&UserTx{tx: r.s.DB.WithContext(ctx), dialect: r.s.Dialect}).UserByEmail(email, false)
}

// ListUsers returns every account, ordered by email.
func (r *Users) ListUsers(ctx context.Context) ([]User, error) {
	var us []User
	if err := r.s.DB.WithContext(ctx).Order("email").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SessionOwner is what token checks need to know about a session: whether
// it was revoked, and whose it is.
type SessionOwner struct {
	UserID   uint64
	Email    string
	Disabled bool
	Revoked  bool
	// RotatedAt: when a refresh replaced the session (nil: never).
	RotatedAt *time.Time
}

// SessionOwner returns the state of session jti, or ErrNotFound.
func (r *Users) SessionOwner(ctx context.Context, jti string) (SessionOwner, error) {
	var row struct {
		RevokedAt *time.Time
		RotatedAt *time.Time
		UserID    uint64
		Disabled  bool
		Email     string
	}
	err := r.s.DB.WithContext(ctx).Table("sessions").
		Select("sessions.revoked_at, sessions.rotated_at, sessions.user_id, users.disabled, users.email").
		Joins("JOIN users ON users.id = sessions.user_id").
		Where("sessions.jti = ?", jti).Take(&row).Error
	if err != nil {
		return SessionOwner{}, translate(err)
	}
	return SessionOwner{UserID: row.UserID, Email: row.Email, Disabled: row.Disabled, Revoked: row.RevokedAt != nil, RotatedAt: row.RotatedAt}, nil
}

// PruneSessions deletes sessions that expired before t.
func (r *Users) PruneSessions(ctx context.Context, t time.Time) error {
	return r.s.DB.WithContext(ctx).Where("expires_at < ?", t).Delete(&Session{}).Error
}

// UserByEmail returns the account with this email, locked until the
// transaction ends when lock is set (FOR UPDATE on PostgreSQL; SQLite
// transactions hold the write lock already), or ErrNotFound.
func (t *UserTx) UserByEmail(email string, lock bool) (*User, error) {
	q := t.tx
	if lock && t.dialect == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var u User
	if err := q.Where("email = ?", email).First(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// CountUsers returns how many accounts exist.
func (t *UserTx) CountUsers() (int64, error) {
	var n int64
	err := t.tx.Model(&User{}).Count(&n).Error
	return n, err
}

// CreateUser inserts u (setting its id), or returns ErrConflict when the
// email is taken.
func (t *UserTx) CreateUser(u *User) error { return translate(t.tx.Create(u).Error) }

// SaveUser writes every field of u.
func (t *UserTx) SaveUser(u *User) error { return t.tx.Save(u).Error }

// SetUserDisabled sets the disabled flag of account id.
func (t *UserTx) SetUserDisabled(id uint64, disabled bool) error {
	return t.tx.Model(&User{}).Where("id = ?", id).Update("disabled", disabled).Error
}

// ReplacePasswordHash sets account id's hash to next if it is still old,
// and reports whether it was (false: changed meanwhile, or deleted).
func (t *UserTx) ReplacePasswordHash(id uint64, old, next string) (bool, error) {
	res := t.tx.Model(&User{}).Where("id = ? AND password_hash = ?", id, old).Update("password_hash", next)
	return res.RowsAffected > 0, res.Error
}

// DeleteUser deletes account id and its sessions.
func (t *UserTx) DeleteUser(id uint64) error {
	if err := t.tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", id, err)
	}
	return t.tx.Where("id = ?", id).Delete(&User{}).Error
}

// EnabledUsersExcept returns every enabled account but id.
func (t *UserTx) EnabledUsersExcept(id uint64) ([]User, error) {
	var us []User
	err := t.tx.Where("id <> ? AND disabled = ?", id, false).Find(&us).Error
	return us, err
}

// CreateSession records an issued token.
func (t *UserTx) CreateSession(s *Session) error { return translate(t.tx.Create(s).Error) }

// RevokeSession revokes session jti at now and reports whether it was
// live (false: unknown, or revoked already).
func (t *UserTx) RevokeSession(jti string, now time.Time) (bool, error) {
	res := t.tx.Model(&Session{}).Where("jti = ? AND revoked_at IS NULL", jti).Update("revoked_at", now)
	return res.RowsAffected > 0, res.Error
}

// RotateSession revokes session jti at now as replaced by a refresh, and
// reports whether it was live.
func (t *UserTx) RotateSession(jti string, now time.Time) (bool, error) {
	res := t.tx.Model(&Session{}).Where("jti = ? AND revoked_at IS NULL", jti).
		Updates(map[string]any{"revoked_at": now, "rotated_at": now})
	return res.RowsAffected > 0, res.Error
}

// RevokeUserSessions revokes every live session of account userID at now.
func (t *UserTx) RevokeUserSessions(userID uint64, now time.Time) error {
	return t.tx.Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now).Error
}
