package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// identityMigrations bind a gateway's credentials to one enrollment.
func identityMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611292300-gateway-enrollment-binding", Migrate: migrateEnrollmentBinding}}
}

// migrateEnrollmentBinding gives every gateway an enrollment id (certificates
// issued before it name none, so their holders must obtain new ones) and
// every gateway token the thumbprint of the certificate it is bound to.
func migrateEnrollmentBinding(tx *gorm.DB) error {
	type gateway struct {
		EnrollmentID string `gorm:"size:64;not null;default:''"`
	}
	type gatewayToken struct {
		CertThumbprint string `gorm:"size:64;not null;default:''"`
	}
	if err := tx.Table("gateways").Migrator().AddColumn(&gateway{}, "EnrollmentID"); err != nil {
		return fmt.Errorf("gateways.enrollment_id: %w", err)
	}
	if err := tx.Table("gateway_tokens").Migrator().AddColumn(&gatewayToken{}, "CertThumbprint"); err != nil {
		return fmt.Errorf("gateway_tokens.cert_thumbprint: %w", err)
	}
	var ids []string
	if err := tx.Table("gateways").Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Table("gateways").Where("id = ?", id).Update("enrollment_id", NewEnrollmentID()).Error; err != nil {
			return err
		}
	}
	return nil
}

// NewEnrollmentID names one enrollment of one identity: 128 random bits.
func NewEnrollmentID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
