package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
)

// migrationLock is the PostgreSQL advisory lock key that keeps two cloud
// processes starting together from migrating at once.
const migrationLock = 0x5f5f_5346_4d49_47 // "__SFMIG"

// migrations is append-only: never edit, reorder or remove an entry. Each
// uses its own copy of the table's shape so later model changes cannot alter
// what an old migration does.
func migrations() []*gormigrate.Migration {
	ms := []*gormigrate.Migration{
		{
			ID: "202611281200-users-sessions",
			Migrate: func(tx *gorm.DB) error {
				type user struct {
					ID            uint64 `gorm:"primaryKey"`
					Email         string `gorm:"size:255;not null;uniqueIndex"`
					PasswordHash  string `gorm:"size:255;not null"`
					Roles         string `gorm:"type:text;not null"`
					GatewayAccess string `gorm:"type:text;not null"`
					Disabled      bool   `gorm:"not null;default:false"`
					CreatedAt     time.Time
					UpdatedAt     time.Time
				}
				type session struct {
					JTI       string `gorm:"primaryKey;size:64"`
					UserID    uint64 `gorm:"not null;index"`
					IssuedAt  time.Time
					ExpiresAt time.Time `gorm:"index"`
					RevokedAt *time.Time
				}
				type loginThrottle struct {
					Key          string `gorm:"primaryKey;size:320"`
					Failures     int    `gorm:"not null"`
					WindowStart  time.Time
					BlockedUntil time.Time
				}
				for name, m := range map[string]any{"users": &user{}, "sessions": &session{}, "login_throttles": &loginThrottle{}} {
					if err := tx.Table(name).Migrator().CreateTable(m); err != nil {
						return fmt.Errorf("create %s: %w", name, err)
					}
				}
				return nil
			},
		},
	}
	ms = append(ms, audit.Migrations()...)
	slices.SortStableFunc(ms, func(a, b *gormigrate.Migration) int { return strings.Compare(a.ID, b.ID) })
	return ms
}

func (s *Store) migrate(ctx context.Context) error {
	db := s.DB.WithContext(ctx)
	if s.Dialect == "postgres" {
		conn, err := db.DB()
		if err != nil {
			return err
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer c.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLock)
	}
	m := gormigrate.New(db, &gormigrate.Options{
		TableName:                 "schema_migrations",
		IDColumnName:              "id",
		IDColumnSize:              255,
		UseTransaction:            true,
		ValidateUnknownMigrations: true,
	}, migrations())
	if err := m.Migrate(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
