package gateways

import (
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// gateway_access confines every role, Admins included: enrollment tokens
// belong to the site they enroll into, and audit records about a gateway or
// an enrollment token to that gateway's or token's site.

// tokenWithin reports whether access reaches the site a token enrolls
// into; a token without a site enrolls gateways only "*" reaches.
func tokenWithin(access []string, site string) bool {
	return rbac.CanAccessGateway(access, "", site)
}

// AuditScope narrows an audit query to the records access may read: a
// record about a gateway (its resource is a gateway, its config or a
// gateway route, with the gateway id as resource_id) only when the gateway
// is within access now (a deleted gateway only when named in access), and
// a record about an enrollment token only when its site is. Other records
// are not about gateways. nil when access is unrestricted.
func AuditScope(access []string) store.QueryScope {
	if rbac.Unrestricted(access) {
		return nil
	}
	return store.GatewayAuditScope(access)
}
