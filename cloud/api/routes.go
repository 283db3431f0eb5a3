package api

import (
	"crypto/subtle"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

	app.Use(func(c *fiber.Ctx) error { return errorf(fiber.StatusNotFound, "no such route") })
}

func (s *Server) ready(c *fiber.Ctx) error {
	if err := s.store.Ping(c.UserContext()); err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		return errorf(fiber.StatusServiceUnavailable, "database unreachable")
	}
	return c.JSON(fiber.Map{"status": "ready", "database": s.store.Dialect})
}

// metricsAuth lets Prometheus in with the configured bearer token; without
// one configured, only loopback clients may scrape.
func (s *Server) metricsAuth(c *fiber.Ctx) error {
	if s.opts.MetricsToken != "" {
		got := strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.MetricsToken)) != 1 {
			return errorf(fiber.StatusUnauthorized, "metrics need the metrics bearer token")
		}
		return c.Next()
	}
	if a, err := netip.ParseAddr(s.clientIP(c)); err != nil || !a.IsLoopback() {
		return errorf(fiber.StatusForbidden, "metrics are served to loopback clients only (set STREAMFORGE_METRICS_TOKEN)")
	}
	return c.Next()
}
