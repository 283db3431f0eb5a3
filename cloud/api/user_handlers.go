package api

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/users"
)

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
	if err := s.users.Delete(c.UserContext(), s.meta(c), email); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
