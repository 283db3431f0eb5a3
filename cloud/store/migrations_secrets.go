package store

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// secretMigrations create the secrets table (values only as ciphertext)
// and give each secret the destinations it may be sent to and the
// protection it must be sent with.
func secretMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{{ID: "202611300300-secrets", Migrate: func(tx *gorm.DB) error {
		type secret struct {
			Name        string `gorm:"primaryKey;size:128"`
			Description string `gorm:"type:text;not null;default:''"`
			KeyID       string `gorm:"size:64;not null"`
			DataKey     []byte `gorm:"not null"`
			Ciphertext  []byte `gorm:"not null"`
			Version     int    `gorm:"not null"`
			CreatedBy   string `gorm:"size:255;not null;default:''"`
			UpdatedBy   string `gorm:"size:255;not null;default:''"`
			CreatedAt   time.Time
			UpdatedAt   time.Time
		}
		return tx.Table("secrets").Migrator().CreateTable(&secret{})
	}}, {ID: "202611300700-secret-destinations", Migrate: func(tx *gorm.DB) error {
		// Empty: not bound yet; the next config signed with the secret binds it.
		type secret struct {
			Destinations string `gorm:"type:text;not null;default:''"`
		}
		return tx.Table("secrets").Migrator().AddColumn(&secret{}, "Destinations")
	}}, {ID: "202611300800-secret-protection", Migrate: func(tx *gorm.DB) error {
		// Empty: no protection bound yet; the next config signed with the
		// secret binds the one it sends it with (pkg/secretprot's form).
		type secret struct {
			Protection string `gorm:"type:text;not null;default:''"`
		}
		return tx.Table("secrets").Migrator().AddColumn(&secret{}, "Protection")
	}}}
}
