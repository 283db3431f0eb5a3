// Package rbac holds the spec's roles and their permission matrix, and the
// gateway_access rule that limits gateway-scoped routes.
package rbac

import (
	"slices"
	"sort"
)

// Permissions, as strings carried in the JWT.
const (
	DashboardsRead    = "dashboards:read"
	ConfigsRead       = "configs:read"
	AlarmsAck         = "alarms:ack"
	LogsRead          = "logs:read"
	PipelinesRead     = "pipelines:read"
	PipelinesCreate   = "pipelines:create"
	PipelinesUpdate   = "pipelines:update"
	PipelinesDelete   = "pipelines:delete"
	ConfigsDeploy     = "configs:deploy"
	GatewaysRead      = "gateways:read"
	GatewaysManage    = "gateways:manage"
	GatewaysClaim     = "gateways:claim"
	UsersManage       = "users:manage"
	AuditRead         = "audit:read"
	SuggestionsCreate = "suggestions:create"
	// secrets (#12): names and metadata; values are never readable.
	SecretsRead   = "secrets:read"
	SecretsManage = "secrets:manage"
	// PipelinesTest lets an Engineer ask a gateway to test a source
	// ("test connections" in the spec's role table).
	PipelinesTest = "pipelines:test"
)

// Roles of the spec.
const (
	Viewer   = "Viewer"
	Operator = "Operator"
	Engineer = "Engineer"
	Admin    = "Admin"
	Copilot  = "Copilot"
)

var (
	viewer   = []string{DashboardsRead, ConfigsRead, PipelinesRead, GatewaysRead}
	operator = append(slices.Clone(viewer), AlarmsAck, LogsRead)
	engineer = append(slices.Clone(operator), PipelinesCreate, PipelinesUpdate, PipelinesTest, GatewaysClaim, SecretsRead)
	admin    = append(slices.Clone(engineer), PipelinesDelete, ConfigsDeploy, GatewaysManage, UsersManage, AuditRead, SecretsManage)
	// Copilot reads topology and proposes; an Engineer or Admin approves.
	copilot = append(slices.Clone(viewer), SuggestionsCreate)
)

var matrix = map[string][]string{
	Viewer: viewer, Operator: operator, Engineer: engineer, Admin: admin, Copilot: copilot,
}

// Roles lists the known roles.
func Roles() []string { return []string{Viewer, Operator, Engineer, Admin, Copilot} }

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { _, ok := matrix[r]; return ok }

// RolePermissions returns the permissions role r grants.
func RolePermissions(r string) []string { return slices.Clone(matrix[r]) }

// Permissions returns the sorted union of the permissions of roles.
func Permissions(roles []string) []string {
	set := map[string]bool{}
	for _, r := range roles {
		for _, p := range matrix[r] {
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// AllGateways in gateway_access grants every gateway.
const AllGateways = "*"

// CanAccessGateway reports whether access (gateway ids, site names, or "*")
// covers the gateway id in site.
func CanAccessGateway(access []string, gatewayID, site string) bool {
	for _, a := range access {
		if a == AllGateways || a == gatewayID || (site != "" && a == site) {
			return true
		}
	}
	return false
}

// Unrestricted reports whether access reaches every gateway.
func Unrestricted(access []string) bool { return slices.Contains(access, AllGateways) }

// Grants reports whether an actor with access may give requested as a
// gateway_access: only what it has itself (an entry of its own, or a
// gateway whose site it has; siteOf returns a gateway id's site, "" when
// there is none). A site-scoped Admin cannot widen anyone's reach, its own
// included. An entry matches a site of that name as well as the gateway
// (CanAccessGateway), so a gateway of the actor's whose id is also a site
// (isSite: some gateway or enrollment token is there) grants that site,
// and is refused.
func Grants(access, requested []string, siteOf func(id string) string, isSite func(name string) bool) bool {
	if Unrestricted(access) {
		return true
	}
	for _, r := range requested {
		if slices.Contains(access, r) {
			continue
		}
		if site := siteOf(r); site == "" || !slices.Contains(access, site) || isSite(r) {
			return false
		}
	}
	return true
}
