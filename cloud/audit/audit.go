// Package audit owns the control plane's tamper-evident audit trail: the
// audit_log table and its migrations, appending hash-chained records inside
// the caller's transaction, verifying the chain, filtered queries and the
// compliance reports (GDPR, SOC 2, ISO 27001). Secrets never enter it:
// change values of secret-looking fields are redacted on the way in.
package audit

import (
	"errors"
	"time"
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

// Event is one security-relevant happening, with the spec's fields.
// Timestamp may be left zero: Append then stamps it with the current time,
// taken after the chain lock so that time order follows chain order.
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
