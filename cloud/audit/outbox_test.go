package audit

import (
	"encoding/json"
	"errors"
	"testing"

	"gorm.io/gorm"
)

// TestOutboxCommitsWithTheRecord: a record and its outbox entry commit in
// one transaction, or neither does; entries queued without a payload (by
// the migration, for records older than the outbox) are read from the
// log, on SQLite and PostgreSQL.
func TestOutboxCommitsWithTheRecord(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		count := func(table string) (n int64) {
			t.Helper()
			if err := db.Table(table).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		appendN(t, db, 2)
		rollback := errors.New("the change failed")
		err := db.Transaction(func(tx *gorm.DB) error {
			if _, err := Append(tx, Event{EventType: "user.create"}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if l, o := count("audit_log"), count("audit_outbox"); l != 2 || o != 2 {
			t.Fatalf("after a rollback: %d records, %d queued; want 2 and 2", l, o)
		}
		items, err := repo(db).OutboxBatch(10)
		if err != nil || len(items) != 2 || items[0].Seq != 1 || items[1].Seq != 2 {
			t.Fatalf("outbox: %+v %v", items, err)
		}
		// As the migration queues records older than the outbox.
		db.Exec(`UPDATE audit_outbox SET payload = '' WHERE seq = 2`)
		again, err := repo(db).OutboxBatch(10)
		if err != nil {
			t.Fatal(err)
		}
		var fromLog, fromAppend row
		if err := json.Unmarshal([]byte(again[1].Payload), &fromLog); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(items[1].Payload), &fromAppend); err != nil {
			t.Fatal(err)
		}
		if fromLog.ComputeHash() != fromAppend.Hash || fromLog.Hash != fromAppend.Hash {
			t.Fatalf("the record read from the log differs from the one queued:\n%+v\n%+v", fromLog, fromAppend)
		}
		if err := repo(db).DeleteOutbox(1); err != nil || count("audit_outbox") != 1 {
			t.Fatalf("delete up to 1: %v, %d left", err, count("audit_outbox"))
		}
	})
}
