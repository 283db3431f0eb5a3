package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/gateways"
)

func errorf(status int, msg string) *errs.Error { return errs.New(kindOf[status], msg) }

var kindOf = map[int]errs.Kind{
	400: errs.Validation, 401: errs.Unauthenticated, 403: errs.Forbidden, 404: errs.NotFound,
	409: errs.Conflict, 410: errs.Gone, 415: errs.Unsupported, 429: errs.Throttled, 503: errs.Unavailable,
}

var (
	errAuthRequired = errorf(fiber.StatusUnauthorized, "authentication required")
	errBadToken     = errorf(fiber.StatusUnauthorized, "invalid or expired token")
	errCSRF         = errorf(fiber.StatusForbidden, "missing or invalid CSRF token (send X-CSRF-Token)")
)

// sentinels maps the errors of packages that do not use errs yet to a kind;
// only the sentinel's own text is shown (a TPM library's error wrapped
// under ErrActivation stays in the log).
var sentinels = []struct {
	err  error
	kind errs.Kind
}{
	{gateways.ErrNotFound, errs.NotFound}, {gateways.ErrTokenNotFound, errs.NotFound}, {gateways.ErrNoConfig, errs.NotFound},
	{gateways.ErrBadEnrollment, errs.Unauthenticated}, {gateways.ErrBadProof, errs.Unauthenticated},
	{gateways.ErrActivation, errs.Unauthenticated}, {gateways.ErrNoAttestationCA, errs.Unavailable},
	{gateways.ErrNotApproved, errs.Forbidden}, {gateways.ErrBadClaim, errs.Forbidden},
	{gateways.ErrIdentityTaken, errs.Conflict}, {gateways.ErrBadTransition, errs.Conflict},
	{gateways.ErrStopped, errs.Unavailable},
}

// asClientError finds what of err a client may see: an *errs.Error, or a
// known sentinel, or a validation or throttling error of the gateways
// package; nil for anything else.
func asClientError(err error) *errs.Error {
	var e *errs.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		return errBadToken
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return errs.New(s.kind, s.err.Error())
		}
	}
	var (
		gwVal    *gateways.ValidationError
		gwThrot  *gateways.ThrottledError
		fiberErr *fiber.Error
	)
	switch {
	case errors.As(err, &gwVal):
		return errs.Invalid(gwVal.Field, gwVal.Msg)
	case errors.As(err, &gwThrot):
		return errs.Wait(gwThrot.RetryAfter, gwThrot.Error())
	case errors.As(err, &fiberErr):
		return &errs.Error{Kind: kindForStatus(fiberErr.Code), Msg: strings.ToLower(fiberErr.Message)}
	}
	return nil
}

// kindForStatus keeps the status of Fiber's own errors (405, 413, ...).
func kindForStatus(code int) errs.Kind {
	if k, ok := kindOf[code]; ok {
		return k
	}
	if code >= 400 && code < 500 {
		return errs.Validation
	}
	return errs.Internal
}

// render is the one place, for both listeners, that turns an error into
// what a client sees. Unknown errors are logged and answered 500 without
// their text.
func (s *Server) render(method, path string, err error) errs.Response {
	var r errs.Response
	known := false
	if e := asClientError(err); e != nil {
		r, known = errs.Render(e)
	}
	if !known {
		r, _ = errs.Render(err)
		s.log.Error("request failed", "method", method, "path", path, "err", err)
	}
	if fe := (*fiber.Error)(nil); errors.As(err, &fe) && r.Status != 500 {
		r.Status = fe.Code // 405, 413 and friends keep their own status
	}
	return r
}

// handleError renders err on a Fiber response: {"error": message}.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	r := s.render(c.Method(), c.Path(), err)
	if r.RetryAfter != "" {
		c.Set(fiber.HeaderRetryAfter, r.RetryAfter)
	}
	return c.Status(r.Status).JSON(errs.Body{Error: r.Message})
}

// decode reads a JSON request body into v (decodeJSON), refusing other
// content types (which also stops cross-site form posts).
func decode(c *fiber.Ctx, v any) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return errorf(fiber.StatusUnsupportedMediaType, "request body must be application/json")
	}
	return decodeJSON(c.Body(), v)
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		// Every body is an object: a list, a string or a number as the
		// whole body has no field to name.
		return "the body must be a JSON object"
	case errors.As(err, &typeErr):
		return "field " + typeErr.Field + " has the wrong type"
	case errors.As(err, &syntaxErr):
		return "malformed JSON at byte " + strconv.FormatInt(syntaxErr.Offset, 10)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	slog.Debug("json decode", "err", err)
	return "could not parse"
}
