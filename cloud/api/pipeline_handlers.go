package api

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/secretbind"
)

// PipelineService is what the pipeline handlers need (cloud/pipelines).
type PipelineService interface {
	Create(ctx context.Context, o pipelines.Origin, id, description string, in pipelines.Input) (pipelines.Pipeline, error)
	Update(ctx context.Context, o pipelines.Origin, id string, base int, description *string, in pipelines.Input) (pipelines.Pipeline, error)
	Get(ctx context.Context, id string) (pipelines.Pipeline, error)
	List(ctx context.Context) ([]pipelines.Pipeline, error)
	Versions(ctx context.Context, id string) ([]pipelines.Version, error)
	Version(ctx context.Context, id string, version int) (pipelines.Version, error)
	Diff(ctx context.Context, id string, from, to int) ([]pipelines.Change, error)
	Delete(ctx context.Context, o pipelines.Origin, id string) error
	Deploy(ctx context.Context, o pipelines.Origin, id string, t pipelines.Targets, access []string, write pipelines.Deployer) (pipelines.Deployment, error)
	Deployments(ctx context.Context, id string, access []string) ([]pipelines.DeploymentView, error)
	InRollout(ctx context.Context, gatewayID string, access []string) (bool, error)
}

// pipelineAPI holds the pipeline handlers.
type pipelineAPI struct {
	s   *Server
	svc PipelineService
}

// pipelineRoutes: pipelines and their versions, diff and deploy (#12).
// add registers a route under /api/v1 behind the signed-in users'
// middleware (authentication first), so these routes are management
// routes like the users' and gateways'.
func (s *Server) pipelineRoutes(add func(method, path string, h []fiber.Handler)) {
	h := &pipelineAPI{s: s, svc: s.deps.Pipelines}
	read := s.require(rbac.PipelinesRead)
	for _, r := range []struct {
		method, path string
		h            []fiber.Handler
	}{
		{fiber.MethodGet, "/pipelines", []fiber.Handler{read, h.list}},
		{fiber.MethodPost, "/pipelines", []fiber.Handler{s.require(rbac.PipelinesCreate), h.create}},
		{fiber.MethodPost, "/pipelines/validate", []fiber.Handler{s.require(rbac.PipelinesCreate), h.validate}},
		{fiber.MethodGet, "/pipelines/:id", []fiber.Handler{read, h.get}},
		{fiber.MethodPut, "/pipelines/:id", []fiber.Handler{s.require(rbac.PipelinesUpdate), h.update}},
		{fiber.MethodDelete, "/pipelines/:id", []fiber.Handler{s.require(rbac.PipelinesDelete), h.delete}},
		{fiber.MethodGet, "/pipelines/:id/versions", []fiber.Handler{read, h.versions}},
		{fiber.MethodGet, "/pipelines/:id/versions/:version", []fiber.Handler{read, h.version}},
		{fiber.MethodGet, "/pipelines/:id/diff", []fiber.Handler{read, h.diff}},
		{fiber.MethodPost, "/pipelines/:id/deploy", []fiber.Handler{s.require(rbac.ConfigsDeploy), h.deploy}},
		{fiber.MethodGet, "/pipelines/:id/deployments", []fiber.Handler{read, h.deployments}},
	} {
		add(r.method, r.path, r.h)
	}
}

func (h *pipelineAPI) list(c *fiber.Ctx) error {
	ps, err := h.svc.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"pipelines": ps})
}

type pipelineBody struct {
	ID string `json:"id"`
	// Description, on update, is kept when absent.
	Description *string `json:"description"`
	// BaseVersion (updates) is the version the client edited.
	BaseVersion int `json:"base_version"`
	pipelines.Input
}

func (h *pipelineAPI) create(c *fiber.Ctx) error {
	var b pipelineBody
	if err := decode(c, &b); err != nil {
		return err
	}
	var desc string
	if b.Description != nil {
		desc = *b.Description
	}
	p, err := h.svc.Create(c.UserContext(), h.s.meta(c), b.ID, desc, b.Input)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (h *pipelineAPI) validate(c *fiber.Ctx) error {
	var in pipelines.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	doc, err := pipelines.Validate(in)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"valid": true, "spec": doc})
}

func (h *pipelineAPI) get(c *fiber.Ctx) error {
	p, err := h.svc.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (h *pipelineAPI) update(c *fiber.Ctx) error {
	var b pipelineBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.ID != "" && b.ID != c.Params("id") {
		return errs.Invalid("id", "a pipeline cannot be renamed")
	}
	p, err := h.svc.Update(c.UserContext(), h.s.meta(c), c.Params("id"), b.BaseVersion, b.Description, b.Input)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (h *pipelineAPI) delete(c *fiber.Ctx) error {
	if err := h.svc.Delete(c.UserContext(), h.s.meta(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *pipelineAPI) versions(c *fiber.Ctx) error {
	vs, err := h.svc.Versions(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"versions": vs})
}

func (h *pipelineAPI) version(c *fiber.Ctx) error {
	n, err := versionParam(c.Params("version"), "version")
	if err != nil {
		return err
	}
	v, err := h.svc.Version(c.UserContext(), c.Params("id"), n)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (h *pipelineAPI) diff(c *fiber.Ctx) error {
	from, err := versionParam(c.Query("from"), "from")
	if err != nil {
		return err
	}
	to, err := versionParam(c.Query("to"), "to")
	if err != nil {
		return err
	}
	cs, err := h.svc.Diff(c.UserContext(), c.Params("id"), from, to)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"from": from, "to": to, "changes": cs})
}

func versionParam(v, name string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errs.Invalid(name, "want a version number (1 or more)")
	}
	return n, nil
}

// deploy writes a version to each target through the gateways' signed
// config path, with the caller's gateway access: a gateway it cannot see
// is reported as not found, like everywhere else.
func (h *pipelineAPI) deploy(c *fiber.Ctx) error {
	var t pipelines.Targets
	if err := decode(c, &t); err != nil {
		return err
	}
	meta, access := h.s.gwMeta(c), h.s.access(c)
	write := func(ctx context.Context, gw string, doc json.RawMessage) (int, error) {
		return h.s.WriteConfig(ctx, meta, access, gw, doc)
	}
	d, err := h.svc.Deploy(c.UserContext(), h.s.meta(c), c.Params("id"), t, access, write)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (h *pipelineAPI) deployments(c *fiber.Ctx) error {
	ds, err := h.svc.Deployments(c.UserContext(), c.Params("id"), h.s.access(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"deployments": ds})
}

// WriteConfig writes doc as gateway gw's next config version (a signed
// bundle) as o within access; its errors are client-safe (an internal one
// is logged and shown as errs.Internal's message).
func (s *Server) WriteConfig(ctx context.Context, o audit.Origin, access []string, gw string, doc json.RawMessage) (int, error) {
	cfg, err := s.gateways.configs.Deploy(ctx, o, access, gw, doc)
	if err != nil {
		if v := (*secretbind.Violation)(nil); errors.As(err, &v) {
			return 0, v // client-safe, and what a deploy branches on
		}
		if ce := asClientError(err); ce != nil {
			return 0, ce
		}
		s.log.Error("deploy pipeline config", "gateway_id", gw, "err", err)
		return 0, errors.New("not written (see the server log)")
	}
	return cfg.Version, nil
}
