package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
)

func timeParam(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errorf(fiber.StatusBadRequest, name+": want an RFC 3339 time such as 2026-01-31T00:00:00Z")
	}
	return t.UTC(), nil
}

// auditReader is what the audit handlers read.
type auditReader interface {
	audit.Querier
	audit.ChainReader
	audit.Reports
}

// wholeAudit is the trail unscoped: verification and the failed-login
// review read every record.
func (s *Server) wholeAudit(c *fiber.Ctx) auditReader { return s.store.Audit(c.UserContext()) }

// scopedAudit is the trail as an audit reader may see it: without the
// records about gateways and enrollment tokens outside its gateway_access.
func (s *Server) scopedAudit(c *fiber.Ctx) auditReader {
	repo := s.store.Audit(c.UserContext())
	if access := s.access(c); !rbac.Unrestricted(access) {
		return repo.Within(&audit.Scope{Sites: access})
	}
	return repo
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	q, err := listParams(c)
	if err != nil {
		return err
	}
	f := audit.Filter{User: c.Query("user"), EventTypePrefix: c.Query("event_type"), ResourceID: c.Query("resource_id"),
		From: q.from, To: q.to, Limit: q.limit, Cursor: int64(q.cursor)}
	page, err := audit.Query(s.scopedAudit(c), f)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) verifyAudit(c *fiber.Ctx) error {
	if s.opts.AuditKeys == nil {
		rep, err := audit.Verify(s.wholeAudit(c))
		if err != nil {
			return err
		}
		s.auditVerified(c.UserContext(), rep)
		return c.JSON(rep)
	}
	anchor, err := audit.ReadAnchor(s.opts.AuditAnchorFile)
	if err != nil {
		return err
	}
	rep, err := audit.VerifyWithCheckpoints(s.store.Audit(c.UserContext()), s.opts.AuditKeys, anchor)
	if err != nil {
		return err
	}
	s.auditVerified(c.UserContext(), rep)
	return c.JSON(rep)
}

func (s *Server) complianceGDPR(c *fiber.Ctx) error {
	user := c.Query("user")
	if user == "" {
		return errorf(fiber.StatusBadRequest, "user: the email whose events to list is required")
	}
	recs, err := audit.GDPRUserEvents(s.scopedAudit(c), user, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": user, "days": 90, "records": recs})
}

func (s *Server) complianceSOC2(c *fiber.Ctx) error {
	from, err := timeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(c, "to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = time.Now().UTC()
	}
	if from.IsZero() {
		from = to.AddDate(-1, 0, 0)
	}
	recs, err := audit.SOC2ConfigChanges(s.scopedAudit(c), from, to)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"from": from, "to": to, "records": recs})
}

func (s *Server) complianceISO27001(c *fiber.Ctx) error {
	rows, err := audit.ISO27001FailedLogins(s.wholeAudit(c), time.Now())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"days": 30, "threshold": 5, "users": rows})
}
