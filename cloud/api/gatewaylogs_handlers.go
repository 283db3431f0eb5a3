package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/gatewaylogs"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/pkg/wire"
)

// GatewayLogs is what the log routes need of cloud/gatewaylogs.
type GatewayLogs interface {
	Ingest(ctx context.Context, gatewayID string, b wire.LogBatch) error
	Query(ctx context.Context, gatewayID string, f gatewaylogs.Filter) (gatewaylogs.Page, error)
}

// gatewayLogRoutes: a gateway ships its recent log lines (after each
// heartbeat); a user with logs:read reads those of the gateways in its
// gateway_access.
func (s *Server) gatewayLogRoutes(device, users routeGroup) {
	logs := s.deps.GatewayLogs
	device.Post("/gateways/:id/logs", s.gatewayAuth, s.ownGateway, shipLogs(logs))
	users.Get("/gateways/:id/logs", s.require(rbac.LogsRead), s.scoped, s.readLogs(logs))
}

func shipLogs(logs GatewayLogs) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var b wire.LogBatch
		if err := decode(c, &b); err != nil {
			return err
		}
		if err := logs.Ingest(c.UserContext(), c.Params("id"), b); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func (s *Server) readLogs(logs GatewayLogs) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// A gateway outside the caller's gateway_access is "not found".
		if _, err := s.gateways.fleet.Get(c.UserContext(), s.access(c), c.Params("id")); err != nil {
			return err
		}
		lq, err := listParams(c)
		if err != nil {
			return err
		}
		f := gatewaylogs.Filter{Level: c.Query("level"), From: lq.from, To: lq.to, Limit: lq.limit, Cursor: lq.cursor}
		page, err := logs.Query(c.UserContext(), c.Params("id"), f)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"gateway_id": c.Params("id"), "lines": page.Lines, "next_cursor": page.NextCursor})
	}
}

// listQuery holds the paging and time range parameters the list routes
// share: from and to (RFC 3339), limit (positive) and cursor (the
// next_cursor of a previous page).
type listQuery struct {
	from, to time.Time
	limit    int
	cursor   uint64
}

func listParams(c *fiber.Ctx) (listQuery, error) {
	var q listQuery
	var err error
	if q.from, err = timeParam(c, "from"); err != nil {
		return q, err
	}
	if q.to, err = timeParam(c, "to"); err != nil {
		return q, err
	}
	if v := c.Query("limit"); v != "" {
		if q.limit, err = strconv.Atoi(v); err != nil || q.limit < 1 {
			return q, errorf(fiber.StatusBadRequest, "limit: want a positive integer")
		}
	}
	if v := c.Query("cursor"); v != "" {
		if q.cursor, err = strconv.ParseUint(v, 10, 63); err != nil || q.cursor == 0 {
			return q, errorf(fiber.StatusBadRequest, "cursor: want the next_cursor of a previous page")
		}
	}
	return q, nil
}
