package users

import (
	"context"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// DefaultBootstrapEmail names the first admin when none is configured.
const DefaultBootstrapEmail = "admin@streamforge.local"

// Bootstrap creates the first Admin when there are no users at all. With
// an empty password it generates one; the caller shows it once. It returns
// created=false when users already exist (there is no default account).
func (s *Service) Bootstrap(ctx context.Context, email, password string) (created bool, usedPassword string, err error) {
	if email == "" {
		email = DefaultBootstrapEmail
	}
	if email, err = NormalizeEmail(email); err != nil {
		return false, "", err
	}
	if password == "" {
		password = auth.RandomPassword(24)
	} else if err := auth.CheckPasswordPolicy(password, email); err != nil {
		return false, "", errs.Invalid("STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD", err.Error())
	}
	hash, err := auth.HashPassword(ctx, password)
	if err != nil {
		return false, "", err
	}
	err = s.store.Tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&store.User{}).Count(&n).Error; err != nil || n > 0 {
			return err
		}
		u := &store.User{Email: email, PasswordHash: hash, Roles: []string{rbac.Admin}, GatewayAccess: []string{rbac.AllGateways}}
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		created = true
		ev := Meta{Actor: "system"}.Event("user.create", "user", email, "bootstrap", "success")
		ev.Reason = "first admin at first start"
		ev.Changes = map[string]audit.Change{"roles": {Old: nil, New: u.Roles}, "gateway_access": {Old: nil, New: u.GatewayAccess}}
		_, err := store.AppendAudit(tx, ev)
		return err
	})
	if err != nil || !created {
		return false, "", err
	}
	return true, password, nil
}
