package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/gateways"
)

// Refused credentials are audited as credential.refused (gateway access
// outside a user's scope as authorization.denied), aggregated per source by
// audit.Tally: anyone can send a forged token, so they must not grow the
// trail one record each.
const eventCredentialRefused = "credential.refused"

// AuditTrail records events that go with no other change: denials and
// refusals (the store's AuditLog).
type AuditTrail interface {
	Append(ctx context.Context, ev audit.Event) error
	Tally(ctx context.Context, ev audit.Event, now time.Time) error
}

// refused audits a refused credential. user is who the credential proved
// to be, "" when it proved nothing. The request is refused either way, so
// an audit failure is logged rather than answered.
func (s *Server) refused(c *fiber.Ctx, eventType, user, reason string) {
	m := s.meta(c)
	ev := audit.Event{EventType: eventType, User: user, IPAddress: m.IP, UserAgent: m.UserAgent,
		Resource: c.Route().Path, ResourceID: c.Params("id"), Action: c.Method(), Result: audit.ResultDenied, Reason: reason}
	s.tallyRefusal(c.UserContext(), ev)
}

// tallyRefusal records a refusal; the request (or TLS handshake) is
// refused either way, so a failure is logged rather than answered.
func (s *Server) tallyRefusal(ctx context.Context, ev audit.Event) {
	if err := s.trail.Tally(ctx, ev, time.Now()); err != nil {
		s.log.Error("audit refused credential", "reason", ev.Reason, "err", err)
	}
}

// tokenReason names why a token was refused, for the audit trail only.
func tokenReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "reused"):
		return "token_reused"
	case strings.Contains(msg, "expired"):
		return "token_expired"
	case strings.Contains(msg, "revoked"):
		return "token_revoked"
	case strings.Contains(msg, "unknown session"), strings.Contains(msg, "unknown gateway token"):
		return "token_unknown"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "unknown kid"):
		return "token_forged"
	}
	return "token_invalid"
}

// scoped audits a user's request for a gateway outside their
// gateway_access. The gateways service answers such a request 404, like a
// gateway that does not exist, so that nobody learns which ids exist
// elsewhere; the audit trail tells the two apart.
func (s *Server) scoped(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil || !errors.Is(err, gateways.ErrNotFound) || c.Params("id") == "" {
		return err
	}
	if _, gerr := s.gateways.fleet.Get(c.UserContext(), []string{"*"}, c.Params("id")); gerr == nil {
		user := ""
		if cl := claimsOf(c); cl != nil {
			user = cl.Subject
		}
		s.refused(c, "authorization.denied", user, "gateway outside the caller's gateway_access")
	}
	return err
}
