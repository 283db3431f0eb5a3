package api

import (
	"crypto/subtle"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/users"
)

// SessionCookie carries the browser's token: __Host- forces Secure, Path=/
// and no Domain, so no other host or path can set or read it.
const SessionCookie = "__Host-streamforge_session"

// CSRFHeader must echo the session's CSRF token on state-changing requests
// that authenticate by cookie.
const CSRFHeader = "X-CSRF-Token"

// httpMetrics count and time requests. Each server registers its own in
// the registry it is given, so several servers can run in one process.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamforge_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "streamforge_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// observe renders errors, then counts and times the request by its route
// pattern (never the raw path, whose values are unbounded).
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	route := c.Route().Path
	if route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	status := strconv.Itoa(c.Response().StatusCode())
	s.metrics.requests.WithLabelValues(route, c.Method(), status).Inc()
	s.metrics.latency.WithLabelValues(route, c.Method()).Observe(time.Since(start).Seconds())
	return nil
}

const claimsKey = "claims"

// viaCookieKey marks a request that authenticated by the session cookie.
const viaCookieKey = "via-cookie"

func claimsOf(c *fiber.Ctx) *auth.Claims {
	cl, _ := c.Locals(claimsKey).(*auth.Claims)
	return cl
}

// meta describes the request for the audit trail.
func (s *Server) meta(c *fiber.Ctx) users.Meta {
	m := users.Meta{IP: s.clientIP(c), UserAgent: truncate(c.Get(fiber.HeaderUserAgent), 512)}
	if cl := claimsOf(c); cl != nil {
		m.Actor = cl.Subject
	}
	return m
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// authenticate accepts a Bearer token (API clients) or the session cookie
// (browsers; then unsafe methods need the CSRF header).
func (s *Server) authenticate(c *fiber.Ctx) error {
	token, viaCookie := "", false
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			s.refused(c, eventCredentialRefused, "", "malformed_authorization")
			return errorf(fiber.StatusUnauthorized, "Authorization header must be: Bearer <token>")
		}
		token = strings.TrimSpace(rest)
	} else if ck := c.Cookies(SessionCookie); ck != "" {
		token, viaCookie = ck, true
	}
	if token == "" {
		return errAuthRequired
	}
	cl, err := s.authenticateToken(c.UserContext(), token)
	if err != nil {
		if errors.Is(err, auth.ErrInvalidToken) {
			s.refused(c, eventCredentialRefused, "", tokenReason(err))
		}
		return err
	}
	if viaCookie && !safeMethod(c.Method()) {
		got := c.Get(CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(cl.CSRF)) != 1 {
			reason := "csrf_token_wrong"
			if got == "" {
				reason = "csrf_token_missing"
			}
			s.refused(c, eventCredentialRefused, cl.Subject, reason)
			return errCSRF
		}
	}
	c.Locals(claimsKey, cl)
	c.Locals(viaCookieKey, viaCookie)
	return c.Next()
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// require answers 403 unless the caller's roles grant perm. A denial is
// audited.
func (s *Server) require(perm string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		cl := claimsOf(c)
		if cl != nil && slices.Contains(rbac.Permissions(cl.Roles), perm) {
			return c.Next()
		}
		m := s.meta(c)
		ev := audit.Event{
			EventType: "authorization.denied", User: m.Actor, IPAddress: m.IP, UserAgent: m.UserAgent,
			Resource: c.Route().Path, Action: c.Method(), Result: "denied", Reason: "missing permission " + perm,
		}
		if err := s.trail.Append(c.UserContext(), ev); err != nil {
			return err
		}
		return errorf(fiber.StatusForbidden, "Missing permission: "+perm)
	}
}
