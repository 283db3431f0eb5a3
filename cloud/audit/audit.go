// Package audit owns the control plane's tamper-evident audit trail above
// the database: verifying the hash chain, signing checkpoints of its head
// and checking the chain against them, the compliance reports (GDPR,
// SOC 2, ISO 27001) and queries. Records are written by the store
// (store.AppendAudit) inside the transaction of the change they record;
// their format and hash are auditrec's. Secrets never enter the trail:
// change values of secret-looking fields are redacted on the way in.
package audit

import (
	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/store"
)

// The record types are auditrec's; these names keep callers short.
type (
	Event  = auditrec.Event
	Change = auditrec.Change
	Record = auditrec.Record
	Filter = auditrec.Filter
	Scope  = auditrec.Scope
	Page   = auditrec.Page
)

// Sentinel errors callers branch on.
var (
	ErrInvalid     = auditrec.ErrInvalid
	ErrNoChainHead = auditrec.ErrNoChainHead
)

// Results used in Event.Result.
const (
	ResultSuccess = auditrec.ResultSuccess
	ResultFailure = auditrec.ResultFailure
	ResultBlocked = auditrec.ResultBlocked
	ResultDenied  = auditrec.ResultDenied
)

// Redacted replaces the value of a secret-looking field.
const Redacted = auditrec.Redacted

// Tallying of anonymous refusals (see store.TallyAudit).
const (
	TallyWindow         = store.AuditTallyWindow
	TallyUsersPerSource = store.AuditTallyUsersPerSource
)

// IsSecretName reports whether a field of this name must never be recorded.
func IsSecretName(name string) bool { return auditrec.IsSecretName(name) }

// Redact returns changes with secret-looking values replaced (auditrec.Redact).
func Redact(changes map[string]Change) (map[string]Change, error) { return auditrec.Redact(changes) }
