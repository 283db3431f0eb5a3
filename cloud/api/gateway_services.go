package api

import (
	"context"
	"encoding/json"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pkg/wire"
)

// The handlers reach the gateways domain through these interfaces, one per
// service (cloud/gateways), so that each handler depends on no more than
// its job.

type gatewayEnrollment interface {
	Enroll(ctx context.Context, m gateways.Meta, req wire.EnrollRequest) (wire.EnrollResponse, error)
	Activate(ctx context.Context, m gateways.Meta, req wire.ActivateRequest) (wire.EnrollResponse, error)
	CreateToken(ctx context.Context, m gateways.Meta, access []string, in gateways.TokenInput) (gateways.TokenView, error)
	ListTokens(ctx context.Context, access []string) ([]gateways.TokenView, error)
	RevokeToken(ctx context.Context, m gateways.Meta, access []string, id string) error
	Claim(ctx context.Context, m gateways.Meta, access []string, in gateways.ClaimInput) (gateways.View, error)
}

type gatewayAccess interface {
	Challenge(ctx context.Context, gatewayID string) (wire.ChallengeResponse, error)
	IssueToken(ctx context.Context, m gateways.Meta, req wire.TokenRequest, renewing bool) (wire.TokenResponse, error)
	Authenticate(ctx context.Context, token string) (gateways.Auth, error)
	CheckCertificate(ctx context.Context, p gateways.PeerCert) error
	TokenForCertificate(ctx context.Context, m gateways.Meta, p gateways.PeerCert) (wire.TokenResponse, error)
	Authorize(ctx context.Context, permanentID string) (bool, error)
	AKCertificate(ctx context.Context, m gateways.Meta, id string) ([][]byte, error)
}

type gatewayConfigs interface {
	Deploy(ctx context.Context, m gateways.Meta, access []string, id string, doc json.RawMessage) (wire.ConfigResponse, error)
	CheckSecrets(ctx context.Context, m gateways.Meta, doc json.RawMessage, denied audit.Event) error
	Current(ctx context.Context, id string) (wire.ConfigResponse, string, error)
	ServedETag(stored string) string
}

type gatewayHeartbeats interface {
	Heartbeat(ctx context.Context, a gateways.Auth, hb wire.Heartbeat) error
	Health(ctx context.Context, access []string, id string, limit int, cursor uint64) (gateways.HealthPage, error)
}

type gatewayFleet interface {
	Get(ctx context.Context, access []string, id string) (gateways.View, error)
	CheckAccess(ctx context.Context, access []string, id string) error
	Page(ctx context.Context, access []string, q gateways.ListQuery) (gateways.ListPage, error)
	Overview(ctx context.Context, access []string) (gateways.Overview, error)
	Act(ctx context.Context, m gateways.Meta, access []string, id string, a gateways.Action) (gateways.View, error)
	Delete(ctx context.Context, m gateways.Meta, access []string, id string) error
	SiteOf(ctx context.Context, id string) string
	SiteInUse(ctx context.Context, site string) bool
}

type gatewayServices struct {
	enroll     gatewayEnrollment
	access     gatewayAccess
	configs    gatewayConfigs
	heartbeats gatewayHeartbeats
	fleet      gatewayFleet
}

func gatewayServicesOf(gw *gateways.Service) gatewayServices {
	return gatewayServices{enroll: gw.Enrollment, access: gw.Access, configs: gw.Configs, heartbeats: gw.Heartbeats, fleet: gw.Fleet}
}
