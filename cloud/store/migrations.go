package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
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
	ms = append(ms, &gormigrate.Migration{ID: "202611281400-gateways", Migrate: migrateGateways},
		&gormigrate.Migration{ID: "202611281500-gateway-tpm-attestation", Migrate: migrateGatewayTPM},
		&gormigrate.Migration{ID: "202611281600-gateway-attested-ak", Migrate: func(tx *gorm.DB) error {
			type gateway struct {
				AttestedState string `gorm:"type:text;not null;default:''"`
			}
			return tx.Table("gateways").Migrator().AddColumn(&gateway{}, "AttestedState")
		}},
		// Claim codes stop being derived from the identity fingerprint: the
		// code is random and only its hash is kept. Codes issued before are
		// void (an empty hash matches nothing), so pending gateways get a
		// new one when they enroll again.
		&gormigrate.Migration{ID: "202611292300-gateway-claim-secret", Migrate: func(tx *gorm.DB) error {
			type gateway struct {
				ClaimCodeHash string `gorm:"size:255;not null;default:''"`
				ClaimedBy     string `gorm:"size:255;not null;default:''"`
			}
			for _, col := range []string{"ClaimCodeHash", "ClaimedBy"} {
				if err := tx.Table("gateways").Migrator().AddColumn(&gateway{}, col); err != nil {
					return fmt.Errorf("gateways.%s: %w", col, err)
				}
			}
			return nil
		}},
		// Configs are delivered as bundles signed with a key outside the
		// database. Configs deployed before carry none: agents refuse them
		// until an admin deploys again.
		&gormigrate.Migration{ID: "202611292330-signed-config-bundles", Migrate: func(tx *gorm.DB) error {
			type gatewayConfig struct {
				Bundle string `gorm:"type:text;not null;default:''"`
			}
			type gatewayHeartbeat struct {
				ConfigError string `gorm:"type:text;not null;default:''"`
			}
			if err := tx.Table("gateway_configs").Migrator().AddColumn(&gatewayConfig{}, "Bundle"); err != nil {
				return fmt.Errorf("gateway_configs.bundle: %w", err)
			}
			if err := tx.Table("gateway_heartbeats").Migrator().AddColumn(&gatewayHeartbeat{}, "ConfigError"); err != nil {
				return fmt.Errorf("gateway_heartbeats.config_error: %w", err)
			}
			return nil
		}},
		&gormigrate.Migration{ID: "202611292300-dashboard", Migrate: migrateDashboard},
		&gormigrate.Migration{ID: "202611292330-gateway-ak-cert-expiry", Migrate: func(tx *gorm.DB) error {
			type gateway struct{ AKCertExpiresAt *time.Time }
			return tx.Table("gateways").Migrator().AddColumn(&gateway{}, "AKCertExpiresAt")
		}},
		// The validity of the mTLS certificate a gateway last presented; the
		// overview lists those past their renewal point (indexed).
		&gormigrate.Migration{ID: "202611300030-gateway-tls-cert-validity", Migrate: func(tx *gorm.DB) error {
			type gateway struct {
				TLSCertNotBefore *time.Time
				TLSCertExpiresAt *time.Time
				TLSCertRenewAt   *time.Time `gorm:"index:idx_gateway_tls_renew"`
			}
			for _, col := range []string{"TLSCertNotBefore", "TLSCertExpiresAt", "TLSCertRenewAt"} {
				if err := tx.Table("gateways").Migrator().AddColumn(&gateway{}, col); err != nil {
					return fmt.Errorf("gateways.%s: %w", col, err)
				}
			}
			if err := tx.Table("gateways").Migrator().CreateIndex(&gateway{}, "idx_gateway_tls_renew"); err != nil {
				return fmt.Errorf("gateways idx_gateway_tls_renew: %w", err)
			}
			return nil
		}})
	ms = append(ms, AuditMigrations()...)
	ms = append(ms, identityMigrations()...)
	ms = append(ms, gatewayLogMigrations()...) // gateway logs (issue #13)
	ms = append(ms, alarmMigrations()...)      // alarms (#13)
	ms = append(ms, pipelineMigrations()...)   // pipelines (#12)
	ms = append(ms, secretMigrations()...)     // secrets (#12)
	ms = append(ms, copilotMigrations()...)    // Copilot, service accounts, test connection (#12)
	ms = append(ms, rolloutMigrations()...)    // staged rollouts (#12)
	// Sessions replaced by a refresh, for reuse detection (dashboard review, #11).
	ms = append(ms, &gormigrate.Migration{ID: "202611300700-session-rotation", Migrate: func(tx *gorm.DB) error {
		type session struct{ RotatedAt *time.Time }
		return tx.Table("sessions").Migrator().AddColumn(&session{}, "RotatedAt")
	}})
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

func migrateGateways(tx *gorm.DB) error {
	type gateway struct {
		ID                  string `gorm:"primaryKey;size:64"`
		Site                string `gorm:"size:255;not null;default:'';index"`
		Status              string `gorm:"size:16;not null;index"`
		Hostname            string `gorm:"size:255;not null;default:''"`
		HardwareInfo        string `gorm:"type:text;not null"`
		IdentityKind        string `gorm:"size:32;not null"`
		IdentityKey         string `gorm:"type:text;not null"`
		IdentityFingerprint string `gorm:"size:64;not null;index"`
		EKVerified          bool   `gorm:"not null;default:false"`
		EnrolledWith        string `gorm:"size:64;not null;default:''"`
		EnrolledAt          time.Time
		ClaimExpiresAt      time.Time
		ClaimedAt           *time.Time
		ApprovedBy          string `gorm:"size:255;not null;default:''"`
		ApprovedAt          *time.Time
		LastSeenAt          *time.Time
		AgentVersion        string `gorm:"size:64;not null;default:''"`
		AppliedConfig       int    `gorm:"not null;default:0"`
		CreatedAt           time.Time
		UpdatedAt           time.Time
	}
	type enrollmentToken struct {
		ID        string `gorm:"primaryKey;size:32"`
		TokenHash string `gorm:"size:64;not null;uniqueIndex"`
		Site      string `gorm:"size:255;not null;default:''"`
		MaxUses   int    `gorm:"not null"`
		Uses      int    `gorm:"not null;default:0"`
		ExpiresAt time.Time
		RevokedAt *time.Time
		CreatedBy string `gorm:"size:255;not null"`
		CreatedAt time.Time
	}
	type gatewayToken struct {
		JTI       string `gorm:"primaryKey;size:64"`
		GatewayID string `gorm:"size:64;not null;index"`
		IssuedAt  time.Time
		ExpiresAt time.Time `gorm:"index"`
		RevokedAt *time.Time
	}
	type gatewayChallenge struct {
		Nonce     string    `gorm:"primaryKey;size:64"`
		GatewayID string    `gorm:"size:64;not null"`
		ExpiresAt time.Time `gorm:"index"`
	}
	type gatewayConfig struct {
		GatewayID string `gorm:"primaryKey;size:64"`
		Version   int    `gorm:"not null"`
		Document  string `gorm:"type:text;not null"`
		ETag      string `gorm:"size:80;not null"`
		UpdatedBy string `gorm:"size:255;not null"`
		UpdatedAt time.Time
	}
	type gatewayHeartbeat struct {
		ID            uint64    `gorm:"primaryKey;autoIncrement"`
		GatewayID     string    `gorm:"size:64;not null;index:idx_heartbeat_gw_time,priority:1"`
		ReceivedAt    time.Time `gorm:"index:idx_heartbeat_gw_time,priority:2"`
		Status        string    `gorm:"size:32;not null"`
		AgentVersion  string    `gorm:"size:64;not null"`
		ConfigVersion int       `gorm:"not null"`
		BufferDepth   int64     `gorm:"not null"`
		Adapters      string    `gorm:"type:text;not null"`
	}
	tables := []struct {
		name  string
		model any
	}{
		{"gateways", &gateway{}}, {"enrollment_tokens", &enrollmentToken{}}, {"gateway_tokens", &gatewayToken{}},
		{"gateway_challenges", &gatewayChallenge{}}, {"gateway_configs", &gatewayConfig{}}, {"gateway_heartbeats", &gatewayHeartbeat{}},
	}
	for _, t := range tables {
		if err := tx.Table(t.name).Migrator().CreateTable(t.model); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
	}
	return nil
}

func migrateGatewayTPM(tx *gorm.DB) error {
	type gateway struct {
		EKReason         string `gorm:"size:512;not null;default:''"`
		TPMInfo          string `gorm:"type:text;not null;default:''"`
		KeyCertification string `gorm:"type:text;not null;default:''"`
		ActivationState  string `gorm:"type:text;not null;default:''"`
	}
	m := tx.Table("gateways").Migrator()
	for _, col := range []string{"EKReason", "TPMInfo", "KeyCertification", "ActivationState"} {
		if err := m.AddColumn(&gateway{}, col); err != nil {
			return fmt.Errorf("gateways.%s: %w", col, err)
		}
	}
	return nil
}

// migrateDashboard adds what the dashboard reads: each heartbeat's readings
// counter, and indexes for the fleet overview (heartbeats by time) and the
// gateway list's sorts (last seen).
func migrateDashboard(tx *gorm.DB) error {
	type gatewayHeartbeat struct {
		ReadingsTotal int64     `gorm:"not null;default:0"`
		ReceivedAt    time.Time `gorm:"index:idx_heartbeat_time"`
	}
	type gateway struct {
		LastSeenAt *time.Time `gorm:"index:idx_gateway_last_seen"`
		Hostname   string     `gorm:"index:idx_gateway_hostname"`
	}
	// The list sorts by last heartbeat newest first with never-seen
	// gateways last (and the reverse); PostgreSQL's index must match that
	// order of NULLs to serve it.
	lastSeen := "idx_gateway_last_seen"
	if tx.Dialector.Name() == "postgres" {
		if err := tx.Exec("CREATE INDEX idx_gateway_last_seen ON gateways (last_seen_at DESC NULLS LAST)").Error; err != nil {
			return fmt.Errorf("gateways idx_gateway_last_seen: %w", err)
		}
		lastSeen = ""
	}
	hb := tx.Table("gateway_heartbeats").Migrator()
	if err := hb.AddColumn(&gatewayHeartbeat{}, "ReadingsTotal"); err != nil {
		return fmt.Errorf("gateway_heartbeats.readings_total: %w", err)
	}
	if err := hb.CreateIndex(&gatewayHeartbeat{}, "idx_heartbeat_time"); err != nil {
		return fmt.Errorf("gateway_heartbeats index: %w", err)
	}
	gw := tx.Table("gateways").Migrator()
	for _, idx := range []string{lastSeen, "idx_gateway_hostname"} {
		if idx == "" {
			continue
		}
		if err := gw.CreateIndex(&gateway{}, idx); err != nil {
			return fmt.Errorf("gateways %s: %w", idx, err)
		}
	}
	return searchIndex(tx)
}

// GatewaySearchExpr is what the gateway list's search matches a substring
// in; on PostgreSQL a trigram index over it answers in well under a
// millisecond where a scan of 10,000 gateways takes tens.
const GatewaySearchExpr = `LOWER(id || ' ' || site || ' ' || hostname)`

// searchIndex needs the pg_trgm extension; where the database user may not
// create it, the search still works, by scanning.
func searchIndex(tx *gorm.DB) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	tx.SavePoint("trgm")
	if err := tx.Exec("CREATE EXTENSION IF NOT EXISTS pg_trgm").Error; err != nil {
		tx.RollbackTo("trgm")
		return nil
	}
	// fastupdate off: gateways are written rarely, and a GIN pending list
	// (until the next vacuum) would make the planner scan instead.
	return tx.Exec("CREATE INDEX idx_gateway_search ON gateways USING gin ((" + GatewaySearchExpr + ") gin_trgm_ops) WITH (fastupdate = off)").Error
}
