package api

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/rbac"
)

func (s *Server) routes() {
	app := s.app
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.ready)
	app.Get("/metrics", s.metricsAuth, adaptor.HTTPHandler(promhttp.Handler()))

	v1 := app.Group("/api/v1")
	v1.Get("/openapi.json", s.openAPI)
	v1.Post("/auth/login", s.login)

	// Authentication is part of each route's chain (not a group Use), so an
	// unknown path is a plain 404 for everyone.
	au := s.authenticate
	v1.Post("/auth/refresh", au, s.refresh)
	v1.Post("/auth/logout", au, s.logout)
	v1.Get("/auth/me", au, s.me)
	v1.Post("/auth/password", au, s.changePassword)

	um := s.require(rbac.UsersManage)
	v1.Post("/users", au, um, s.createUser)
	v1.Get("/users", au, um, s.listUsers)
	v1.Get("/users/:email", au, um, s.getUser)
	v1.Patch("/users/:email", au, um, s.updateUser)
	v1.Post("/users/:email/disable", au, um, s.disableUser)
	v1.Post("/users/:email/enable", au, um, s.enableUser)
	v1.Delete("/users/:email", au, um, s.deleteUser)

	ar := s.require(rbac.AuditRead)
	v1.Get("/audit", au, ar, s.listAudit)
	v1.Get("/audit/verify", au, ar, s.verifyAudit)
	v1.Get("/audit/compliance/gdpr", au, ar, s.complianceGDPR)
	v1.Get("/audit/compliance/soc2", au, ar, s.complianceSOC2)
	v1.Get("/audit/compliance/iso27001", au, ar, s.complianceISO27001)

	s.gatewayRoutes(v1)
	s.pipelineRoutes(v1) // pipelines (#12): pipeline_handlers.go
	// staged rollouts (#12): rollout_handlers.go
	s.rolloutRoutes(func(method, path string, h []fiber.Handler) {
		v1.Add(method, path, append([]fiber.Handler{au}, h...)...)
	})
	app.Get("/claim", s.claimPage)
	app.Get("/claim.js", s.claimScript)
	app.Get("/claim.css", s.claimStyle)
	app.Get("/", s.dashboard)
	app.Get("/ui/:file", s.dashboardAsset)

	app.Use(func(c *fiber.Ctx) error { return errorf(fiber.StatusNotFound, "no such route") })
}

// gatewayRoutes: the routes gateways call (enrollment, tokens, config,
// heartbeat) and the ones users manage gateways with.
func (s *Server) gatewayRoutes(v1 fiber.Router) {
	au := s.authenticate
	perIP := func(c *fiber.Ctx) error { return c.Next() }
	if s.opts.GatewayRateLimit > 0 {
		perIP = limiter.New(limiter.Config{Max: s.opts.GatewayRateLimit, Expiration: time.Minute, KeyGenerator: s.clientIP,
			LimitReached: func(c *fiber.Ctx) error {
				return errs.Wait(time.Minute, "too many enrollment or token requests from this address")
			}})
	}
	gw, own := s.gatewayAuth, s.ownGateway
	v1.Post("/gateways/register", s.registerGone)
	v1.Post("/gateways/enroll/challenge", perIP, s.challenge)
	v1.Post("/gateways/enroll", perIP, s.enroll)
	v1.Post("/gateways/activate", perIP, s.activate)
	v1.Post("/gateways/token/challenge", perIP, s.challenge)
	v1.Post("/gateways/token", perIP, s.gatewayToken)
	v1.Post("/gateways/token/renew", gw, s.renewGatewayToken)
	v1.Get("/gateways/:id/config/current", gw, own, s.currentConfig)
	v1.Post("/gateways/:id/heartbeat", gw, own, s.heartbeat)
	v1.Post("/gateways/:id/ak-certificate", gw, own, s.akCertificate)

	manage := s.require(rbac.GatewaysManage)
	v1.Post("/enrollment-tokens", au, manage, s.createEnrollmentToken)
	v1.Get("/enrollment-tokens", au, manage, s.listEnrollmentTokens)
	v1.Delete("/enrollment-tokens/:id", au, manage, s.revokeEnrollmentToken)
	read, sc := s.require(rbac.GatewaysRead), s.scoped
	v1.Get("/gateways", au, read, s.listGateways)
	v1.Get("/fleet/overview", au, read, s.fleetOverview)
	v1.Get("/gateways/:id", au, read, sc, s.getGateway)
	v1.Get("/gateways/:id/health", au, read, sc, s.gatewayHealth)
	v1.Get("/gateways/:id/config", au, s.require(rbac.ConfigsRead), sc, s.readGatewayConfig)
	v1.Put("/gateways/:id/config", au, s.require(rbac.ConfigsDeploy), sc, s.deployGatewayConfig)
	for _, a := range []gateways.Action{gateways.Approve, gateways.Reject, gateways.Disable, gateways.Enable} {
		v1.Post("/gateways/:id/"+string(a), au, manage, sc, s.gatewayAction(a))
	}
	v1.Delete("/gateways/:id", au, manage, sc, s.deleteGateway)
	v1.Post("/gateways/claim", au, s.require(rbac.GatewaysClaim), s.claim)
}

func (s *Server) ready(c *fiber.Ctx) error {
	if err := s.store.Ping(c.UserContext()); err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		return errorf(fiber.StatusServiceUnavailable, "database unreachable")
	}
	return c.JSON(fiber.Map{"status": "ready", "database": s.store.Dialect})
}

// metricsAuth lets Prometheus in with the configured bearer token; without
// one configured, only loopback clients that no proxy forwarded may scrape.
func (s *Server) metricsAuth(c *fiber.Ctx) error {
	if s.opts.MetricsToken != "" {
		got := strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.MetricsToken)) != 1 {
			return errorf(fiber.StatusUnauthorized, "metrics need the metrics bearer token")
		}
		return c.Next()
	}
	// Only a direct loopback peer that no proxy forwarded: a proxy on
	// loopback makes every client's peer address loopback, and a forwarded
	// "127.0.0.1" is whatever the client wrote.
	forwarded := len(c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)) > 0 ||
		len(c.Request().Header.PeekAll("Forwarded")) > 0 || len(c.Request().Header.PeekAll("X-Real-Ip")) > 0
	if !peerAddr(c).IsLoopback() || forwarded {
		return errorf(fiber.StatusForbidden, "metrics are served to loopback clients only (set STREAMFORGE_METRICS_TOKEN)")
	}
	return c.Next()
}
