package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// SecretValue is one secret as stored: its value only as ciphertext under
// a data key that a key-encryption key outside the database wraps
// (cloud/secretbox). Version counts value changes. Destinations are where
// configs may send it (pkg/secretdest), one a line; empty until the first
// config that uses it binds it (cloud/secretbind). Protection is the
// least protection configs must send it with (pkg/secretprot's stored
// form), empty until a config or an Admin binds it.
type SecretValue struct {
	Name         string `gorm:"primaryKey;size:128"`
	Description  string
	Destinations string
	Protection   string
	KeyID        string
	DataKey      []byte
	Ciphertext   []byte
	Version      int
	CreatedBy    string
	UpdatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
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

// Update replaces the sealed value of secret v.Name and bumps its version
// (unless v carries no ciphertext: the value is kept), its description
// when desc is not nil, its destinations when dests is not nil and its
// protection when prot is not nil. before (may be nil) is called with the
// stored secret, to complete ev.
func (r *Secrets) Update(ctx context.Context, v SecretValue, desc, dests, prot *string, ev auditrec.Event, before func(SecretValue, *auditrec.Event)) (SecretValue, error) {
	var cur SecretValue
	err := r.s.Tx(ctx, func(tx *gorm.DB) error {
		if err := lockRow(tx, r.s.Dialect).Where("name = ?", v.Name).Take(&cur).Error; err != nil {
			return translate(err)
		}
		if before != nil {
			before(cur, &ev)
		}
		if v.Ciphertext != nil {
			cur.KeyID, cur.DataKey, cur.Ciphertext, cur.Version = v.KeyID, v.DataKey, v.Ciphertext, cur.Version+1
		}
		cur.UpdatedBy, cur.UpdatedAt = v.UpdatedBy, time.Now().UTC().Truncate(time.Microsecond)
		if desc != nil {
			cur.Description = *desc
		}
		if dests != nil {
			cur.Destinations = *dests
		}
		if prot != nil {
			cur.Protection = *prot
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

// lockRow locks the rows a query reads until the transaction ends, on
// PostgreSQL (SQLite runs one writing transaction at a time).
func lockRow(tx *gorm.DB, dialect string) *gorm.DB {
	if dialect == "postgres" {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// SecretDestinations returns, of the named secrets, those the control
// plane holds and their destinations (one a line, "" when unbound),
// locked until the transaction ends: a change of destinations waits for a
// deploy that checked against them, and the reverse.
func (t *GatewayTx) SecretDestinations(names []string) (map[string]string, error) {
	return t.secretColumn(names, "destinations")
}

// SecretProtections returns, of the named secrets, those the control
// plane holds and the protection bound to each (pkg/secretprot's stored
// form, "" when none), locked like SecretDestinations.
func (t *GatewayTx) SecretProtections(names []string) (map[string]string, error) {
	return t.secretColumn(names, "protection")
}

// secretColumn reads column col (a constant of ours) of the named secrets
// the control plane holds, locking their rows.
func (t *GatewayTx) secretColumn(names []string, col string) (map[string]string, error) {
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	var rows []struct{ Name, Value string }
	if err := lockRow(t.tx, t.s.Dialect).Model(&SecretValue{}).Select("name, "+col+" AS value").Where("name IN ?", names).
		Order("name").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("secret %s: %w", col, err)
	}
	for _, r := range rows {
		out[r.Name] = r.Value
	}
	return out, nil
}

// BindSecret sets the destinations of secret name if it has none yet,
// reporting whether it did (false: another transaction bound it first).
func (t *GatewayTx) BindSecret(name, dests string) (bool, error) {
	res := t.tx.Model(&SecretValue{}).Where("name = ? AND destinations = ?", name, "").UpdateColumn("destinations", dests)
	if res.Error != nil {
		return false, fmt.Errorf("bind secret %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// BindProtection replaces the protection of secret name with prot if it
// is still old, reporting whether it did (false: another transaction
// changed it first).
func (t *GatewayTx) BindProtection(name, old, prot string) (bool, error) {
	res := t.tx.Model(&SecretValue{}).Where("name = ? AND protection = ?", name, old).UpdateColumn("protection", prot)
	if res.Error != nil {
		return false, fmt.Errorf("bind protection of secret %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}
