package store

import "time"

// Gateway statuses. A TPM gateway is "activating" until it has proved, by
// credential activation, that its AK lives in the TPM of its EK.
const (
	GatewayActivating = "activating"
	GatewayPending    = "pending"
	GatewayApproved   = "approved"
	GatewayRejected   = "rejected"
	GatewayDisabled   = "disabled"
)

// Gateway is an edge gateway known to the control plane.
type Gateway struct {
	ID           string `gorm:"primaryKey"`
	Site         string
	Status       string
	Hostname     string
	HardwareInfo map[string]string `gorm:"serializer:json"`
	// IdentityKey is the PEM public key the gateway proves possession of;
	// IdentityFingerprint is the hex SHA-256 of its DER form.
	IdentityKind        string
	IdentityKey         string
	IdentityFingerprint string
	EKVerified          bool
	// EKReason says why an EK is not verified (shown to the reviewing admin).
	EKReason string
	// TPMInfo is the TPM's manufacturer, model and version (JSON).
	TPMInfo string
	// KeyCertification is the AK's certification of the identity key (JSON),
	// checked at credential activation.
	KeyCertification string
	// ActivationState is the outstanding credential activation challenge
	// (JSON, the secret only hashed); empty once the TPM has answered.
	ActivationState string
	// AttestedState is the challenge the TPM answered: it holds the AK that
	// the attestation CA certifies once the gateway is approved.
	AttestedState string
	// EnrollmentID names this enrollment of this identity. Every
	// certificate names it, so a deleted (or re-enrolled) gateway's old
	// credentials name an enrollment that no longer exists.
	EnrollmentID string
	// AKCertExpiresAt is when the AK certificate last issued expires.
	AKCertExpiresAt *time.Time
	// TLSCertNotBefore and TLSCertExpiresAt are the validity of the step-ca
	// certificate the gateway last presented on the mTLS listener (step-ca
	// does not tell the cloud what it issues). TLSCertRenewAt is when the
	// agent should have renewed it (see gateways.TLSRenewAt).
	TLSCertNotBefore *time.Time
	TLSCertExpiresAt *time.Time
	TLSCertRenewAt   *time.Time
	EnrolledWith     string
	EnrolledAt       time.Time
	// ClaimCodeHash is the argon2id hash of the gateway's claim code (the
	// code itself is returned once, to the enrolling gateway); empty once
	// the code is used or the gateway no longer pending.
	ClaimCodeHash  string
	ClaimExpiresAt time.Time
	ClaimedAt      *time.Time
	// ClaimedBy is who claimed the gateway with its code.
	ClaimedBy     string
	ApprovedBy    string
	ApprovedAt    *time.Time
	LastSeenAt    *time.Time
	AgentVersion  string
	AppliedConfig int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// EnrollmentToken lets gateways enroll; only its hash is stored.
type EnrollmentToken struct {
	ID        string `gorm:"primaryKey"`
	TokenHash string
	Site      string
	MaxUses   int
	Uses      int
	ExpiresAt time.Time
	RevokedAt *time.Time
	CreatedBy string
	CreatedAt time.Time
}

// GatewayToken is one issued gateway JWT, named by its jti.
type GatewayToken struct {
	JTI       string `gorm:"primaryKey"`
	GatewayID string
	IssuedAt  time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
	// CertThumbprint is the SHA-256 (base64url) of the client certificate
	// the token is bound to (RFC 8705 cnf x5t#S256); empty: not bound.
	CertThumbprint string
}

// GatewayChallenge is a single-use nonce a gateway signs to prove it holds
// its identity key.
type GatewayChallenge struct {
	Nonce     string `gorm:"primaryKey"`
	GatewayID string
	ExpiresAt time.Time
}

// GatewayConfig is the config document deployed to a gateway.
type GatewayConfig struct {
	GatewayID string `gorm:"primaryKey"`
	Version   int
	Document  string
	// Bundle is the signed wire.ConfigBundle (JSON) delivered to the
	// gateway; Document repeats its config for people.
	Bundle    string
	ETag      string
	UpdatedBy string
	UpdatedAt time.Time
}

// GatewayHeartbeat is one health report of a gateway.
type GatewayHeartbeat struct {
	ID            uint64 `gorm:"primaryKey"`
	GatewayID     string
	ReceivedAt    time.Time
	Status        string
	AgentVersion  string
	ConfigVersion int
	ConfigError   string
	BufferDepth   int64
	// ReadingsTotal is the agent's count of readings buffered so far; the
	// rate between two heartbeats is the gateway's readings/s.
	ReadingsTotal int64
	Adapters      string
}
