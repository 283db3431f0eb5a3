package gateways

import (
	"github.com/streamforge/streamforge/cloud/rbac"
)

// gateway_access confines every role, Admins included: enrollment tokens
// belong to the site they enroll into, and audit records about a gateway or
// an enrollment token to that gateway's or token's site.

// tokenWithin reports whether access reaches the site a token enrolls
// into; a token without a site enrolls gateways only "*" reaches.
func tokenWithin(access []string, site string) bool {
	return rbac.CanAccessGateway(access, "", site)
}
