package api

import (
	"crypto/subtle"
	"slices"
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

// routes registers every route in one of four groups, each with its own
// middleware (as mender-server splits device from management routes):
//   - device routes on both listeners: what a gateway calls with its token
//     (config, heartbeat, AK certificate) and POST /gateways/token; on the
//     gateway listener the client certificate must name a gateway;
//   - enrollment routes: what a gateway calls before it has a certificate
//     (enrollment, proof-based tokens, renewal), on the plain listener only;
//   - step-ca's webhook, on the gateway listener only;
//   - management routes (users, audit, gateways as users manage them, the
//     dashboard, health and metrics), on the plain listener only.
//
// Anything else answers 404, on the gateway listener as on the plain one.
func (s *Server) routes() {
	app := s.app
	v1 := app.Group("/api/v1")
	perIP := s.gatewayRateLimit()
	device := routeGroup{v1, []fiber.Handler{s.deviceListener}}
	enrollment := routeGroup{v1, []fiber.Handler{s.plainListenerOnly}}
	public := routeGroup{app, []fiber.Handler{s.plainListenerOnly}}
	users := routeGroup{v1, []fiber.Handler{s.plainListenerOnly, s.authenticate}}

	gw, own := s.gatewayAuth, s.ownGateway
	device.Post("/gateways/token", onPlainListener(perIP), s.gatewayTokenByListener)
	device.Get("/gateways/:id/config/current", gw, own, s.connTestsHint(s.copilot.Hints), s.currentConfig) // (#12)
	device.Post("/gateways/:id/heartbeat", gw, own, s.heartbeat)
	device.Post("/gateways/:id/ak-certificate", gw, own, s.akCertificate)
	app.Post("/internal/step-ca/authorize", s.gatewayListenerOnly, s.stepCAWebhook)

	enrollment.Post("/gateways/register", s.registerGone)
	enrollment.Post("/gateways/enroll/challenge", perIP, s.challenge)
	enrollment.Post("/gateways/enroll", perIP, s.enroll)
	enrollment.Post("/gateways/activate", perIP, s.activate)
	enrollment.Post("/gateways/token/challenge", perIP, s.challenge)
	enrollment.Post("/gateways/token/renew", gw, s.renewGatewayToken)

	public.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	public.Get("/readyz", s.ready)
	public.Get("/metrics", s.metricsAuth, adaptor.HTTPHandler(promhttp.HandlerFor(s.opts.Metrics, promhttp.HandlerOpts{})))
	public.Get("/api/v1/openapi.json", s.openAPI)
	public.Post("/api/v1/auth/login", s.login)
	public.Get("/claim", s.claimPage)
	public.Get("/claim.js", s.claimScript)
	public.Get("/claim.css", s.claimStyle)
	public.Get("/", s.dashboard)
	public.Get("/ui/:file", s.dashboardAsset)
	s.userRoutes(users)
	s.gatewayLogRoutes(device, users) // gateway logs (issue #13)

	s.alarmRoutes(users.add)    // alarms (#13)
	s.pipelineRoutes(users.add) // pipelines (#12): pipeline_handlers.go
	s.secretRoutes(users.add)   // secrets (#12): secret_handlers.go
	s.rolloutRoutes(users.add)  // staged rollouts (#12): rollout_handlers.go

	// service accounts, proposals, connection tests (#12): copilot_handlers.go
	s.copilotRoutes(device, users)

	app.Use(s.noSuchRoute)
}

// userRoutes are the management routes of signed-in users.
func (s *Server) userRoutes(g routeGroup) {
	g.Post("/auth/refresh", s.sessionsOnly, s.refresh) // sessionsOnly: service account tokens (#12)
	g.Post("/auth/logout", s.sessionsOnly, s.logout)
	g.Get("/auth/me", s.me)
	g.Post("/auth/password", s.sessionsOnly, s.changePassword)

	um := s.require(rbac.UsersManage)
	g.Post("/users", um, s.createUser)
	g.Get("/users", um, s.listUsers)
	g.Get("/users/:email", um, s.getUser)
	g.Patch("/users/:email", um, s.updateUser)
	g.Post("/users/:email/disable", um, s.disableUser)
	g.Post("/users/:email/enable", um, s.enableUser)
	g.Delete("/users/:email", um, s.deleteUser)

	ar := s.require(rbac.AuditRead)
	g.Get("/audit", ar, s.listAudit)
	g.Get("/audit/verify", ar, s.verifyAudit)
	g.Get("/audit/compliance/gdpr", ar, s.complianceGDPR)
	g.Get("/audit/compliance/soc2", ar, s.complianceSOC2)
	g.Get("/audit/compliance/iso27001", ar, s.complianceISO27001)

	manage := s.require(rbac.GatewaysManage)
	g.Post("/enrollment-tokens", manage, s.createEnrollmentToken)
	g.Get("/enrollment-tokens", manage, s.listEnrollmentTokens)
	g.Delete("/enrollment-tokens/:id", manage, s.revokeEnrollmentToken)
	read, sc := s.require(rbac.GatewaysRead), s.scoped
	g.Get("/gateways", read, s.listGateways)
	g.Get("/fleet/overview", read, s.fleetOverview)
	g.Get("/gateways/:id", read, sc, s.getGateway)
	g.Get("/gateways/:id/health", read, sc, s.gatewayHealth)
	g.Get("/gateways/:id/config", s.require(rbac.ConfigsRead), sc, s.readGatewayConfig)
	g.Put("/gateways/:id/config", s.require(rbac.ConfigsDeploy), sc, s.deployGatewayConfig)
	for _, a := range []gateways.Action{gateways.Approve, gateways.Reject, gateways.Disable, gateways.Enable} {
		g.Post("/gateways/:id/"+string(a), manage, sc, s.gatewayAction(a))
	}
	g.Delete("/gateways/:id", manage, sc, s.deleteGateway)
	g.Post("/gateways/claim", s.require(rbac.GatewaysClaim), s.claim)
}

// routeGroup registers routes with the group's middleware first in each
// route's chain. A Fiber Group's middleware would run for every path under
// its prefix, matched or not, and device and management routes share
// /api/v1/gateways: a chain per route keeps an unknown path a plain 404.
type routeGroup struct {
	r  fiber.Router
	mw []fiber.Handler
}

// add registers a route; a GET route serves HEAD as well, as Fiber's own
// Get does (monitors and load balancers probe with it; Fiber answers a
// HEAD without the body).
func (g routeGroup) add(method, path string, h []fiber.Handler) {
	chain := append(slices.Clone(g.mw), h...)
	g.r.Add(method, path, chain...)
	if method == fiber.MethodGet {
		g.r.Add(fiber.MethodHead, path, chain...)
	}
}

func (g routeGroup) Get(path string, h ...fiber.Handler)    { g.add(fiber.MethodGet, path, h) }
func (g routeGroup) Post(path string, h ...fiber.Handler)   { g.add(fiber.MethodPost, path, h) }
func (g routeGroup) Put(path string, h ...fiber.Handler)    { g.add(fiber.MethodPut, path, h) }
func (g routeGroup) Patch(path string, h ...fiber.Handler)  { g.add(fiber.MethodPatch, path, h) }
func (g routeGroup) Delete(path string, h ...fiber.Handler) { g.add(fiber.MethodDelete, path, h) }

// gatewayRateLimit bounds enrollments and token requests per client IP.
func (s *Server) gatewayRateLimit() fiber.Handler {
	if s.opts.GatewayRateLimit <= 0 {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return limiter.New(limiter.Config{Max: s.opts.GatewayRateLimit, Expiration: time.Minute, KeyGenerator: s.clientIP,
		LimitReached: func(c *fiber.Ctx) error {
			return errs.Wait(time.Minute, "too many enrollment or token requests from this address")
		}})
}

// deviceListener: on the gateway listener, a device route needs a client
// certificate that names a gateway (step-ca's own may call its webhook
// only); on the plain listener the route's own checks decide.
func (s *Server) deviceListener(c *fiber.Ctx) error {
	if viaGatewayListener(c) {
		return requirePeerCert(c)
	}
	return c.Next()
}

// gatewayTokenByListener: on the gateway listener the certificate proves
// the gateway; on the plain listener a TPM-backed (or key) proof does.
func (s *Server) gatewayTokenByListener(c *fiber.Ctx) error {
	if viaGatewayListener(c) {
		return s.tokenByCertificate(c)
	}
	return s.gatewayToken(c)
}

// onPlainListener runs h on the plain listener only: the per-IP limit of
// token requests guards the proofs anyone can send there, while the
// gateway listener has verified a certificate at the handshake.
func onPlainListener(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if viaGatewayListener(c) {
			return c.Next()
		}
		return h(c)
	}
}

func (s *Server) plainListenerOnly(c *fiber.Ctx) error {
	if viaGatewayListener(c) {
		return s.noSuchRoute(c)
	}
	return c.Next()
}

func (s *Server) gatewayListenerOnly(c *fiber.Ctx) error {
	if !viaGatewayListener(c) {
		return s.noSuchRoute(c)
	}
	return c.Next()
}

func (s *Server) noSuchRoute(c *fiber.Ctx) error {
	if viaGatewayListener(c) {
		return errorf(fiber.StatusNotFound, "no such route on the gateway listener")
	}
	return errorf(fiber.StatusNotFound, "no such route")
}

func (s *Server) ready(c *fiber.Ctx) error {
	if err := s.deps.Database.Ping(c.UserContext()); err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		return errorf(fiber.StatusServiceUnavailable, "database unreachable")
	}
	return c.JSON(fiber.Map{"status": "ready", "database": s.deps.DatabaseName})
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
