package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/users"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type tokenResponse struct {
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	CSRFToken string    `json:"csrf_token"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return errorf(fiber.StatusBadRequest, "email and password are required")
	}
	sess, err := s.users.Login(c.UserContext(), s.meta(c), req.Email, req.Password)
	if err != nil {
		return err
	}
	return s.sendSession(c, sess)
}

// sendSession sets sess as the session cookie and answers it. A request
// that authenticated by the cookie (the dashboard's refresh and password
// change) gets the new token in the cookie only: in the body, script
// could read it, and a script injected into the page could mint and carry
// off a fresh 24 h token, which the HttpOnly cookie is there to prevent.
func (s *Server) sendSession(c *fiber.Ctx, sess users.Session) error {
	c.Cookie(&fiber.Cookie{
		Name: SessionCookie, Value: sess.Token, Path: "/", Expires: sess.ExpiresAt(),
		Secure: true, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
	})
	r := tokenResponse{Token: sess.Token, ExpiresAt: sess.ExpiresAt().UTC(), CSRFToken: sess.Claims.CSRF}
	if viaCookie, _ := c.Locals(viaCookieKey).(bool); viaCookie {
		r.Token = ""
	}
	return c.JSON(r)
}

type passwordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword lets the caller set a new password by giving the current
// one; every other session of theirs ends, and the answer is a new session.
func (s *Server) changePassword(c *fiber.Ctx) error {
	var req passwordChange
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		return errorf(fiber.StatusBadRequest, "current_password and new_password are required")
	}
	sess, err := s.users.ChangePassword(c.UserContext(), s.meta(c), claimsOf(c), req.CurrentPassword, req.NewPassword)
	if err != nil {
		return err
	}
	return s.sendSession(c, sess)
}

func (s *Server) refresh(c *fiber.Ctx) error {
	sess, err := s.users.Refresh(c.UserContext(), s.meta(c), claimsOf(c))
	if err != nil {
		return err
	}
	return s.sendSession(c, sess)
}

func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.users.Logout(c.UserContext(), s.meta(c), claimsOf(c)); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: SessionCookie, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
		Secure: true, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
	})
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error {
	cl := claimsOf(c)
	return c.JSON(fiber.Map{
		"email": cl.Subject, "roles": cl.Roles, "permissions": rbac.Permissions(cl.Roles),
		"gateway_access": cl.GatewayAccess, "expires_at": cl.ExpiresAt.Time.UTC(), "csrf_token": cl.CSRF,
	})
}
