package api

import (
	"context"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/alarms"
	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
)

// AlarmService is what the alarm routes need (cloud/alarms.Service).
type AlarmService interface {
	List(ctx context.Context, v alarms.Viewer, q alarms.Query) (alarms.Page, error)
	Ack(ctx context.Context, v alarms.Viewer, origin audit.Origin, id uint64) (alarms.Alarm, error)
}

// AuditAlarm is told when the audit chain does not verify (the evaluator's
// hook), so that a failed verification is a security alarm.
type AuditAlarm interface {
	AuditVerificationFailed(ctx context.Context, problem string)
}

// alarmRoutes are signed-in users' routes: add registers one under
// /api/v1 behind authentication. Reading needs dashboards:read (security
// alarms also audit:read, checked by the service), acknowledging
// alarms:ack.
func (s *Server) alarmRoutes(add func(method, path string, h []fiber.Handler)) {
	add(fiber.MethodGet, "/alarms", []fiber.Handler{s.require(rbac.DashboardsRead), s.listAlarms})
	add(fiber.MethodPost, "/alarms/:id/acknowledge", []fiber.Handler{s.require(rbac.AlarmsAck), s.ackAlarm})
}

func (s *Server) alarmViewer(c *fiber.Ctx) alarms.Viewer {
	cl := claimsOf(c)
	return alarms.Viewer{Permissions: rbac.Permissions(cl.Roles), Access: cl.GatewayAccess}
}

func (s *Server) alarmService() (AlarmService, error) {
	if s.deps.Alarms == nil {
		return nil, errorf(fiber.StatusServiceUnavailable, "alarms are not enabled on this server")
	}
	return s.deps.Alarms, nil
}

func (s *Server) listAlarms(c *fiber.Ctx) error {
	svc, err := s.alarmService()
	if err != nil {
		return err
	}
	q := alarms.Query{State: c.Query("state"), Category: c.Query("category"), Severity: c.Query("severity"),
		GatewayID: c.Query("gateway_id"), Kind: c.Query("kind")}
	if v := c.Query("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 {
			return errorf(fiber.StatusBadRequest, "limit: want a positive integer")
		}
	}
	if v := c.Query("cursor"); v != "" {
		var ok bool
		if q.Cursor, ok = parseID(v); !ok {
			return errorf(fiber.StatusBadRequest, "cursor: want the next_cursor of a previous page")
		}
	}
	page, err := svc.List(c.UserContext(), s.alarmViewer(c), q)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) ackAlarm(c *fiber.Ctx) error {
	svc, err := s.alarmService()
	if err != nil {
		return err
	}
	id, ok := parseID(c.Params("id"))
	if !ok {
		return errorf(fiber.StatusBadRequest, "id: want an alarm id")
	}
	a, err := svc.Ack(c.UserContext(), s.alarmViewer(c), s.meta(c), id)
	if errors.Is(err, alarms.ErrOutsideView) {
		// Answered 404 like a missing alarm; the trail tells them apart,
		// as for a gateway outside gateway_access.
		s.refused(c, "authorization.denied", claimsOf(c).Subject, "alarm outside the caller's view")
	}
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// auditVerified tells the alarm hook about a chain that failed to verify.
func (s *Server) auditVerified(ctx context.Context, rep audit.Report) {
	if !rep.OK && s.deps.AuditAlarm != nil {
		s.deps.AuditAlarm.AuditVerificationFailed(ctx, rep.Problem)
	}
}
