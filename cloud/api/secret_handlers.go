package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/secrets"
	"github.com/streamforge/streamforge/pkg/secretprot"
	"github.com/streamforge/streamforge/pkg/wire"
)

// SecretService is what the secret handlers need (cloud/secrets.Service).
type SecretService interface {
	Create(ctx context.Context, o secrets.Origin, name, value, description string, destinations []string, prot *secretprot.Protection) (secrets.Metadata, error)
	Update(ctx context.Context, o secrets.Origin, name, value string, description *string, destinations *[]string, prot *secretprot.Protection) (secrets.Metadata, error)
	Delete(ctx context.Context, o secrets.Origin, name string) error
	List(ctx context.Context) ([]secrets.Metadata, error)
	Get(ctx context.Context, name string) (secrets.Metadata, error)
	ForGateway(ctx context.Context, o secrets.Origin, gatewayID string) (secrets.Delivery, error)
}

type secretAPI struct {
	s   *Server
	svc SecretService
}

var errNoSecrets = errs.New(errs.Unavailable, "secrets are not configured on this control plane (STREAMFORGE_SECRET_KEY_DIR)")

// secretRoutes: the secrets API (#12). Users manage secrets on the plain
// listener; values leave the control plane only through the device route,
// which exists on the mTLS gateway listener alone, for the gateway the
// certificate names, and only the secrets its deployed config references.
func (s *Server) secretRoutes(users func(method, path string, h []fiber.Handler)) {
	h := &secretAPI{s: s, svc: s.deps.Secrets}
	read, manage := s.require(rbac.SecretsRead), s.require(rbac.SecretsManage)
	users(fiber.MethodGet, "/secrets", []fiber.Handler{read, h.ready, h.list})
	users(fiber.MethodPost, "/secrets", []fiber.Handler{manage, h.ready, h.create})
	users(fiber.MethodGet, "/secrets/:name", []fiber.Handler{read, h.ready, h.get})
	users(fiber.MethodPut, "/secrets/:name", []fiber.Handler{manage, h.ready, h.update})
	users(fiber.MethodDelete, "/secrets/:name", []fiber.Handler{manage, h.ready, h.delete})
	s.app.Get("/api/v1/gateways/:id/secrets", s.gatewayListenerOnly, requirePeerCert, s.gatewayAuth, s.ownGateway, h.ready, h.deliver)
}

func (h *secretAPI) ready(c *fiber.Ctx) error {
	if h.svc == nil {
		return errNoSecrets
	}
	return c.Next()
}

type secretBody struct {
	Name         string    `json:"name"`
	Value        string    `json:"value"`
	Description  *string   `json:"description"`
	Destinations *[]string `json:"destinations"`
	// MinProtection: absent keeps it, {} unbinds it (pkg/secretprot).
	MinProtection *secretprot.Protection `json:"min_protection"`
}

func (h *secretAPI) list(c *fiber.Ctx) error {
	ms, err := h.svc.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"secrets": ms})
}

func (h *secretAPI) get(c *fiber.Ctx) error {
	m, err := h.svc.Get(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (h *secretAPI) create(c *fiber.Ctx) error {
	var b secretBody
	if err := decode(c, &b); err != nil {
		return err
	}
	var desc string
	if b.Description != nil {
		desc = *b.Description
	}
	var dests []string
	if b.Destinations != nil {
		dests = *b.Destinations
	}
	m, err := h.svc.Create(c.UserContext(), h.s.meta(c), b.Name, b.Value, desc, dests, b.MinProtection)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

func (h *secretAPI) update(c *fiber.Ctx) error {
	var b secretBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Name != "" && b.Name != c.Params("name") {
		return errs.Invalid("name", "does not match the path")
	}
	m, err := h.svc.Update(c.UserContext(), h.s.meta(c), c.Params("name"), b.Value, b.Description, b.Destinations, b.MinProtection)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (h *secretAPI) delete(c *fiber.Ctx) error {
	if err := h.svc.Delete(c.UserContext(), h.s.meta(c), c.Params("name")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// deliver answers the gateway: the one answer that carries values (the
// server marks every answer no-store).
func (h *secretAPI) deliver(c *fiber.Ctx) error {
	id := c.Params("id")
	m := h.s.meta(c)
	m.Actor = "gateway:" + id
	d, err := h.svc.ForGateway(c.UserContext(), m, id)
	if err != nil {
		return err
	}
	out := wire.SecretsResponse{ConfigVersion: d.ConfigVersion, Secrets: make(map[string]string, len(d.Values)),
		Destinations: d.Destinations, Protection: d.Protection, Missing: d.Missing}
	for n, v := range d.Values {
		out.Secrets[n] = v.Reveal()
	}
	return c.JSON(out)
}
