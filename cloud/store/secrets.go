package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// SecretValue is one secret as stored: its value only as ciphertext under
// a data key that a key-encryption key outside the database wraps
// (cloud/secretbox). Version counts value changes.
type SecretValue struct {
	Name        string `gorm:"primaryKey;size:128"`
	Description string
	KeyID       string
	DataKey     []byte
	Ciphertext  []byte
	Version     int
	CreatedBy   string
	UpdatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName keeps the table's name plain.
func (SecretValue) TableName() string { return "secrets" }

// Secrets is the repository of secret values; every change appends its
// audit event in the same transaction.
type Secrets struct{ s *Store }

// Secrets returns the secrets repository.
func (s *Store) Secrets() *Secrets { return &Secrets{s} }

// Create stores a new secret (ErrConflict when the name is taken).
func (r *Secrets) Create(ctx context.Context, v SecretValue, ev auditrec.Event) (SecretValue, error) {
	v.Version = 1
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&v).Error; err != nil {
			return translate(err)
		}
		return appendEvent(tx, ev)
	})
	return v, err
}

// Update replaces the sealed value of secret v.Name (and its description
// when desc is not nil) and bumps its version.
func (r *Secrets) Update(ctx context.Context, v SecretValue, desc *string, ev auditrec.Event) (SecretValue, error) {
	var cur SecretValue
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("name = ?", v.Name).Take(&cur).Error; err != nil {
			return translate(err)
		}
		cur.KeyID, cur.DataKey, cur.Ciphertext = v.KeyID, v.DataKey, v.Ciphertext
		cur.Version, cur.UpdatedBy, cur.UpdatedAt = cur.Version+1, v.UpdatedBy, time.Now().UTC().Truncate(time.Microsecond)
		if desc != nil {
			cur.Description = *desc
		}
		if err := tx.Save(&cur).Error; err != nil {
			return err
		}
		return appendEvent(tx, ev)
	})
	return cur, err
}

// Rewrap replaces the wrapped data key of name (KEK rotation): the value,
// its version and the audit trail are not changed by it.
func (r *Secrets) Rewrap(ctx context.Context, name, keyID string, dataKey []byte) error {
	return r.s.DB.WithContext(ctx).Model(&SecretValue{}).Where("name = ?", name).
		Updates(map[string]any{"key_id": keyID, "data_key": dataKey}).Error
}

// Delete removes secret name.
func (r *Secrets) Delete(ctx context.Context, name string, ev auditrec.Event) error {
	return r.s.Tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("name = ?", name).Delete(&SecretValue{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return appendEvent(tx, ev)
	})
}

// List returns every secret, by name.
func (r *Secrets) List(ctx context.Context) ([]SecretValue, error) {
	var out []SecretValue
	err := r.s.DB.WithContext(ctx).Order("name").Find(&out).Error
	return out, err
}

// Get returns secret name.
func (r *Secrets) Get(ctx context.Context, name string) (SecretValue, error) {
	var v SecretValue
	if err := r.s.DB.WithContext(ctx).Where("name = ?", name).Take(&v).Error; err != nil {
		return v, translate(err)
	}
	return v, nil
}

// Deliver returns the named secrets that exist and records ev, the
// delivery to a gateway, in the same transaction.
func (r *Secrets) Deliver(ctx context.Context, names []string, ev auditrec.Event) ([]SecretValue, error) {
	var out []SecretValue
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if len(names) > 0 {
			if err := tx.Where("name IN ?", names).Order("name").Find(&out).Error; err != nil {
				return err
			}
		}
		return appendEvent(tx, ev)
	})
	return out, err
}
