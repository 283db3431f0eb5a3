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

// AuditReader is what the audit handlers read: records, the chain with
// its signed checkpoints, and the compliance reports.
type AuditReader interface {
	audit.Querier
	audit.CheckpointReader
	audit.Reports
}

// wholeAudit is the trail unscoped: verification and the failed-login
// review read every record.
func (s *Server) wholeAudit(c *fiber.Ctx) AuditReader { return s.deps.Audit(c.UserContext(), nil) }

// scopedAudit is the trail as an audit reader may see it: without the
// records about gateways and enrollment tokens outside its gateway_access.
func (s *Server) scopedAudit(c *fiber.Ctx) AuditReader {
	if access := s.access(c); !rbac.Unrestricted(access) {
		return s.deps.Audit(c.UserContext(), &audit.Scope{Sites: access, User: claimsOf(c).Subject})
	}
	return s.wholeAudit(c)
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
	rep, err := s.verifyChain(c)
	if err != nil {
		return err
	}
	s.auditVerified(c.UserContext(), rep)
	return c.JSON(rep)
}

// verifyChain checks the hash chain, and with AuditKeys the signed
// checkpoints and the anchor file too.
func (s *Server) verifyChain(c *fiber.Ctx) (audit.Report, error) {
	if s.deps.AuditKeys == nil {
		return audit.Verify(s.wholeAudit(c))
	}
	anchor, err := audit.ReadAnchor(s.opts.AuditAnchorFile)
	if err != nil {
		return audit.Report{}, err
	}
	return audit.VerifyWithCheckpoints(s.wholeAudit(c), s.deps.AuditKeys, anchor)
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
