package audit

import (
	"strings"
	"testing"

	"gorm.io/gorm"
)

// loosen drops the constraints that keep a column well formed, as someone
// with DDL rights on the database could: every audit_log column becomes
// nullable text (PostgreSQL: ALTER; SQLite: the table is copied without
// its declaration).
func loosen(t *testing.T, db *gorm.DB) {
	t.Helper()
	var stmts []string
	if db.Dialector.Name() == "postgres" {
		for _, c := range []string{`"timestamp"`, "event_type", "changes", "prev_hash", "hash"} {
			stmts = append(stmts, `ALTER TABLE audit_log ALTER COLUMN `+c+` TYPE TEXT`, `ALTER TABLE audit_log ALTER COLUMN `+c+` DROP NOT NULL`)
		}
		stmts = append(stmts, `ALTER TABLE audit_chain_head ALTER COLUMN hash DROP NOT NULL`)
	} else {
		stmts = []string{
			`CREATE TABLE audit_log_loose AS SELECT * FROM audit_log`, `DROP TABLE audit_log`,
			`ALTER TABLE audit_log_loose RENAME TO audit_log`,
			`CREATE TABLE audit_chain_head_loose AS SELECT * FROM audit_chain_head`, `DROP TABLE audit_chain_head`,
			`ALTER TABLE audit_chain_head_loose RENAME TO audit_chain_head`,
		}
	}
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestVerifyNamesMalformedRecords: a column that no longer holds what it
// should (text that is not JSON, a timestamp that is not a time, a NULL
// where a value belongs) is reported as a broken chain naming the record
// and the column, not as a failure to read, on SQLite and PostgreSQL.
func TestVerifyNamesMalformedRecords(t *testing.T) {
	cases := []struct {
		name   string
		tamper string
		badSeq int64
		column string
	}{
		{"fail-changes-not-json", `UPDATE audit_log SET changes = 'not json' WHERE seq = 3`, 3, "changes"},
		{"fail-changes-json-of-another-shape", `UPDATE audit_log SET changes = '[1,2]' WHERE seq = 2`, 2, "changes"},
		{"fail-timestamp-not-a-time", `UPDATE audit_log SET "timestamp" = 'yesterday' WHERE seq = 4`, 4, "timestamp"},
		{"fail-timestamp-null", `UPDATE audit_log SET "timestamp" = NULL WHERE seq = 5`, 5, "timestamp"},
		{"fail-hash-null", `UPDATE audit_log SET hash = NULL WHERE seq = 2`, 2, "hash"},
		{"fail-prev-hash-null", `UPDATE audit_log SET prev_hash = NULL WHERE seq = 5`, 5, "prev_hash"},
		{"fail-event-type-null", `UPDATE audit_log SET event_type = NULL WHERE seq = 3`, 3, "event_type"},
		{"fail-head-hash-null", `UPDATE audit_chain_head SET hash = NULL`, 6, "chain head"},
	}
	eachDB(t, func(t *testing.T, b backend, _ string, _ *gorm.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db := b.open(t, b.new(t))
				migrate(t, db)
				appendN(t, db, 6)
				loosen(t, db)
				if rep := verify(t, db); !rep.OK {
					t.Fatalf("loosened but untouched chain: %+v", rep)
				}
				if err := db.Exec(tc.tamper).Error; err != nil {
					t.Fatalf("tamper: %v", err)
				}
				rep := verify(t, db)
				if rep.OK || rep.BadSeq != tc.badSeq || !strings.Contains(rep.Problem, tc.column) {
					t.Fatalf("want record %d named with column %q, got %+v", tc.badSeq, tc.column, rep)
				}
			})
		}
	})
}
