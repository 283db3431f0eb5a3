package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/rollout"
)

// RolloutService is what the rollout routes need of cloud/rollout.
type RolloutService interface {
	Create(ctx context.Context, o audit.Origin, id string, req rollout.Request, access []string) (rollout.View, error)
	List(ctx context.Context, id string, access []string) ([]rollout.View, error)
	Get(ctx context.Context, id string, rid uint64, access []string) (rollout.View, error)
	Rollback(ctx context.Context, o audit.Origin, id string, rid uint64, access []string) (rollout.View, error)
}

type rolloutAPI struct {
	s   *Server
	svc RolloutService
}

// rolloutRoutes: staged rollouts of pipeline versions, their status and
// rollback (#12); the rollout.Engine owned by serve advances them. add
// registers a route under /api/v1 behind the signed-in users' middleware
// (the shape of main's routeGroup.add).
func (s *Server) rolloutRoutes(add func(method, path string, h []fiber.Handler)) {
	h := &rolloutAPI{s: s, svc: s.deps.Rollouts}
	read, deploy := s.require(rbac.PipelinesRead), s.require(rbac.ConfigsDeploy)
	add(fiber.MethodPost, "/pipelines/:id/rollouts", []fiber.Handler{deploy, h.create})
	add(fiber.MethodGet, "/pipelines/:id/rollouts", []fiber.Handler{read, h.list})
	add(fiber.MethodGet, "/pipelines/:id/rollouts/:rid", []fiber.Handler{read, h.get})
	add(fiber.MethodPost, "/pipelines/:id/rollouts/:rid/rollback", []fiber.Handler{deploy, h.rollback})
}

func (h *rolloutAPI) create(c *fiber.Ctx) error {
	var req rollout.Request
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := h.checkSecrets(c, c.Params("id"), req.Targets.Version); err != nil {
		return err
	}
	v, err := h.svc.Create(c.UserContext(), h.s.meta(c), c.Params("id"), req, h.s.access(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

// checkSecrets refuses (409, audited as a denied rollout.create) a
// version that sends a bound secret outside its destinations
// (cloud/secretbind) before the rollout is stored. A pipeline or version
// that cannot be read is left to Create, which says what is wrong.
func (h *rolloutAPI) checkSecrets(c *fiber.Ctx, id string, version int) error {
	ctx := c.UserContext()
	if version == 0 {
		p, err := h.s.deps.Pipelines.Get(ctx, id)
		if err != nil {
			return nil
		}
		version = p.Version
	}
	v, err := h.s.deps.Pipelines.Version(ctx, id, version)
	if err != nil {
		return nil
	}
	m := h.s.meta(c)
	denied := m.Event("rollout.create", "pipeline", id, "create", audit.ResultDenied)
	denied.Changes = map[string]audit.Change{"version": {New: version}}
	return h.s.gateways.configs.CheckSecrets(ctx, m, v.Spec, denied)
}

func (h *rolloutAPI) list(c *fiber.Ctx) error {
	vs, err := h.svc.List(c.UserContext(), c.Params("id"), h.s.access(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rollouts": vs})
}

func (h *rolloutAPI) get(c *fiber.Ctx) error {
	rid, err := rolloutID(c)
	if err != nil {
		return err
	}
	v, err := h.svc.Get(c.UserContext(), c.Params("id"), rid, h.s.access(c))
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h *rolloutAPI) rollback(c *fiber.Ctx) error {
	rid, err := rolloutID(c)
	if err != nil {
		return err
	}
	v, err := h.svc.Rollback(c.UserContext(), h.s.meta(c), c.Params("id"), rid, h.s.access(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(v)
}

func rolloutID(c *fiber.Ctx) (uint64, error) {
	n, ok := parseID(c.Params("rid"))
	if !ok {
		return 0, errs.Invalid("rollout", "want a rollout id (a positive number)")
	}
	return n, nil
}
