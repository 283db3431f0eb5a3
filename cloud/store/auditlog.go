package store

import (
	"context"
	"time"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// The audit chain's queries still live in cloud/audit and take a GORM
// handle (their move into the store is another part of #10); this file is
// the one place where the users side of the store hands them one, so that
// callers record audit events without touching GORM.

// Audit appends ev to the audit trail in this transaction: it commits
// with the change it records, or not at all.
func (t *UserTx) Audit(ev auditrec.Event) error {
	_, err := AppendAudit(t.tx, ev)
	return err
}

// Tally counts ev into its source's aggregate record (TallyAudit) in this
// transaction.
func (t *UserTx) Tally(ev auditrec.Event, now time.Time) error { return TallyAudit(t.tx, ev, now) }

// AuditLog records events that go with no other change (a refused
// credential, a denied request), each in a transaction of its own.
type AuditLog struct{ s *Store }

// AuditLog returns the store's writer of stand-alone audit events.
func (s *Store) AuditLog() AuditLog { return AuditLog{s: s} }

// Append appends ev to the audit trail.
func (a AuditLog) Append(ctx context.Context, ev auditrec.Event) error {
	return a.s.Users().InTx(ctx, func(t *UserTx) error { return t.Audit(ev) })
}

// Tally counts ev into its source's aggregate record.
func (a AuditLog) Tally(ctx context.Context, ev auditrec.Event, now time.Time) error {
	return a.s.Users().InTx(ctx, func(t *UserTx) error { return t.Tally(ev, now) })
}
