package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/pkg/wire"
)

const (
	gatewayKey     = "gateway_id"
	gatewayAuthKey = "gateway_auth"
)

func (s *Server) gwMeta(c *fiber.Ctx) gateways.Meta { return s.meta(c) }

func (s *Server) access(c *fiber.Ctx) []string { return claimsOf(c).GatewayAccess }

// gatewayAuth accepts only a gateway token (Bearer, audience
// streamforge-gateway) whose gateway is approved.
func (s *Server) gatewayAuth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		s.refused(c, eventCredentialRefused, "", "malformed_gateway_authorization")
		return errorf(fiber.StatusUnauthorized, "gateway routes need Authorization: Bearer <gateway token>")
	}
	a, err := s.gateways.access.Authenticate(c.UserContext(), strings.TrimSpace(tok))
	if err != nil {
		if errors.Is(err, auth.ErrInvalidToken) {
			s.refused(c, eventCredentialRefused, "", "gateway_"+tokenReason(err))
		}
		return err
	}
	if err := s.peerMatches(c, a); err != nil {
		s.refused(c, eventCredentialRefused, "gateway:"+a.GatewayID, "gateway_certificate_mismatch")
		return err
	}
	c.Locals(gatewayKey, a.GatewayID)
	c.Locals(gatewayAuthKey, a)
	return c.Next()
}

// ownGateway lets a gateway reach only the routes of its own id.
func (s *Server) ownGateway(c *fiber.Ctx) error {
	id, _ := c.Locals(gatewayKey).(string)
	if subtle.ConstantTimeCompare([]byte(id), []byte(c.Params("id"))) == 1 {
		return c.Next()
	}
	m := s.meta(c)
	ev := audit.Event{EventType: "authorization.denied", User: "gateway:" + id, IPAddress: m.IP, UserAgent: m.UserAgent,
		Resource: c.Route().Path, ResourceID: c.Params("id"), Action: c.Method(), Result: audit.ResultDenied,
		Reason: "gateway reached for another gateway's route"}
	if err := s.trail.Append(c.UserContext(), ev); err != nil {
		return err
	}
	return errorf(fiber.StatusForbidden, "a gateway may only reach its own routes")
}

func (s *Server) registerGone(c *fiber.Ctx) error {
	return errorf(fiber.StatusGone, gateways.ErrRegisterClosed.Error())
}

func (s *Server) enroll(c *fiber.Ctx) error {
	var req wire.EnrollRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	res, err := s.gateways.enroll.Enroll(c.UserContext(), s.gwMeta(c), req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(res)
}

func (s *Server) activate(c *fiber.Ctx) error {
	var req wire.ActivateRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	res, err := s.gateways.enroll.Activate(c.UserContext(), s.gwMeta(c), req)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) challenge(c *fiber.Ctx) error {
	var req wire.ChallengeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	res, err := s.gateways.access.Challenge(c.UserContext(), req.GatewayID)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) gatewayToken(c *fiber.Ctx) error { return s.issueGatewayToken(c, false) }

func (s *Server) renewGatewayToken(c *fiber.Ctx) error { return s.issueGatewayToken(c, true) }

func (s *Server) issueGatewayToken(c *fiber.Ctx, renewing bool) error {
	var req wire.TokenRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if renewing && req.GatewayID != c.Locals(gatewayKey) {
		return errorf(fiber.StatusForbidden, "a gateway may only renew its own token")
	}
	if req.Nonce == "" || len(req.Signature) == 0 {
		return errorf(fiber.StatusUnauthorized, "proof of possession required: sign a nonce from /api/v1/gateways/token/challenge")
	}
	res, err := s.gateways.access.IssueToken(c.UserContext(), s.gwMeta(c), req, renewing)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) currentConfig(c *fiber.Ctx) error {
	id := c.Params("id")
	a, _ := c.Locals(gatewayAuthKey).(gateways.Auth)
	if !a.HasConfig { // as of the token check, which read the config's ETag
		return gateways.ErrNoConfig
	}
	etag := s.gateways.configs.ServedETag(a.ConfigETag)
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		c.Set(fiber.HeaderETag, etag)
		return c.SendStatus(fiber.StatusNotModified)
	}
	cfg, etag, err := s.gateways.configs.Current(c.UserContext(), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag)
	return c.JSON(cfg)
}

func (s *Server) akCertificate(c *fiber.Ctx) error {
	chain, err := s.gateways.access.AKCertificate(c.UserContext(), s.gwMeta(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"certificate": chain[0], "chain": chain[1:]})
}

func (s *Server) heartbeat(c *fiber.Ctx) error {
	var hb wire.Heartbeat
	if err := decode(c, &hb); err != nil {
		return err
	}
	a, _ := c.Locals(gatewayAuthKey).(gateways.Auth)
	if err := s.gateways.heartbeats.Heartbeat(c.UserContext(), a, hb); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// User routes.

func (s *Server) createEnrollmentToken(c *fiber.Ctx) error {
	var in gateways.TokenInput
	if err := decode(c, &in); err != nil {
		return err
	}
	v, err := s.gateways.enroll.CreateToken(c.UserContext(), s.gwMeta(c), s.access(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) listEnrollmentTokens(c *fiber.Ctx) error {
	ts, err := s.gateways.enroll.ListTokens(c.UserContext(), s.access(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"enrollment_tokens": ts})
}

func (s *Server) revokeEnrollmentToken(c *fiber.Ctx) error {
	if err := s.gateways.enroll.RevokeToken(c.UserContext(), s.gwMeta(c), s.access(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listGateways(c *fiber.Ctx) error {
	q := gateways.ListQuery{Q: c.Query("q"), Status: c.Query("status"), Sort: c.Query("sort")}
	var err error
	if q.Page, err = intParam(c, "page"); err != nil {
		return err
	}
	if q.Limit, err = intParam(c, "limit"); err != nil {
		return err
	}
	page, err := s.gateways.fleet.Page(c.UserContext(), s.access(c), q)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (s *Server) getGateway(c *fiber.Ctx) error {
	g, err := s.gateways.fleet.Get(c.UserContext(), s.access(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(g)
}

func (s *Server) gatewayHealth(c *fiber.Ctx) error {
	var limit int
	var cursor uint64
	var err error
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return errorf(fiber.StatusBadRequest, "limit: want a positive integer (at most 100)")
		}
	}
	if v := c.Query("cursor"); v != "" {
		var ok bool
		if cursor, ok = parseID(v); !ok {
			return errorf(fiber.StatusBadRequest, "cursor: want the next_cursor of a previous page")
		}
	}
	page, err := s.gateways.heartbeats.Health(c.UserContext(), s.access(c), c.Params("id"), limit, cursor)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"gateway_id": c.Params("id"), "heartbeats": page.Heartbeats, "next_cursor": page.NextCursor})
}

func (s *Server) gatewayAction(a gateways.Action) fiber.Handler {
	return func(c *fiber.Ctx) error {
		g, err := s.gateways.fleet.Act(c.UserContext(), s.gwMeta(c), s.access(c), c.Params("id"), a)
		if err != nil {
			return err
		}
		return c.JSON(g)
	}
}

func (s *Server) deleteGateway(c *fiber.Ctx) error {
	if err := s.gateways.fleet.Delete(c.UserContext(), s.gwMeta(c), s.access(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) readGatewayConfig(c *fiber.Ctx) error {
	if err := s.gateways.fleet.CheckAccess(c.UserContext(), s.access(c), c.Params("id")); err != nil {
		return err
	}
	cfg, etag, err := s.gateways.configs.Current(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag)
	return c.JSON(cfg)
}

func (s *Server) deployGatewayConfig(c *fiber.Ctx) error {
	var body struct {
		Config json.RawMessage `json:"config"`
	}
	if err := decode(c, &body); err != nil {
		return err
	}
	// A running rollout owns its gateways (#12); its own writes do not
	// come this way.
	busy, err := s.deps.Pipelines.InRollout(c.UserContext(), c.Params("id"), s.access(c))
	if err != nil {
		return err
	}
	if busy {
		return pipelines.ErrInRollout
	}
	cfg, err := s.gateways.configs.Deploy(c.UserContext(), s.gwMeta(c), s.access(c), c.Params("id"), body.Config)
	if err != nil {
		return err
	}
	return c.JSON(cfg)
}

func (s *Server) claim(c *fiber.Ctx) error {
	var in gateways.ClaimInput
	if err := decode(c, &in); err != nil {
		return err
	}
	g, err := s.gateways.enroll.Claim(c.UserContext(), s.gwMeta(c), s.access(c), in)
	if err != nil {
		return err
	}
	if g.Status != gateways.StatusApproved {
		// Claimed, but its EK is not verified: an admin decides.
		c.Status(fiber.StatusAccepted)
	}
	return c.JSON(g)
}
