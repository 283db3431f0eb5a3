package gateways

import (
	"context"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// gateway_access confines every role, Admins included: enrollment tokens
// belong to the site they enroll into, and audit records about a gateway or
// an enrollment token to that gateway's or token's site.

// SiteOf returns the site of gateway id ("" when it has none or does not
// exist).
func (s *Service) SiteOf(ctx context.Context, id string) string {
	var g store.Gateway
	if err := s.store.DB.WithContext(ctx).Select("site").Where("id = ?", id).Take(&g).Error; err != nil {
		return ""
	}
	return g.Site
}

// tokenWithin reports whether access reaches the site a token enrolls
// into; a token without a site enrolls gateways only "*" reaches.
func tokenWithin(access []string, site string) bool {
	return rbac.CanAccessGateway(access, "", site)
}
