package api

import (
	"context"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/users"
)

// Users is what the handlers need of the users domain (users.Service):
// sessions for the auth routes, accounts for the user routes.
type Users interface {
	Login(ctx context.Context, m users.Meta, email, password string) (users.Session, error)
	Authenticate(ctx context.Context, token string) (*auth.Claims, error)
	Refresh(ctx context.Context, m users.Meta, c *auth.Claims) (users.Session, error)
	Logout(ctx context.Context, m users.Meta, c *auth.Claims) error
	ChangePassword(ctx context.Context, m users.Meta, c *auth.Claims, current, next string) (users.Session, error)

	Create(ctx context.Context, m users.Meta, in users.CreateInput) (users.View, error)
	List(ctx context.Context) ([]users.View, error)
	Get(ctx context.Context, email string) (users.View, error)
	Update(ctx context.Context, m users.Meta, email string, in users.UpdateInput) (users.View, error)
	SetDisabled(ctx context.Context, m users.Meta, email string, disabled bool) (users.View, error)
	Delete(ctx context.Context, m users.Meta, email string) error
}

var errWiderAccess = errorf(fiber.StatusForbidden,
	"gateway_access: you can grant, and manage users with, only the gateways and sites you have yourself")

// checkGrant refuses (and audits) a gateway_access wider than the
// caller's: gateway_access confines Admins too, so a site-scoped Admin can
// neither widen its own reach nor make or manage an account that has more.
func (s *Server) checkGrant(c *fiber.Ctx, target string, requested []string) error {
	siteOf := func(id string) string { return s.gateways.fleet.SiteOf(c.UserContext(), id) }
	isSite := func(name string) bool { return s.gateways.fleet.SiteInUse(c.UserContext(), name) }
	if rbac.Grants(s.access(c), requested, siteOf, isSite) {
		return nil
	}
	m := s.meta(c)
	ev := m.Event("authorization.denied", c.Route().Path, target, c.Method(), audit.ResultDenied)
	ev.Reason = "gateway_access wider than the caller's"
	if err := s.trail.Append(c.UserContext(), ev); err != nil {
		return err
	}
	return errWiderAccess
}

// checkTarget applies checkGrant to the current gateway_access of the
// account being changed.
func (s *Server) checkTarget(c *fiber.Ctx, email string) error {
	v, err := s.users.Get(c.UserContext(), email)
	if err != nil {
		return err
	}
	return s.checkGrant(c, email, v.GatewayAccess)
}

func emailParam(c *fiber.Ctx) (string, error) {
	e, err := url.PathUnescape(c.Params("email"))
	if err != nil || e == "" {
		return "", errorf(fiber.StatusBadRequest, "invalid email in path")
	}
	return e, nil
}

func (s *Server) createUser(c *fiber.Ctx) error {
	var in users.CreateInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := s.checkGrant(c, in.Email, in.GatewayAccess); err != nil {
		return err
	}
	v, err := s.users.Create(c.UserContext(), s.meta(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	vs, err := s.users.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"users": vs})
}

func (s *Server) getUser(c *fiber.Ctx) error {
	email, err := emailParam(c)
	if err != nil {
		return err
	}
	v, err := s.users.Get(c.UserContext(), email)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) updateUser(c *fiber.Ctx) error {
	email, err := emailParam(c)
	if err != nil {
		return err
	}
	var in users.UpdateInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := s.checkTarget(c, email); err != nil {
		return err
	}
	if in.GatewayAccess != nil {
		if err := s.checkGrant(c, email, *in.GatewayAccess); err != nil {
			return err
		}
	}
	v, err := s.users.Update(c.UserContext(), s.meta(c), email, in)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) setDisabled(c *fiber.Ctx, disabled bool) error {
	email, err := emailParam(c)
	if err != nil {
		return err
	}
	if err := s.checkTarget(c, email); err != nil {
		return err
	}
	v, err := s.users.SetDisabled(c.UserContext(), s.meta(c), email, disabled)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) disableUser(c *fiber.Ctx) error { return s.setDisabled(c, true) }
func (s *Server) enableUser(c *fiber.Ctx) error  { return s.setDisabled(c, false) }

func (s *Server) deleteUser(c *fiber.Ctx) error {
	email, err := emailParam(c)
	if err != nil {
		return err
	}
	if err := s.checkTarget(c, email); err != nil {
		return err
	}
	if err := s.users.Delete(c.UserContext(), s.meta(c), email); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
