package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// AppendAudit records e as the next link of the audit chain, inside tx:
// the transaction of the change it records, so both commit or neither
// does. The record is also queued in audit_outbox in the same transaction,
// so the relay to Kafka can never miss a committed record nor send one
// that was rolled back. If tx is not a transaction, AppendAudit opens its
// own.
//
// It first UPDATEs the chain-head row, which takes the row lock on
// PostgreSQL and the write lock on SQLite before anything is read, so
// concurrent appenders (in this or another process) queue up instead of
// deadlocking or forking the chain. Under PostgreSQL's REPEATABLE READ or
// SERIALIZABLE a concurrent append makes the transaction fail with a
// serialization error; the caller retries it. Because an appender holds
// the head until it commits, records commit in seq order: the outbox a
// reader sees is always a prefix of the chain.
func AppendAudit(tx *gorm.DB, e auditrec.Event) (auditrec.Record, error) {
	if _, inTx := tx.Statement.ConnPool.(gorm.TxCommitter); !inTx {
		var rec auditrec.Record
		err := tx.Transaction(func(tx *gorm.DB) error {
			var err error
			rec, err = AppendAudit(tx, e)
			return err
		})
		return rec, err
	}
	if _, err := auditrec.Link(e, 1, auditrec.GenesisHash, time.Now()); err != nil {
		return auditrec.Record{}, err // refuse a bad event before taking the lock
	}
	var h struct {
		Seq  int64
		Hash string
	}
	res := tx.Raw(`UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&h)
	if res.Error != nil {
		return auditrec.Record{}, fmt.Errorf("audit: lock chain head: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return auditrec.Record{}, auditrec.ErrNoChainHead
	}
	r, err := auditrec.Link(e, h.Seq, h.Hash, time.Now())
	if err != nil {
		return auditrec.Record{}, err
	}
	if err := tx.Create(&r).Error; err != nil {
		return auditrec.Record{}, fmt.Errorf("audit: insert record %d: %w", r.Seq, err)
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return auditrec.Record{}, fmt.Errorf("audit: encode record %d: %w", r.Seq, err)
	}
	if err := tx.Exec(`INSERT INTO audit_outbox (seq, payload) VALUES (?, ?)`, r.Seq, string(payload)).Error; err != nil {
		return auditrec.Record{}, fmt.Errorf("audit: queue record %d: %w", r.Seq, err)
	}
	if err := tx.Exec(`UPDATE audit_chain_head SET hash = ? WHERE id = 1`, r.Hash).Error; err != nil {
		return auditrec.Record{}, fmt.Errorf("audit: store chain head: %w", err)
	}
	return r.Record()
}

// AuditRepo reads the audit trail and keeps its outbox and checkpoints.
type AuditRepo struct {
	db    *gorm.DB
	scope *auditrec.Scope
}

// NewAuditRepo is the audit repository over db (a pool or a session).
func NewAuditRepo(db *gorm.DB) AuditRepo { return AuditRepo{db: db} }

// Audit is the audit repository of s, bound to ctx.
func (s *Store) Audit(ctx context.Context) AuditRepo { return AuditRepo{db: s.DB.WithContext(ctx)} }

// WithContext binds the repository to ctx.
func (r AuditRepo) WithContext(ctx context.Context) AuditRepo {
	r.db = r.db.WithContext(ctx)
	return r
}

// auditColumns are the audit_log columns RowsAfter reads, in scan order
// (auditrec.Raw's order).
const auditColumns = `seq, "timestamp", event_type, user_email, ip_address, user_agent, resource, resource_id, action, changes, approved_by, result, reason, prev_hash, hash`

// RowsAfter reads up to n rows after seq, in seq order, as the driver
// gives them: a malformed column is then the verifier's finding about
// that record, not a failure to read the table.
func (r AuditRepo) RowsAfter(after int64, n int) ([]auditrec.Raw, error) {
	rows, err := r.db.Raw(`SELECT `+auditColumns+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, after, n).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auditrec.Raw
	for rows.Next() {
		var raw auditrec.Raw
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, rows.Err()
}

// Head reads the chain head as text, so that a malformed one can be
// reported. It returns auditrec.ErrNoChainHead when the row is missing.
func (r AuditRepo) Head() (seq, hash sql.NullString, err error) {
	rows, err := r.db.Raw(`SELECT CAST(seq AS VARCHAR(40)), hash FROM audit_chain_head WHERE id = 1`).Rows()
	if err != nil {
		return seq, hash, fmt.Errorf("audit: read chain head: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return seq, hash, fmt.Errorf("audit: read chain head: %w", err)
		}
		return seq, hash, auditrec.ErrNoChainHead
	}
	if err := rows.Scan(&seq, &hash); err != nil {
		return seq, hash, fmt.Errorf("audit: read chain head: %w", err)
	}
	return seq, hash, nil
}

// Record reads the record at seq; ErrNotFound when there is none.
func (r AuditRepo) Record(seq int64) (auditrec.Row, error) {
	var row auditrec.Row
	err := r.db.Where("seq = ?", seq).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, ErrNotFound
	}
	return row, err
}
