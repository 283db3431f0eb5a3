package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// hashDomain prefixes every hashed record so a hash can never be mistaken
// for one of another format or version.
const hashDomain = "streamforge-audit-v1"

// timeLayout is the canonical timestamp text: UTC, exactly six fractional
// digits (both databases keep microseconds).
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Column sizes (bytes) as created by the migration. Values are cut to them
// before hashing so both databases store, and re-hash, the same bytes.
var limits = struct{ eventType, user, ip, userAgent, resource, resourceID, action, result, reason, approvedBy int }{
	eventType: 100, user: 255, ip: 64, userAgent: 512, resource: 255, resourceID: 255,
	action: 50, result: 20, reason: 1024, approvedBy: 255,
}

// Append records e as the next link of the chain, inside tx: the
// transaction of the change it records, so both commit or neither does.
// If tx is not a transaction, Append opens its own.
//
// It first UPDATEs the chain-head row, which takes the row lock on
// PostgreSQL and the write lock on SQLite before anything is read, so
// concurrent appenders (in this or another process) queue up instead of
// deadlocking or forking the chain. Under PostgreSQL's REPEATABLE READ or
// SERIALIZABLE a concurrent append makes the transaction fail with a
// serialization error; the caller retries it.
func Append(tx *gorm.DB, e Event) (Record, error) {
	if _, inTx := tx.Statement.ConnPool.(gorm.TxCommitter); !inTx {
		var rec Record
		err := tx.Transaction(func(tx *gorm.DB) error {
			var err error
			rec, err = Append(tx, e)
			return err
		})
		return rec, err
	}
	if strings.TrimSpace(e.EventType) == "" {
		return Record{}, fmt.Errorf("%w: event_type is required", ErrInvalid)
	}
	changes, err := encodeChanges(e.Changes)
	if err != nil {
		return Record{}, err
	}
	var h head
	res := tx.Raw(`UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&h)
	if res.Error != nil {
		return Record{}, fmt.Errorf("audit: lock chain head: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return Record{}, ErrNoChainHead
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now()
	}
	r := newRow(e, changes)
	r.Seq, r.PrevHash = h.Seq, strings.TrimSpace(h.Hash)
	r.Hash = r.computeHash()
	if err := tx.Create(&r).Error; err != nil {
		return Record{}, fmt.Errorf("audit: insert record %d: %w", r.Seq, err)
	}
	if err := tx.Exec(`UPDATE audit_chain_head SET hash = ? WHERE id = 1`, r.Hash).Error; err != nil {
		return Record{}, fmt.Errorf("audit: store chain head: %w", err)
	}
	return r.record()
}

// newRow normalises e into the exact values that will be stored and hashed.
func newRow(e Event, changes string) row {
	r := row{
		Timestamp:  e.Timestamp.UTC().Truncate(time.Microsecond),
		EventType:  clean(e.EventType, limits.eventType),
		UserEmail:  clean(e.User, limits.user),
		IPAddress:  clean(e.IPAddress, limits.ip),
		UserAgent:  clean(e.UserAgent, limits.userAgent),
		Resource:   clean(e.Resource, limits.resource),
		ResourceID: clean(e.ResourceID, limits.resourceID),
		Action:     clean(e.Action, limits.action),
		Changes:    changes,
		Result:     clean(e.Result, limits.result),
		Reason:     clean(e.Reason, limits.reason),
	}
	if e.ApprovedBy != nil {
		a := clean(*e.ApprovedBy, limits.approvedBy)
		r.ApprovedBy = &a
	}
	return r
}

// clean makes s storable identically in both databases: valid UTF-8
// without NUL bytes (PostgreSQL rejects both), at most max bytes, cut at a
// rune boundary.
func clean(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// computeHash is SHA-256 over the domain string and every field in a fixed
// order, each encoded as 0x01 + 4-byte big-endian length + bytes, or a
// single 0x00 for a NULL approved_by. docs/audit.md specifies it for
// independent verifiers.
func (r *row) computeHash() string {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	for _, f := range []string{
		strconv.FormatInt(r.Seq, 10), strings.TrimSpace(r.PrevHash), r.Timestamp.UTC().Format(timeLayout),
		r.EventType, r.UserEmail, r.IPAddress, r.UserAgent, r.Resource, r.ResourceID,
		r.Action, r.Changes,
	} {
		writeField(h, &f)
	}
	writeField(h, r.ApprovedBy)
	writeField(h, &r.Result)
	writeField(h, &r.Reason)
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h hash.Hash, s *string) {
	if s == nil {
		h.Write([]byte{0})
		return
	}
	var hdr [5]byte
	hdr[0] = 1
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(*s)))
	h.Write(hdr[:])
	h.Write([]byte(*s))
}

// record turns a stored row into the API's Record.
func (r *row) record() (Record, error) {
	changes, err := decodeChanges(r.Changes)
	if err != nil {
		return Record{}, fmt.Errorf("audit: record %d: %w", r.Seq, err)
	}
	return Record{
		Seq: r.Seq,
		Event: Event{
			Timestamp: r.Timestamp.UTC(), EventType: r.EventType, User: r.UserEmail,
			IPAddress: r.IPAddress, UserAgent: r.UserAgent, Resource: r.Resource,
			ResourceID: r.ResourceID, Action: r.Action, Changes: changes,
			ApprovedBy: r.ApprovedBy, Result: r.Result, Reason: r.Reason,
		},
		PrevHash: strings.TrimSpace(r.PrevHash),
		Hash:     strings.TrimSpace(r.Hash),
	}, nil
}
