package gateways

import (
	"context"

	"gorm.io/gorm"

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

// AuditScope narrows an audit query to the records access may read: a
// record about a gateway (its resource is a gateway, its config or a
// gateway route, with the gateway id as resource_id) only when the gateway
// is within access now (a deleted gateway only when named in access), and
// a record about an enrollment token only when its site is. Other records
// are not about gateways. nil when access is unrestricted.
func AuditScope(access []string) func(*gorm.DB) *gorm.DB {
	if rbac.Unrestricted(access) {
		return nil
	}
	if len(access) == 0 {
		access = []string{""} // IN () is not valid SQL; "" names nothing
	}
	return func(q *gorm.DB) *gorm.DB {
		gateways := q.Session(&gorm.Session{NewDB: true}).Table("gateways").Select("id").
			Where("site IN ? AND site <> ''", access)
		tokens := q.Session(&gorm.Session{NewDB: true}).Table("enrollment_tokens").Select("id").
			Where("site IN ? AND site <> ''", access)
		return q.Where(`NOT (resource IN ('gateway', 'gateway_config') OR resource LIKE '/api/v1/gateways/%') `+
			`OR resource_id IN ? OR resource_id IN (?)`, access, gateways).
			Where(`resource <> 'enrollment_token' OR resource_id IN (?)`, tokens)
	}
}
