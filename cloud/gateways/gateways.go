// Package gateways owns the edge gateways known to the control plane, one
// service per job: Enrollment (enrollment tokens, enrollment, credential
// activation, claim codes), Access (gateway tokens issued on proof of
// possession of the enrolled identity, batched token checks, the mTLS
// certificate exchange, step-ca's webhook, AK certificates), Configs,
// Heartbeats, and Fleet (the operators' reads and admin decisions). Each
// depends on a small repository interface (repo.go) that cloud/store
// implements; every change is audited in the same transaction.
package gateways

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/wire"
	"github.com/streamforge/streamforge/pki/attestca"
)

// Errors callers branch on; their messages are safe to show to clients.
var (
	ErrNotFound       = errors.New("gateway not found")
	ErrTokenNotFound  = errors.New("enrollment token not found")
	ErrBadEnrollment  = errors.New("enrollment token is invalid, expired, revoked or used up")
	ErrIdentityTaken  = errors.New("this gateway id is enrolled with another identity")
	ErrNotApproved    = errors.New("gateway is not approved")
	ErrBadProof       = errors.New("proof of possession of the gateway identity failed")
	ErrBadTransition  = errors.New("gateway is not in a state that allows this")
	ErrBadClaim       = errors.New("claim code does not match, has expired or was already used")
	ErrNoConfig       = errors.New("no config deployed for this gateway")
	ErrKeyIdentity    = errors.New("software key identity is not allowed by this control plane: gateways need a TPM (an operator can allow key identity with STREAMFORGE_ALLOW_KEY_IDENTITY)")
	ErrNoConfigKeys   = errors.New("config signing is not configured")
	ErrRegisterClosed = errors.New("self-registration is disabled: enroll with an enrollment token (POST /api/v1/gateways/enroll)")
)

// ValidationError names a bad input field.
type ValidationError struct{ Field, Msg string }

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

// ThrottledError asks the client to wait.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string { return "too many attempts; retry later" }

// Lifetimes and limits.
const (
	GatewayTokenLifetime = 365 * 24 * time.Hour
	ChallengeLifetime    = 2 * time.Minute
	ClaimLifetime        = 7 * 24 * time.Hour
	HeartbeatRetention   = 7 * 24 * time.Hour
)

var idPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{2,63}$`)

// reservedIDs are path words of the gateway API.
var reservedIDs = map[string]bool{"enroll": true, "register": true, "token": true, "claim": true}

// ValidID reports whether id can name a gateway.
func ValidID(id string) error {
	if !idPattern.MatchString(id) || reservedIDs[id] {
		return &ValidationError{"gateway_id", "3-64 characters of letters, digits, '.', '_' or '-', not a reserved word"}
	}
	return nil
}

// Meta says who asks and from where; it goes into the audit records.
type Meta = audit.Origin

// Settings are what an operator configures (and tests change); the
// services of one control plane share them.
type Settings struct {
	// EKRoots are the TPM manufacturers' roots; nil knows none, so every
	// EK is flagged for review.
	EKRoots *attestca.EKRoots
	// AttestCA certifies approved gateways' AKs; nil: not configured.
	AttestCA *attestca.CA
	// AllowKeyIdentity lets gateways enroll with a software key instead of
	// a TPM (STREAMFORGE_ALLOW_KEY_IDENTITY): an operator's choice for
	// demos and devices without a TPM, which then prove only that they hold
	// a key file, not which device they are.
	AllowKeyIdentity bool
	// ConfigKeys sign deployed configs; without them nothing is deployed.
	ConfigKeys *configsign.Ring
	// Now is the clock; tests move it.
	Now func() time.Time
	// HistoryRows and HistoryBytes bound each gateway's heartbeat history
	// (DefaultHistoryRows, DefaultHistoryBytes when 0).
	HistoryRows, HistoryBytes int
	// OnHeartbeat, when set, hears every accepted heartbeat (the alarm
	// evaluator's buffer rules).
	OnHeartbeat func(ctx context.Context, gatewayID string, hb wire.Heartbeat)
}

// Service is the gateways domain, one service per job over one shared
// Settings. Access and Heartbeats batch their database work in goroutines
// that Start starts and Close stops.
type Service struct {
	*Settings
	Enrollment *Enrollment
	Access     *Access
	Configs    *Configs
	Heartbeats *Heartbeats
	Fleet      *Fleet
}

// New returns the gateways services over st. Call Start before serving and
// Close after.
func New(st *store.Store, keys *auth.KeyRing, log *slog.Logger) *Service {
	set := &Settings{Now: func() time.Time { return time.Now().UTC() }}
	repo := st.Gateways()
	return &Service{
		Settings:   set,
		Enrollment: NewEnrollment(storeRepo[EnrollmentTx]{repo}, set),
		Access:     NewAccess(storeRepo[AccessTx]{repo}, keys, set),
		Configs:    NewConfigs(storeRepo[ConfigTx]{repo}, set, log),
		Heartbeats: NewHeartbeats(repo, set, log),
		Fleet:      NewFleet(storeRepo[FleetTx]{repo}, set),
	}
}

// Start starts the batching of token checks and heartbeats.
func (s *Service) Start(ctx context.Context) {
	s.Access.Start(ctx)
	s.Heartbeats.Start(ctx)
}

// Close stops the batching goroutines once what is queued is written.
func (s *Service) Close() {
	s.Access.Close()
	s.Heartbeats.Close()
}

// StatusApproved is the status of a gateway that may connect (the API
// answers a claim that leaves it short of that with 202).
const StatusApproved = store.GatewayApproved

// View is a gateway as the API shows it.
type View struct {
	ID           string            `json:"id"`
	Site         string            `json:"site"`
	Status       string            `json:"status"`
	Hostname     string            `json:"hostname"`
	HardwareInfo map[string]string `json:"hardware_info"`
	IdentityKind string            `json:"identity_kind"`
	Fingerprint  string            `json:"identity_fingerprint"`
	EKVerified   bool              `json:"ek_verified"`
	EKReason     string            `json:"ek_reason,omitempty"`
	// TPM is the TPM's manufacturer, model and version (identity kind tpm).
	TPM            json.RawMessage `json:"tpm,omitempty"`
	EnrolledAt     time.Time       `json:"enrolled_at"`
	ApprovedBy     string          `json:"approved_by,omitempty"`
	ApprovedAt     *time.Time      `json:"approved_at,omitempty"`
	ClaimedAt      *time.Time      `json:"claimed_at,omitempty"`
	ClaimedBy      string          `json:"claimed_by,omitempty"`
	LastSeenAt     *time.Time      `json:"last_seen_at,omitempty"`
	AKCertExpires  *time.Time      `json:"ak_cert_expires_at,omitempty"`
	AgentVersion   string          `json:"agent_version,omitempty"`
	AppliedConfig  int             `json:"applied_config_version"`
	DeployedConfig int             `json:"deployed_config_version"`
	// TLSCertNotBefore and TLSCertExpires are the validity of the mTLS
	// certificate the gateway last presented (absent before it used mTLS).
	TLSCertNotBefore *time.Time `json:"tls_cert_not_before,omitempty"`
	TLSCertExpires   *time.Time `json:"tls_cert_expires_at,omitempty"`
}

func view(g *store.Gateway, deployed int) View {
	hw := g.HardwareInfo
	if hw == nil {
		hw = map[string]string{}
	}
	var tpm json.RawMessage
	if json.Valid([]byte(g.TPMInfo)) {
		tpm = json.RawMessage(g.TPMInfo)
	}
	return View{TPM: tpm, ID: g.ID, Site: g.Site, Status: g.Status, Hostname: g.Hostname, HardwareInfo: hw,
		IdentityKind: g.IdentityKind, Fingerprint: g.IdentityFingerprint, EKVerified: g.EKVerified, EKReason: g.EKReason,
		EnrolledAt: g.EnrolledAt, ApprovedBy: g.ApprovedBy, ApprovedAt: g.ApprovedAt, ClaimedAt: g.ClaimedAt, ClaimedBy: g.ClaimedBy,
		LastSeenAt: g.LastSeenAt, AKCertExpires: g.AKCertExpiresAt, AgentVersion: g.AgentVersion, AppliedConfig: g.AppliedConfig, DeployedConfig: deployed,
		TLSCertNotBefore: g.TLSCertNotBefore, TLSCertExpires: g.TLSCertExpiresAt}
}

// load reads gateway id in tx, as ErrNotFound when there is none.
func load(tx gatewayTx, id string, lock bool) (*store.Gateway, error) {
	g, err := tx.Gateway(id, lock)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return g, err
}

// read reads gateway id, as ErrNotFound when there is none.
func read(ctx context.Context, r gatewayReader, id string) (*store.Gateway, error) {
	g, err := r.Gateway(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return g, err
}

// readWithin reads gateway id, as ErrNotFound when it is outside access
// (so that ids outside a user's reach are not revealed).
func readWithin(ctx context.Context, r gatewayReader, access []string, id string) (*store.Gateway, error) {
	g, err := read(ctx, r, id)
	if err != nil {
		return nil, err
	}
	if !rbac.CanAccessGateway(access, g.ID, g.Site) {
		return nil, ErrNotFound
	}
	return g, nil
}

// auditRefusal audits ev, with err as its reason, when err is one of
// refusals: in a transaction of its own, since the one that refused was
// rolled back. It returns err (or the audit's failure).
func auditRefusal[T auditTx](ctx context.Context, r txRunner[T], err error, ev audit.Event, refusals ...error) error {
	for _, want := range refusals {
		if errors.Is(err, want) {
			ev.Reason = err.Error()
			if aerr := r.InTx(ctx, func(tx T) error { return tx.Audit(ev) }); aerr != nil {
				return aerr
			}
			return err
		}
	}
	return err
}
