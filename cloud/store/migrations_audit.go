package store

import (
	"fmt"
	"strings"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// AuditMigrations are the audit trail's migrations, append-only: never
// edit, reorder or remove an entry; add a new one. Their ids were fixed
// when they lived in cloud/audit, so existing databases see them as run.
func AuditMigrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{ID: "202611281300-audit-log", Migrate: createAuditLog},
		{ID: "202611292300-audit-tallies", Migrate: createAuditTallies},
		{ID: "202611300100-audit-outbox-checkpoints", Migrate: createAuditOutbox},
	}
}

func execAll(tx *gorm.DB, what string, stmts []string) error {
	for _, s := range stmts {
		if err := tx.Exec(s).Error; err != nil {
			return fmt.Errorf("%s migration: %s: %w", what, strings.Join(strings.Fields(s)[:3], " "), err)
		}
	}
	return nil
}

// tsType is the column type of a timestamp in this dialect.
func tsType(tx *gorm.DB) string {
	if tx.Dialector.Name() == "postgres" {
		return "TIMESTAMPTZ"
	}
	return "DATETIME"
}

// createAuditLog spells out its DDL so that later changes to the Go types
// can never alter what this migration created.
func createAuditLog(tx *gorm.DB) error {
	patternOps := ""
	if tx.Dialector.Name() == "postgres" {
		// varchar_pattern_ops lets LIKE 'prefix%' use the index under any
		// collation.
		patternOps = " varchar_pattern_ops"
	}
	return execAll(tx, "audit", []string{
		fmt.Sprintf(`CREATE TABLE audit_log (
			seq BIGINT PRIMARY KEY,
			"timestamp" %s NOT NULL,
			event_type VARCHAR(100) NOT NULL,
			user_email VARCHAR(255) NOT NULL DEFAULT '',
			ip_address VARCHAR(64) NOT NULL DEFAULT '',
			user_agent VARCHAR(512) NOT NULL DEFAULT '',
			resource VARCHAR(255) NOT NULL DEFAULT '',
			resource_id VARCHAR(255) NOT NULL DEFAULT '',
			action VARCHAR(50) NOT NULL DEFAULT '',
			changes TEXT NOT NULL DEFAULT '',
			approved_by VARCHAR(255),
			result VARCHAR(20) NOT NULL DEFAULT '',
			reason VARCHAR(1024) NOT NULL DEFAULT '',
			prev_hash CHAR(64) NOT NULL,
			hash CHAR(64) NOT NULL
		)`, tsType(tx)),
		`CREATE INDEX idx_audit_log_timestamp ON audit_log ("timestamp")`,
		`CREATE INDEX idx_audit_log_user ON audit_log (user_email, seq)`,
		`CREATE INDEX idx_audit_log_event_type ON audit_log (event_type` + patternOps + `, seq)`,
		`CREATE INDEX idx_audit_log_resource_id ON audit_log (resource_id, seq)`,
		`CREATE TABLE audit_chain_head (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			seq BIGINT NOT NULL,
			hash CHAR(64) NOT NULL
		)`,
		`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '` + auditrec.GenesisHash + `')`,
	})
}

func createAuditTallies(tx *gorm.DB) error {
	return execAll(tx, "audit tallies", []string{
		fmt.Sprintf(`CREATE TABLE audit_tallies (
			tally_key VARCHAR(1200) PRIMARY KEY,
			source VARCHAR(64) NOT NULL,
			event_type VARCHAR(100) NOT NULL,
			user_email VARCHAR(255) NOT NULL DEFAULT '',
			window_start %s NOT NULL,
			attempts BIGINT NOT NULL,
			event TEXT NOT NULL
		)`, tsType(tx)),
		`CREATE INDEX idx_audit_tallies_source ON audit_tallies (source, event_type)`,
		`CREATE INDEX idx_audit_tallies_window ON audit_tallies (window_start)`,
	})
}

// createAuditOutbox adds the transactional outbox (a copy of every record,
// written in the record's transaction, deleted once Kafka has it) and the
// signed checkpoints of the chain head. Records written before this
// migration are queued too, so the topic gets the whole chain.
func createAuditOutbox(tx *gorm.DB) error {
	return execAll(tx, "audit outbox", []string{
		`CREATE TABLE audit_outbox (
			seq BIGINT PRIMARY KEY,
			payload TEXT NOT NULL
		)`,
		fmt.Sprintf(`CREATE TABLE audit_checkpoints (
			seq BIGINT PRIMARY KEY,
			hash CHAR(64) NOT NULL,
			signed_at %s NOT NULL,
			key_id VARCHAR(64) NOT NULL,
			signature VARCHAR(200) NOT NULL,
			relayed BOOLEAN NOT NULL DEFAULT FALSE
		)`, tsType(tx)),
		`CREATE INDEX idx_audit_checkpoints_relayed ON audit_checkpoints (relayed, seq)`,
		`INSERT INTO audit_outbox (seq, payload) SELECT seq, '' FROM audit_log`,
	})
}
