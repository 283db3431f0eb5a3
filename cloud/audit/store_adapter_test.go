package audit

import (
	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/store"
)

// The chain tests were written when this package held the SQL; since the
// store boundary they drive the store's audit repository through these
// names, so what they assert is unchanged.

type row = auditrec.Row

const genesisHash = auditrec.GenesisHash

// Append appends through the store, in tx or its own transaction.
func Append(tx *gorm.DB, e Event) (Record, error) { return store.AppendAudit(tx, e) }

// repo is the audit repository over a test database.
func repo(db *gorm.DB) store.AuditRepo { return store.NewAuditRepo(db) }

func newRow(e Event, changes string) row { return auditrec.NewRow(e, changes) }

func decodeChanges(s string) (map[string]Change, error) { return auditrec.DecodeChanges(s) }

// Migrations are the store's audit migrations (the tests migrate a bare
// database with only them).
func Migrations() []*gormigrate.Migration { return store.AuditMigrations() }
