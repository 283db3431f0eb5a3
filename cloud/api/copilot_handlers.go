package api

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/conntest"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/proposals"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/serviceaccounts"
	"github.com/streamforge/streamforge/pkg/wire"
)

// ServiceAccountService is what the service account routes and the token
// check need (cloud/serviceaccounts).
type ServiceAccountService interface {
	Authenticate(ctx context.Context, token string) (*auth.Claims, error)
	Create(ctx context.Context, o serviceaccounts.Origin, in serviceaccounts.CreateInput) (serviceaccounts.Account, error)
	List(ctx context.Context) ([]serviceaccounts.Account, error)
	Get(ctx context.Context, name string) (serviceaccounts.Account, error)
	Delete(ctx context.Context, o serviceaccounts.Origin, name string) error
	IssueToken(ctx context.Context, o serviceaccounts.Origin, name string, lifetime time.Duration) (serviceaccounts.IssuedToken, error)
	Tokens(ctx context.Context, name string) ([]serviceaccounts.TokenView, error)
	RevokeToken(ctx context.Context, o serviceaccounts.Origin, name string, id uint64) error
}

// ProposalService is what the proposal routes need (cloud/proposals).
type ProposalService interface {
	Create(ctx context.Context, o proposals.Origin, in proposals.CreateInput) (proposals.Proposal, error)
	List(ctx context.Context, status string) ([]proposals.Proposal, error)
	Get(ctx context.Context, id uint64) (proposals.Proposal, error)
	Approve(ctx context.Context, o proposals.Origin, id uint64) (proposals.Proposal, error)
	Reject(ctx context.Context, o proposals.Origin, id uint64, reason string) (proposals.Proposal, error)
}

// ConnTestService is what the connection test routes need (cloud/conntest).
type ConnTestService interface {
	Ask(ctx context.Context, o pipelines.Origin, r conntest.Request) (conntest.Test, error)
	Get(ctx context.Context, id uint64) (conntest.Test, error)
	Take(ctx context.Context, gatewayID string) ([]wire.ConnectionTest, error)
	Complete(ctx context.Context, gatewayID string, id uint64, r wire.ConnectionTestResult) error
}

// ConnTestHints tells config polls whether connection tests wait
// (conntest.Hints: one value per process, it caches).
type ConnTestHints interface {
	Waiting(ctx context.Context, gatewayID string) (bool, error)
	Forget()
}

// CopilotServices are the services of the #12 routes: service accounts
// and their tokens, proposals, connection tests.
type CopilotServices struct {
	Accounts  ServiceAccountService
	Proposals ProposalService
	Tests     ConnTestService
	Hints     ConnTestHints
}

// copilotServicesOf: serve (and the tests) build them over the store;
// the routes and the token check share the one value (Hints cache).
func (s *Server) copilotServicesOf() CopilotServices { return s.deps.Copilot }

// authenticateToken verifies a user session token, or a service account's
// API token (told apart by its prefix): both give claims.
func (s *Server) authenticateToken(ctx context.Context, token string) (*auth.Claims, error) {
	if serviceaccounts.IsToken(token) {
		return s.copilot.Accounts.Authenticate(ctx, token)
	}
	return s.users.Authenticate(ctx, token)
}

// errNotASession refuses the session routes to service account tokens:
// an Admin issues and revokes those, they have no password.
var errNotASession = errorf(fiber.StatusForbidden,
	"a service account token is not a session: an Admin issues and revokes it (/api/v1/service-accounts)")

// sessionsOnly keeps service account tokens off the routes of a person's
// session (refresh, logout, password), which would otherwise act on a
// user account of the service account's name (and audit a logout that
// revoked nothing).
func (s *Server) sessionsOnly(c *fiber.Ctx) error {
	if cl := claimsOf(c); cl != nil && strings.HasPrefix(cl.Subject, serviceaccounts.SubjectPrefix) {
		return errNotASession
	}
	return c.Next()
}

// copilotAPI holds the handlers of service accounts, proposals and
// connection tests (#12).
type copilotAPI struct {
	s *Server
	CopilotServices
}

// copilotRoutes: service accounts (users:manage), proposals (the Copilot
// proposes with suggestions:create; an Engineer or Admin decides with
// pipelines:update) and connection tests (pipelines:test; the gateway
// takes and answers them on device routes).
func (s *Server) copilotRoutes(device, users routeGroup) {
	h := &copilotAPI{s: s, CopilotServices: s.copilot}
	um := s.require(rbac.UsersManage)
	users.Post("/service-accounts", um, h.createAccount)
	users.Get("/service-accounts", um, h.listAccounts)
	users.Get("/service-accounts/:name", um, h.getAccount)
	users.Delete("/service-accounts/:name", um, h.deleteAccount)
	users.Post("/service-accounts/:name/tokens", um, h.issueToken)
	users.Get("/service-accounts/:name/tokens", um, h.listTokens)
	users.Delete("/service-accounts/:name/tokens/:token", um, h.revokeToken)

	read, decide := s.require(rbac.PipelinesRead), s.require(rbac.PipelinesUpdate)
	users.Post("/proposals", s.require(rbac.SuggestionsCreate), h.propose)
	users.Get("/proposals", read, h.listProposals)
	users.Get("/proposals/:id", read, h.getProposal)
	users.Post("/proposals/:id/approve", decide, h.approve)
	users.Post("/proposals/:id/reject", decide, h.reject)

	users.Post("/pipelines/:id/test-connection", s.require(rbac.PipelinesTest), h.askTest)
	users.Get("/connection-tests/:id", read, h.getTest)
	device.Get("/gateways/:id/connection-tests", s.gatewayAuth, s.ownGateway, h.takeTests)
	device.Post("/gateways/:id/connection-tests/:test/result", s.gatewayAuth, s.ownGateway, h.completeTest)
}

// connTestsHint, on a config poll, tells the gateway whether connection
// tests wait for it. A failed lookup only delays the tests to a later poll.
func (s *Server) connTestsHint(hints ConnTestHints) fiber.Handler {
	return func(c *fiber.Ctx) error {
		waiting, err := hints.Waiting(c.UserContext(), c.Params("id"))
		if err != nil {
			s.log.Warn("connection tests lookup failed; the gateway learns of them at a later poll", "gateway", c.Params("id"), "err", err)
		}
		if waiting {
			c.Set(wire.ConnectionTestsHeader, "pending")
		}
		return c.Next()
	}
}

func idParam(c *fiber.Ctx, name string) (uint64, error) {
	id, ok := parseID(c.Params(name))
	if !ok {
		return 0, errs.Invalid(name, "must be a positive integer")
	}
	return id, nil
}

// parseID reads a database id from a path: 1 to 2^63-1, the range of the
// databases' signed 64-bit keys (SQLite refuses a uint64 with the high bit
// set, which made a larger id a 500 rather than a 400).
func parseID(s string) (uint64, bool) {
	id, err := strconv.ParseUint(s, 10, 63)
	return id, err == nil && id > 0
}

func (h *copilotAPI) createAccount(c *fiber.Ctx) error {
	var in serviceaccounts.CreateInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := h.s.checkGrant(c, serviceaccounts.SubjectPrefix+in.Name, in.GatewayAccess); err != nil {
		return err
	}
	a, err := h.Accounts.Create(c.UserContext(), h.s.meta(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(a)
}

func (h *copilotAPI) listAccounts(c *fiber.Ctx) error {
	as, err := h.Accounts.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"service_accounts": as})
}

func (h *copilotAPI) getAccount(c *fiber.Ctx) error {
	a, err := h.Accounts.Get(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// account loads the account of the path and refuses one whose
// gateway_access is wider than the caller's, as for users.
func (h *copilotAPI) account(c *fiber.Ctx) (string, error) {
	a, err := h.Accounts.Get(c.UserContext(), c.Params("name"))
	if err != nil {
		return "", err
	}
	return a.Name, h.s.checkGrant(c, a.Subject, a.GatewayAccess)
}

func (h *copilotAPI) deleteAccount(c *fiber.Ctx) error {
	name, err := h.account(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.Delete(c.UserContext(), h.s.meta(c), name); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *copilotAPI) issueToken(c *fiber.Ctx) error {
	var b struct {
		ExpiresIn string `json:"expires_in"`
	}
	if len(c.Body()) > 0 {
		if err := decode(c, &b); err != nil {
			return err
		}
	}
	var lifetime time.Duration
	if b.ExpiresIn != "" {
		d, err := time.ParseDuration(b.ExpiresIn)
		if err != nil || d <= 0 {
			return errs.Invalid("expires_in", "a duration such as 720h")
		}
		lifetime = d
	}
	name, err := h.account(c)
	if err != nil {
		return err
	}
	t, err := h.Accounts.IssueToken(c.UserContext(), h.s.meta(c), name, lifetime)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

func (h *copilotAPI) listTokens(c *fiber.Ctx) error {
	ts, err := h.Accounts.Tokens(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tokens": ts})
}

func (h *copilotAPI) revokeToken(c *fiber.Ctx) error {
	id, err := idParam(c, "token")
	if err != nil {
		return err
	}
	name, err := h.account(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.RevokeToken(c.UserContext(), h.s.meta(c), name, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *copilotAPI) propose(c *fiber.Ctx) error {
	var in proposals.CreateInput
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := h.Proposals.Create(c.UserContext(), h.s.meta(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (h *copilotAPI) listProposals(c *fiber.Ctx) error {
	ps, err := h.Proposals.List(c.UserContext(), c.Query("status"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"proposals": ps})
}

func (h *copilotAPI) getProposal(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	p, err := h.Proposals.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (h *copilotAPI) approve(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	p, err := h.Proposals.Approve(c.UserContext(), h.s.meta(c), id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (h *copilotAPI) reject(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var b struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	p, err := h.Proposals.Reject(c.UserContext(), h.s.meta(c), id, b.Reason)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (h *copilotAPI) askTest(c *fiber.Ctx) error {
	var r conntest.Request
	if err := decode(c, &r); err != nil {
		return err
	}
	r.PipelineID = c.Params("id")
	if r.GatewayID == "" {
		return errs.Invalid("gateway_id", "required")
	}
	// A gateway outside the caller's gateway_access is "not found".
	if _, err := h.s.gateways.fleet.Get(c.UserContext(), h.s.access(c), r.GatewayID); err != nil {
		return err
	}
	t, err := h.Tests.Ask(c.UserContext(), h.s.meta(c), r)
	if err != nil {
		return err
	}
	h.Hints.Forget() // this replica flags it at the gateway's next poll
	return c.Status(fiber.StatusAccepted).JSON(t)
}

func (h *copilotAPI) getTest(c *fiber.Ctx) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	t, err := h.Tests.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	if _, err := h.s.gateways.fleet.Get(c.UserContext(), h.s.access(c), t.GatewayID); err != nil {
		return conntest.ErrNotFound
	}
	return c.JSON(t)
}

func (h *copilotAPI) takeTests(c *fiber.Ctx) error {
	ts, err := h.Tests.Take(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tests": ts})
}

func (h *copilotAPI) completeTest(c *fiber.Ctx) error {
	id, err := idParam(c, "test")
	if err != nil {
		return err
	}
	var r wire.ConnectionTestResult
	if err := decode(c, &r); err != nil {
		return err
	}
	if err := h.Tests.Complete(c.UserContext(), c.Params("id"), id, r); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
