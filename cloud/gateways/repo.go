package gateways

import (
	"context"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/secretbind"
	"github.com/streamforge/streamforge/cloud/store"
)

// The repository interfaces below are all each service asks of the
// database; cloud/store implements them (store.Gateways, store.GatewayTx),
// and the unit tests fake them. Missing rows are store.ErrNotFound.

// txRunner runs fn in one transaction: a change and its audit record
// commit together or not at all.
type txRunner[T any] interface {
	InTx(ctx context.Context, fn func(T) error) error
}

type auditTx interface {
	Audit(audit.Event) error
}

// gatewayTx reads a gateway in a transaction, locked when lock is set.
type gatewayTx interface {
	auditTx
	Gateway(id string, lock bool) (*store.Gateway, error)
}

type gatewayReader interface {
	Gateway(ctx context.Context, id string) (*store.Gateway, error)
}

// EnrollmentTx is a transaction of the enrollment service.
type EnrollmentTx interface {
	gatewayTx
	SaveGateway(*store.Gateway) error
	UseChallenge(gatewayID, nonce string, now time.Time) error
	AddEnrollmentToken(*store.EnrollmentToken) error
	EnrollmentToken(id string) (*store.EnrollmentToken, error)
	RevokeEnrollmentToken(id string, now time.Time) (bool, error)
	UseEnrollmentToken(hash string, now time.Time) (*store.EnrollmentToken, error)
	Bump(key string, now time.Time, window time.Duration, until func(int, time.Time) time.Time) error
}

// EnrollmentRepo is the enrollment service's database.
type EnrollmentRepo interface {
	txRunner[EnrollmentTx]
	gatewayReader
	EnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error)
	EnrollmentTokenUsable(ctx context.Context, hash string, now time.Time) (bool, error)
	BlockedFor(ctx context.Context, key string, now time.Time) (time.Duration, error)
}

// AccessTx is a transaction of the gateway access service.
type AccessTx interface {
	gatewayTx
	AddChallenge(c *store.GatewayChallenge, now time.Time) error
	UseChallenge(gatewayID, nonce string, now time.Time) error
	AddGatewayToken(*store.GatewayToken) error
	RevokeGatewayTokens(id string, now time.Time) error
	SetTLSCert(id string, notBefore, notAfter, renewAt time.Time) error
	SetAKCertExpiry(id string, at time.Time) error
}

// AccessRepo is the gateway access service's database.
type AccessRepo interface {
	txRunner[AccessTx]
	gatewayReader
	TokenAuths(ctx context.Context, jtis []string) ([]store.GatewayTokenAuth, error)
}

// ConfigTx is a transaction of the config service; it checks and binds
// the secrets a config sends (secretbind.Tx).
type ConfigTx interface {
	gatewayTx
	secretbind.Tx
	Config(id string) (*store.GatewayConfig, error)
	SaveConfig(*store.GatewayConfig) error
}

// ConfigRepo is the config service's database.
type ConfigRepo interface {
	txRunner[ConfigTx]
	Config(ctx context.Context, id string) (*store.GatewayConfig, error)
}

// HeartbeatRepo is the heartbeat service's database.
type HeartbeatRepo interface {
	gatewayReader
	InsertHeartbeats(ctx context.Context, hbs []store.GatewayHeartbeat) error
	TrimHeartbeats(ctx context.Context, id string, rows, bytes int) error
	SetSummary(ctx context.Context, id string, seen time.Time, agentVersion string, applied int) error
	Heartbeats(ctx context.Context, id string, cursor uint64, limit int) ([]store.GatewayHeartbeat, error)
	Prune(ctx context.Context, before, now time.Time) error
}

// FleetTx is a transaction of the fleet service.
type FleetTx interface {
	gatewayTx
	SaveGateway(*store.Gateway) error
	RevokeGatewayTokens(id string, now time.Time) error
	DeleteGateway(*store.Gateway) error
}

// FleetRepo is the fleet service's database.
type FleetRepo interface {
	txRunner[FleetTx]
	gatewayReader
	DeployedVersion(ctx context.Context, id string) (int, error)
	DeployedVersions(ctx context.Context, ids []string) (map[string]int, error)
	SiteOf(ctx context.Context, id string) string
	SiteInUse(ctx context.Context, site string) bool
	GatewayPage(ctx context.Context, f store.GatewayFilter, field string, desc bool, limit, offset int) ([]store.Gateway, int64, error)
	CountGateways(ctx context.Context, f store.GatewayFilter) (int64, error)
	CountByStatus(ctx context.Context, f store.GatewayFilter) (map[string]int64, error)
	ExpiringTokens(ctx context.Context, f store.GatewayFilter, from, to time.Time, limit int) ([]store.GatewayExpiry, error)
	OverdueTLSCerts(ctx context.Context, f store.GatewayFilter, now time.Time, limit int) ([]store.GatewayExpiry, error)
	EachFleetHeartbeat(ctx context.Context, f store.GatewayFilter, since time.Time, maxRows int, fn func(store.FleetHeartbeat)) error
}

// storeRepo serves a repository interface whose transactions are T from
// cloud/store: *store.GatewayTx implements every T (checked below).
type storeRepo[T any] struct{ *store.Gateways }

func (r storeRepo[T]) InTx(ctx context.Context, fn func(T) error) error {
	return r.Gateways.InTx(ctx, func(tx *store.GatewayTx) error { return fn(any(tx).(T)) })
}

var (
	_ EnrollmentRepo = storeRepo[EnrollmentTx]{}
	_ AccessRepo     = storeRepo[AccessTx]{}
	_ ConfigRepo     = storeRepo[ConfigTx]{}
	_ FleetRepo      = storeRepo[FleetTx]{}
	_ HeartbeatRepo  = (*store.Gateways)(nil)
	_ EnrollmentTx   = (*store.GatewayTx)(nil)
	_ AccessTx       = (*store.GatewayTx)(nil)
	_ ConfigTx       = (*store.GatewayTx)(nil)
	_ FleetTx        = (*store.GatewayTx)(nil)
)
