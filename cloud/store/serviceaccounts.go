package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// ServiceAccount is a non-human user (the Copilot, a script): roles and
// gateway access like a user's, no password; it signs in with API tokens.
type ServiceAccount struct {
	ID            uint64 `gorm:"primaryKey"`
	Name          string
	Description   string
	Roles         []string `gorm:"serializer:json"`
	GatewayAccess []string `gorm:"serializer:json"`
	Disabled      bool
	CreatedBy     string
	CreatedAt     time.Time
}

// ServiceAccountToken is one API token of a service account. Only its
// public Prefix (the lookup key) and the SHA-256 of its secret are stored.
type ServiceAccountToken struct {
	ID        uint64 `gorm:"primaryKey"`
	AccountID uint64
	Prefix    string
	Hash      string
	ExpiresAt time.Time
	RevokedAt *time.Time
	CreatedBy string
	CreatedAt time.Time
}

// ServiceAccounts is the repository of service accounts and their tokens.
// Every change appends its audit event in the same transaction.
type ServiceAccounts struct{ s *Store }

// ServiceAccounts returns the service accounts repository.
func (s *Store) ServiceAccounts() *ServiceAccounts { return &ServiceAccounts{s} }

// Create stores a (ErrConflict: the name is taken).
func (r *ServiceAccounts) Create(ctx context.Context, a ServiceAccount, ev auditrec.Event) (ServiceAccount, error) {
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&ServiceAccount{}).Where("name = ?", a.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		if err := tx.Create(&a).Error; err != nil {
			return translate(err)
		}
		return appendEvent(tx, ev)
	})
	return a, err
}

// List returns every service account by name.
func (r *ServiceAccounts) List(ctx context.Context) ([]ServiceAccount, error) {
	var out []ServiceAccount
	err := r.s.DB.WithContext(ctx).Order("name").Find(&out).Error
	return out, err
}

// Get returns the service account called name.
func (r *ServiceAccounts) Get(ctx context.Context, name string) (ServiceAccount, error) {
	var a ServiceAccount
	err := r.s.DB.WithContext(ctx).Where("name = ?", name).Take(&a).Error
	return a, translate(err)
}

// Delete removes the account called name and its tokens.
func (r *ServiceAccounts) Delete(ctx context.Context, name string, ev auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		var a ServiceAccount
		if err := tx.Where("name = ?", name).Take(&a).Error; err != nil {
			return translate(err)
		}
		if err := tx.Where("account_id = ?", a.ID).Delete(&ServiceAccountToken{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(&a).Error; err != nil {
			return err
		}
		return appendEvent(tx, ev)
	})
}

// CreateToken stores t for the account called name.
func (r *ServiceAccounts) CreateToken(ctx context.Context, name string, t ServiceAccountToken, ev auditrec.Event) (ServiceAccountToken, error) {
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		var a ServiceAccount
		if err := tx.Where("name = ?", name).Take(&a).Error; err != nil {
			return translate(err)
		}
		t.AccountID = a.ID
		if err := tx.Create(&t).Error; err != nil {
			return translate(err)
		}
		return appendEvent(tx, ev)
	})
	return t, err
}

// Tokens returns the tokens of the account called name, newest first.
func (r *ServiceAccounts) Tokens(ctx context.Context, name string) ([]ServiceAccountToken, error) {
	a, err := r.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []ServiceAccountToken
	err = r.s.DB.WithContext(ctx).Where("account_id = ?", a.ID).Order("id DESC").Find(&out).Error
	return out, err
}

// RevokeToken revokes token id of the account called name (ErrNotFound:
// no such token of that account; revoking twice keeps the first time).
func (r *ServiceAccounts) RevokeToken(ctx context.Context, name string, id uint64, now time.Time, ev auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		var a ServiceAccount
		if err := tx.Where("name = ?", name).Take(&a).Error; err != nil {
			return translate(err)
		}
		var t ServiceAccountToken
		if err := tx.Where("id = ? AND account_id = ?", id, a.ID).Take(&t).Error; err != nil {
			return translate(err)
		}
		if t.RevokedAt == nil {
			if err := tx.Model(&t).Update("revoked_at", now).Error; err != nil {
				return err
			}
		}
		return appendEvent(tx, ev)
	})
}

// TokenByPrefix returns the token with prefix and its account.
func (r *ServiceAccounts) TokenByPrefix(ctx context.Context, prefix string) (ServiceAccountToken, ServiceAccount, error) {
	var t ServiceAccountToken
	var a ServiceAccount
	db := r.s.DB.WithContext(ctx)
	if err := db.Where("prefix = ?", prefix).Take(&t).Error; err != nil {
		return t, a, translate(err)
	}
	err := db.Where("id = ?", t.AccountID).Take(&a).Error
	return t, a, translate(err)
}
