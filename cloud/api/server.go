// Package api is the control plane's HTTP surface: routing, middleware
// (security headers, rate limits, metrics, authentication, RBAC) and the
// handlers, which call the domain services through the small interfaces
// of Deps. One Fiber app serves the API listener and the gateways' mTLS
// listener; device routes and management routes are separate groups.
package api

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pki/stepca"
)

// Options configure a Server.
type Options struct {
	TrustedProxies     []netip.Prefix
	RateLimitPerMinute int
	// GatewayRateLimit bounds enrollments and token requests per client IP
	// per minute (0: off).
	GatewayRateLimit int
	BodyLimit        int
	MetricsToken     string
	TLS              bool
	// Metrics is the registry /metrics serves; the server adds its own
	// metrics to it. Nil: a registry of the server's own.
	Metrics *prometheus.Registry
	// AuditAnchorFile is where the newest signed audit checkpoint is
	// anchored outside the database (with Deps.AuditKeys).
	AuditAnchorFile string
}

// Deps are the services the handlers call, built by serve (and the
// tests) over the store: the API depends on these interfaces alone, so it
// does not import cloud/store.
type Deps struct {
	// Database answers readiness; DatabaseName ("sqlite", "postgres") is
	// what /readyz reports.
	Database     Pinger
	DatabaseName string
	// Audit opens the audit trail for one request, narrowed to scope (nil:
	// the whole trail); Trail records refusals and denials.
	Audit       func(ctx context.Context, scope *audit.Scope) AuditReader
	Trail       AuditTrail
	Users       Users
	Gateways    *gateways.Service
	Pipelines   PipelineService
	GatewayLogs GatewayLogs
	// Copilot serves service accounts, proposals, connection tests (#12).
	Copilot CopilotServices
	// Rollouts starts, reads and rolls back staged rollouts (#12); the
	// rollout.Engine owned by serve advances them.
	Rollouts RolloutService
	// Alarms serves the alarm routes (nil: they answer 503); AuditAlarm
	// hears of failed audit verifications.
	Alarms     AlarmService
	AuditAlarm AuditAlarm
	// AuditKeys: GET /audit/verify also checks the signed checkpoints and
	// Options.AuditAnchorFile (nil: the hash chain only).
	AuditKeys audit.SignatureVerifier
	// Secrets serves the secrets routes (#12; cloud/secrets over the store
	// and the key-encryption keys); nil: they answer 503.
	Secrets SecretService
}

// Pinger checks that the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server is the control plane's HTTP API.
type Server struct {
	app      *fiber.App
	deps     Deps
	users    Users
	trail    AuditTrail
	metrics  *httpMetrics
	gateways gatewayServices
	log      *slog.Logger
	opts     Options
	// webhook configures step-ca's webhook, served on the gateway
	// listener (set by GatewayListener before that listener serves).
	webhook stepca.WebhookOptions
	// copilot serves service accounts, proposals, connection tests (#12).
	copilot CopilotServices
}

// New builds the API.
func New(d Deps, log *slog.Logger, opts Options) *Server {
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	s := &Server{deps: d, users: d.Users, trail: d.Trail, metrics: newHTTPMetrics(opts.Metrics),
		gateways: gatewayServicesOf(d.Gateways), log: log, opts: opts}
	if opts.BodyLimit == 0 {
		opts.BodyLimit = 1 << 20
		s.opts.BodyLimit = opts.BodyLimit
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "streamforge-cloud",
		DisableStartupMessage: true,
		BodyLimit:             opts.BodyLimit,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		ErrorHandler:          s.handleError,
		// Values from the request outlive handlers (metric labels, audit
		// records), so they must not alias fasthttp's reused buffers.
		Immutable: true,
	})
	s.app.Use(s.observe)
	s.app.Use(recover.New())
	s.app.Use(refuseControlChars)
	s.app.Use(refuseContentEncoding)
	s.app.Use(s.resolveClientIP)
	hsts := 0
	if opts.TLS {
		hsts = 31536000
	}
	s.app.Use(helmet.New(helmet.Config{
		ContentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		HSTSMaxAge:            hsts,
		ReferrerPolicy:        "no-referrer",
	}))
	s.app.Use(func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Next()
	})
	if opts.RateLimitPerMinute > 0 {
		s.app.Use(limiter.New(limiter.Config{
			Max:                opts.RateLimitPerMinute,
			Expiration:         time.Minute,
			KeyGenerator:       s.clientIP,
			LimiterMiddleware:  limiter.SlidingWindow{},
			SkipFailedRequests: false,
			LimitReached: func(c *fiber.Ctx) error {
				return errs.Wait(time.Minute, "rate limit exceeded")
			},
		}))
	}
	s.copilot = s.copilotServicesOf() // (#12)
	s.routes()
	return s
}

// App returns the Fiber app (for Listen and tests).
func (s *Server) App() *fiber.App { return s.app }
