package users

import (
	"context"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// UpdateInput changes an account; nil fields stay as they are.
type UpdateInput struct {
	Roles         *[]string `json:"roles"`
	GatewayAccess *[]string `json:"gateway_access"`
	Password      *string   `json:"password"`
}

// Update changes roles, gateway access or the password. Any change revokes
// all of the user's tokens at once, so no token carries stale grants.
func (s *Service) Update(ctx context.Context, m Meta, email string, in UpdateInput) (View, error) {
	if in.Roles == nil && in.GatewayAccess == nil && in.Password == nil {
		return View{}, errs.Invalid("body", "nothing to change: give roles, gateway_access or password")
	}
	if in.Roles != nil {
		if err := validateRoles(*in.Roles); err != nil {
			return View{}, err
		}
	}
	if in.GatewayAccess != nil {
		if err := validateAccess(*in.GatewayAccess); err != nil {
			return View{}, err
		}
	}
	var hash string
	if in.Password != nil {
		if err := auth.CheckPasswordPolicy(*in.Password, strings.ToLower(strings.TrimSpace(email))); err != nil {
			return View{}, errs.Invalid("password", err.Error())
		}
		var err error
		if hash, err = auth.HashPassword(ctx, *in.Password); err != nil {
			return View{}, err
		}
	}
	var out *store.User
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		u, err := s.load(tx, email, true)
		if err != nil {
			return err
		}
		changes := map[string]audit.Change{}
		if in.Roles != nil {
			roles := dedupe(*in.Roles)
			if !slices.Equal(roles, u.Roles) {
				if slices.Contains(u.Roles, rbac.Admin) && !slices.Contains(roles, rbac.Admin) {
					if err := s.keepAnAdmin(tx, u.ID); err != nil {
						return err
					}
				}
				changes["roles"] = audit.Change{Old: u.Roles, New: roles}
				u.Roles = roles
			}
		}
		if in.GatewayAccess != nil {
			access := dedupe(*in.GatewayAccess)
			if !slices.Equal(access, nonNil(u.GatewayAccess)) {
				changes["gateway_access"] = audit.Change{Old: nonNil(u.GatewayAccess), New: access}
				u.GatewayAccess = access
			}
		}
		if in.Password != nil {
			changes["password"] = audit.Change{Old: "[redacted]", New: "[redacted]"}
			u.PasswordHash = hash
		}
		out = u
		if len(changes) == 0 {
			return nil
		}
		if err := tx.Save(u).Error; err != nil {
			return err
		}
		if err := revokeAll(tx, u.ID, s.Now()); err != nil {
			return err
		}
		ev := m.Event("user.update", "user", u.Email, "update", "success")
		ev.Changes = changes
		_, err = store.AppendAudit(tx, ev)
		return err
	})
	if err != nil {
		return View{}, err
	}
	return view(out), nil
}

// SetDisabled disables (revoking every token at once) or enables an account.
func (s *Service) SetDisabled(ctx context.Context, m Meta, email string, disabled bool) (View, error) {
	var out *store.User
	err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		u, err := s.load(tx, email, true)
		if err != nil {
			return err
		}
		if disabled && u.Email == m.Actor {
			return ErrSelf
		}
		out = u
		if u.Disabled == disabled {
			return nil
		}
		if disabled && slices.Contains(u.Roles, rbac.Admin) {
			if err := s.keepAnAdmin(tx, u.ID); err != nil {
				return err
			}
		}
		u.Disabled = disabled
		if err := tx.Model(u).Update("disabled", disabled).Error; err != nil {
			return err
		}
		eventType, action := "user.enable", "enable"
		if disabled {
			eventType, action = "user.disable", "disable"
			if err := revokeAll(tx, u.ID, s.Now()); err != nil {
				return err
			}
		}
		ev := m.Event(eventType, "user", u.Email, action, "success")
		ev.Changes = map[string]audit.Change{"disabled": {Old: !disabled, New: disabled}}
		_, err = store.AppendAudit(tx, ev)
		return err
	})
	if err != nil {
		return View{}, err
	}
	return view(out), nil
}

// Delete removes an account and its sessions.
func (s *Service) Delete(ctx context.Context, m Meta, email string) error {
	return s.store.Tx(ctx, func(tx *gorm.DB) error {
		u, err := s.load(tx, email, true)
		if err != nil {
			return err
		}
		if u.Email == m.Actor {
			return ErrSelf
		}
		if slices.Contains(u.Roles, rbac.Admin) && !u.Disabled {
			if err := s.keepAnAdmin(tx, u.ID); err != nil {
				return err
			}
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&store.Session{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(u).Error; err != nil {
			return err
		}
		ev := m.Event("user.delete", "user", u.Email, "delete", "success")
		ev.Changes = map[string]audit.Change{"roles": {Old: u.Roles, New: nil}}
		_, err = store.AppendAudit(tx, ev)
		return err
	})
}

// keepAnAdmin refuses a change that would leave no enabled Admin besides
// the user being changed.
func (s *Service) keepAnAdmin(tx *gorm.DB, exceptID uint64) error {
	var others []store.User
	if err := tx.Where("id <> ? AND disabled = ?", exceptID, false).Find(&others).Error; err != nil {
		return err
	}
	for _, o := range others {
		if slices.Contains(o.Roles, rbac.Admin) {
			return nil
		}
	}
	return ErrLastAdmin
}
