package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// genesisHash is the prev_hash of the first record.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Migrations returns the audit migrations, append-only: never edit, reorder
// or remove an entry; add a new one. They run after the core migrations.
func Migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{ID: "202611281300-audit-log", Migrate: createAuditLog},
		{ID: "202611292300-audit-tallies", Migrate: createTallies},
	}
}

// createAuditLog spells out its DDL so that later changes to the Go types
// can never alter what this migration created.
func createAuditLog(tx *gorm.DB) error {
	tsType, patternOps := "DATETIME", ""
	if tx.Dialector.Name() == "postgres" {
		// varchar_pattern_ops lets LIKE 'prefix%' use the index under any
		// collation.
		tsType, patternOps = "TIMESTAMPTZ", " varchar_pattern_ops"
	}
	stmts := []string{
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
		)`, tsType),
		`CREATE INDEX idx_audit_log_timestamp ON audit_log ("timestamp")`,
		`CREATE INDEX idx_audit_log_user ON audit_log (user_email, seq)`,
		`CREATE INDEX idx_audit_log_event_type ON audit_log (event_type` + patternOps + `, seq)`,
		`CREATE INDEX idx_audit_log_resource_id ON audit_log (resource_id, seq)`,
		`CREATE TABLE audit_chain_head (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			seq BIGINT NOT NULL,
			hash CHAR(64) NOT NULL
		)`,
		`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '` + genesisHash + `')`,
	}
	for _, s := range stmts {
		if err := tx.Exec(s).Error; err != nil {
			return fmt.Errorf("audit migration: %s: %w", strings.Join(strings.Fields(s)[:3], " "), err)
		}
	}
	return nil
}

// row is the audit_log table as the code reads and writes it today.
type row struct {
	Seq        int64     `gorm:"column:seq;primaryKey;autoIncrement:false"`
	Timestamp  time.Time `gorm:"column:timestamp"`
	EventType  string    `gorm:"column:event_type"`
	UserEmail  string    `gorm:"column:user_email"`
	IPAddress  string    `gorm:"column:ip_address"`
	UserAgent  string    `gorm:"column:user_agent"`
	Resource   string    `gorm:"column:resource"`
	ResourceID string    `gorm:"column:resource_id"`
	Action     string    `gorm:"column:action"`
	Changes    string    `gorm:"column:changes"`
	ApprovedBy *string   `gorm:"column:approved_by"`
	Result     string    `gorm:"column:result"`
	Reason     string    `gorm:"column:reason"`
	PrevHash   string    `gorm:"column:prev_hash"`
	Hash       string    `gorm:"column:hash"`
}

func (row) TableName() string { return "audit_log" }

// head is the single chain-head row: the last record's seq and hash.
type head struct {
	Seq  int64  `gorm:"column:seq"`
	Hash string `gorm:"column:hash"`
}
