package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// AuditOutboxItem is one record waiting for the relay: its seq and the
// record as JSON (an auditrec.Row).
type AuditOutboxItem struct {
	Seq     int64  `gorm:"column:seq"`
	Payload string `gorm:"column:payload"`
}

// OutboxBatch returns up to n queued records, in chain order. Records
// queued by the migration (written before the outbox existed) are read
// from audit_log.
func (r AuditRepo) OutboxBatch(n int) ([]AuditOutboxItem, error) {
	var items []AuditOutboxItem
	if err := r.db.Raw(`SELECT seq, payload FROM audit_outbox ORDER BY seq LIMIT ?`, n).Scan(&items).Error; err != nil {
		return nil, fmt.Errorf("audit outbox: %w", err)
	}
	for i := range items {
		if items[i].Payload != "" {
			continue
		}
		row, err := r.Record(items[i].Seq)
		if err != nil {
			return nil, fmt.Errorf("audit outbox: record %d: %w", items[i].Seq, err)
		}
		b, err := json.Marshal(row)
		if err != nil {
			return nil, fmt.Errorf("audit outbox: record %d: %w", items[i].Seq, err)
		}
		items[i].Payload = string(b)
	}
	return items, nil
}

// OutboxLen is how many records wait for the relay.
func (r AuditRepo) OutboxLen() (int64, error) {
	var n int64
	err := r.db.Raw(`SELECT COUNT(*) FROM audit_outbox`).Scan(&n).Error
	return n, err
}

// DeleteOutbox forgets the queued records up to seq: Kafka has them.
func (r AuditRepo) DeleteOutbox(upTo int64) error {
	if err := r.db.Exec(`DELETE FROM audit_outbox WHERE seq <= ?`, upTo).Error; err != nil {
		return fmt.Errorf("audit outbox: delete up to %d: %w", upTo, err)
	}
	return nil
}

// SaveCheckpoint stores a signed checkpoint; one at a seq already
// checkpointed is ignored.
func (r AuditRepo) SaveCheckpoint(cp auditrec.SignedCheckpoint) error {
	cp.SignatureText = base64.StdEncoding.EncodeToString(cp.Signature)
	cp.SignedAt = auditTime(cp.SignedAt)
	if err := r.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&cp).Error; err != nil {
		return fmt.Errorf("audit checkpoint %d: %w", cp.Seq, err)
	}
	return nil
}

// Checkpoints returns the stored checkpoints, oldest first.
func (r AuditRepo) Checkpoints() ([]auditrec.SignedCheckpoint, error) {
	return r.checkpoints(r.db.Order("seq"))
}

// PendingCheckpoints returns the checkpoints not yet relayed whose records
// all have been, oldest first: in the topic a checkpoint follows the
// record it names.
func (r AuditRepo) PendingCheckpoints() ([]auditrec.SignedCheckpoint, error) {
	return r.checkpoints(r.db.Where(`relayed = ? AND NOT EXISTS (SELECT 1 FROM audit_outbox o WHERE o.seq <= audit_checkpoints.seq)`, false).Order("seq"))
}

// MarkCheckpointRelayed notes that Kafka has the checkpoint at seq.
func (r AuditRepo) MarkCheckpointRelayed(seq int64) error {
	return r.db.Exec(`UPDATE audit_checkpoints SET relayed = ? WHERE seq = ?`, true, seq).Error
}

func (r AuditRepo) checkpoints(q *gorm.DB) ([]auditrec.SignedCheckpoint, error) {
	var cps []auditrec.SignedCheckpoint
	if err := q.Find(&cps).Error; err != nil {
		return nil, fmt.Errorf("audit checkpoints: %w", err)
	}
	for i := range cps {
		cps[i].Hash = strings.TrimSpace(cps[i].Hash)
		cps[i].SignedAt = cps[i].SignedAt.UTC()
		sig, err := base64.StdEncoding.DecodeString(cps[i].SignatureText)
		if err != nil {
			sig = nil // a malformed signature fails verification
		}
		cps[i].Signature = sig
	}
	return cps, nil
}

// relayLockKey is the PostgreSQL advisory lock the active audit relay
// holds ("SFAUDRL").
const relayLockKey = 0x53_4641_5544_524c

// ErrLeaseHeld means another process holds the relay lease.
var ErrLeaseHeld = errors.New("audit relay lease held by another process")

// RelayLease is the right to relay the outbox. On PostgreSQL it is a
// session advisory lock on a connection of its own, so it ends when this
// process or its connection dies; SQLite allows one process only, which
// always holds it.
type RelayLease struct {
	conn *sql.Conn
}

// AcquireRelayLease takes the lease, or returns ErrLeaseHeld.
func (s *Store) AcquireRelayLease(ctx context.Context) (*RelayLease, error) {
	if s.Dialect != "postgres" {
		return &RelayLease{}, nil
	}
	db, err := s.DB.DB()
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit relay lease: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, relayLockKey).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("audit relay lease: %w", err)
	}
	if !got {
		conn.Close()
		return nil, ErrLeaseHeld
	}
	return &RelayLease{conn: conn}, nil
}

// Held reports whether the lease is still held (its connection answers).
func (l *RelayLease) Held(ctx context.Context) bool {
	return l.conn == nil || l.conn.PingContext(ctx) == nil
}

// Release gives the lease up.
func (l *RelayLease) Release() {
	if l.conn == nil {
		return
	}
	_, _ = l.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, relayLockKey)
	l.conn.Close()
}
