// Package auditrec is the audit record itself: the event a domain service
// records, its canonical stored form and the hash that chains it to the
// one before. It has no database code, so that the store (which writes
// records inside the transactions of the changes they record) and the
// audit package (which verifies, signs and reports) agree on one format
// without depending on each other. docs/audit.md specifies the hash.
package auditrec

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors callers branch on.
var (
	// ErrInvalid means an event lacks a required field.
	ErrInvalid = errors.New("invalid audit event")
	// ErrNoChainHead means the audit migrations have not run.
	ErrNoChainHead = errors.New("audit chain head missing (migrations not applied)")
)

// Results used in Event.Result.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultBlocked = "blocked"
	ResultDenied  = "denied"
)

// GenesisHash is the prev_hash of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashDomain prefixes every hashed record so a hash can never be mistaken
// for one of another format or version.
const hashDomain = "streamforge-audit-v1"

// timeLayout is the canonical timestamp text: UTC, exactly six fractional
// digits (both databases keep microseconds).
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Event is one security-relevant happening, with the spec's fields.
// Timestamp may be left zero: the store then stamps it with the current
// time, taken after the chain lock so that time order follows chain order.
type Event struct {
	Timestamp  time.Time         `json:"timestamp"`
	EventType  string            `json:"event_type"`
	User       string            `json:"user,omitempty"`
	IPAddress  string            `json:"ip_address,omitempty"`
	UserAgent  string            `json:"user_agent,omitempty"`
	Resource   string            `json:"resource,omitempty"`
	ResourceID string            `json:"resource_id,omitempty"`
	Action     string            `json:"action,omitempty"`
	Changes    map[string]Change `json:"changes,omitempty"`
	ApprovedBy *string           `json:"approved_by"`
	Result     string            `json:"result,omitempty"`
	Reason     string            `json:"reason,omitempty"`
}

// Change is one field's value before and after a change. Values are any
// JSON-encodable data; they come back from the database as JSON types
// (numbers as json.Number).
type Change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// Record is an Event as stored: its place in the chain and its hashes.
type Record struct {
	Seq int64 `json:"seq"`
	Event
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Column sizes (bytes) as created by the migration. Values are cut to them
// before hashing so both databases store, and re-hash, the same bytes.
var limits = struct{ eventType, user, ip, userAgent, resource, resourceID, action, result, reason, approvedBy int }{
	eventType: 100, user: 255, ip: 64, userAgent: 512, resource: 255, resourceID: 255,
	action: 50, result: 20, reason: 1024, approvedBy: 255,
}

// Row is one audit_log row exactly as stored and hashed. The struct tags
// name its columns for the store; this package does not use them.
type Row struct {
	Seq        int64     `gorm:"column:seq;primaryKey;autoIncrement:false" json:"seq"`
	Timestamp  time.Time `gorm:"column:timestamp" json:"timestamp"`
	EventType  string    `gorm:"column:event_type" json:"event_type"`
	UserEmail  string    `gorm:"column:user_email" json:"user_email"`
	IPAddress  string    `gorm:"column:ip_address" json:"ip_address"`
	UserAgent  string    `gorm:"column:user_agent" json:"user_agent"`
	Resource   string    `gorm:"column:resource" json:"resource"`
	ResourceID string    `gorm:"column:resource_id" json:"resource_id"`
	Action     string    `gorm:"column:action" json:"action"`
	Changes    string    `gorm:"column:changes" json:"changes"`
	ApprovedBy *string   `gorm:"column:approved_by" json:"approved_by"`
	Result     string    `gorm:"column:result" json:"result"`
	Reason     string    `gorm:"column:reason" json:"reason"`
	PrevHash   string    `gorm:"column:prev_hash" json:"prev_hash"`
	Hash       string    `gorm:"column:hash" json:"hash"`
}

// TableName is the table rows live in.
func (Row) TableName() string { return "audit_log" }

// NewRow normalises e into the exact values that will be stored and
// hashed, with changes already encoded (EncodeChanges). Seq, PrevHash and
// Hash are the caller's to fill.
func NewRow(e Event, changes string) Row {
	r := Row{
		Timestamp:  e.Timestamp.UTC().Truncate(time.Microsecond),
		EventType:  Clean(e.EventType, limits.eventType),
		UserEmail:  Clean(e.User, limits.user),
		IPAddress:  Clean(e.IPAddress, limits.ip),
		UserAgent:  Clean(e.UserAgent, limits.userAgent),
		Resource:   Clean(e.Resource, limits.resource),
		ResourceID: Clean(e.ResourceID, limits.resourceID),
		Action:     Clean(e.Action, limits.action),
		Changes:    changes,
		Result:     Clean(e.Result, limits.result),
		Reason:     Clean(e.Reason, limits.reason),
	}
	if e.ApprovedBy != nil {
		a := Clean(*e.ApprovedBy, limits.approvedBy)
		r.ApprovedBy = &a
	}
	return r
}

// Link builds the row that follows (seq-1, prevHash) for e: validated,
// normalised, redacted and hashed. now stamps an event without a time.
func Link(e Event, seq int64, prevHash string, now time.Time) (Row, error) {
	if strings.TrimSpace(e.EventType) == "" {
		return Row{}, fmt.Errorf("%w: event_type is required", ErrInvalid)
	}
	changes, err := EncodeChanges(e.Changes)
	if err != nil {
		return Row{}, err
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = now
	}
	r := NewRow(e, changes)
	r.Seq, r.PrevHash = seq, strings.TrimSpace(prevHash)
	r.Hash = r.ComputeHash()
	return r, nil
}

// Clean makes s storable identically in both databases: valid UTF-8
// without NUL bytes (PostgreSQL rejects both), at most max bytes, cut at a
// rune boundary.
func Clean(s string, max int) string {
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

// ClampEventType cuts an event type to its column size, as NewRow does.
func ClampEventType(s string) string { return Clean(s, limits.eventType) }

// ClampUser cuts a user to its column size, as NewRow does.
func ClampUser(s string) string { return Clean(s, limits.user) }

// ComputeHash is SHA-256 over the domain string and every field in a fixed
// order, each encoded as 0x01 + 4-byte big-endian length + bytes, or a
// single 0x00 for a NULL approved_by. docs/audit.md specifies it for
// independent verifiers.
func (r *Row) ComputeHash() string {
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

// Record turns a stored row into the API's Record.
func (r *Row) Record() (Record, error) {
	changes, err := DecodeChanges(r.Changes)
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

// Source is the address an event is tallied under: IPv6 clients usually
// hold a whole /64, so it counts as one source.
func Source(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return Clean(ip, limits.ip)
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Raw is one audit_log row as the driver returns it, columns in Row's
// order, before any conversion: the verifier parses it so that a malformed
// column is a finding about that record rather than a failure to read.
type Raw [15]any

// SignedCheckpoint is the chain head at a moment, signed with a key kept
// outside the database: a later chain that no longer holds record Seq
// with hash Hash was rewritten, cut or wiped.
type SignedCheckpoint struct {
	Seq       int64     `gorm:"column:seq;primaryKey;autoIncrement:false" json:"seq"`
	Hash      string    `gorm:"column:hash" json:"hash"`
	SignedAt  time.Time `gorm:"column:signed_at" json:"signed_at"`
	KeyID     string    `gorm:"column:key_id" json:"key_id"`
	Signature []byte    `gorm:"-" json:"signature"`
	// SignatureText is Signature as stored (base64); the store fills it.
	SignatureText string `gorm:"column:signature" json:"-"`
}

// TableName is the table checkpoints live in.
func (SignedCheckpoint) TableName() string { return "audit_checkpoints" }

// checkpointDomain prefixes every signed checkpoint message.
const checkpointDomain = "streamforge-audit-checkpoint-v1"

// CheckpointMessage is the exact bytes a checkpoint's signature covers:
// the domain, seq, hash and signing time (UTC, microseconds), one a line.
func CheckpointMessage(seq int64, hash string, at time.Time) []byte {
	return []byte(fmt.Sprintf("%s\n%d\n%s\n%s\n", checkpointDomain, seq, strings.TrimSpace(hash), at.UTC().Format(timeLayout)))
}
