package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/users"
)

// Error is an API error: an HTTP status and a message safe to show.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

var (
	errAuthRequired = errorf(fiber.StatusUnauthorized, "authentication required")
	errBadToken     = errorf(fiber.StatusUnauthorized, "invalid or expired token")
	errCSRF         = errorf(fiber.StatusForbidden, "missing or invalid CSRF token (send X-CSRF-Token)")
)

// handleError is the one place that turns errors into HTTP responses: a
// JSON body {"error": message}. Unknown errors are logged and answered 500
// without their text.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status, msg := fiber.StatusInternalServerError, "internal error"
	var (
		apiErr    *Error
		fiberErr  *fiber.Error
		valErr    *users.ValidationError
		throttled *users.ThrottledError
		gwVal     *gateways.ValidationError
		gwThrot   *gateways.ThrottledError
	)
	switch {
	case errors.As(err, &apiErr):
		status, msg = apiErr.Status, apiErr.Message
	case errors.As(err, &valErr):
		status, msg = fiber.StatusBadRequest, valErr.Error()
	case errors.As(err, &throttled):
		status, msg = fiber.StatusTooManyRequests, throttled.Error()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(throttled.Seconds()))
	case errors.As(err, &gwVal):
		status, msg = fiber.StatusBadRequest, gwVal.Error()
	case errors.As(err, &gwThrot):
		status, msg = fiber.StatusTooManyRequests, gwThrot.Error()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(gwThrot.RetryAfter.Seconds()+0.999))))
	case errors.Is(err, gateways.ErrNotFound), errors.Is(err, gateways.ErrTokenNotFound), errors.Is(err, gateways.ErrNoConfig):
		status, msg = fiber.StatusNotFound, err.Error()
	case errors.Is(err, gateways.ErrBadEnrollment), errors.Is(err, gateways.ErrBadProof):
		status, msg = fiber.StatusUnauthorized, rootMessage(err)
	case errors.Is(err, gateways.ErrNoAttestationCA):
		status, msg = fiber.StatusServiceUnavailable, err.Error()
	case errors.Is(err, gateways.ErrActivation):
		status, msg = fiber.StatusUnauthorized, err.Error()
	case errors.Is(err, gateways.ErrNotApproved), errors.Is(err, gateways.ErrBadClaim):
		status, msg = fiber.StatusForbidden, err.Error()
	case errors.Is(err, gateways.ErrIdentityTaken), errors.Is(err, gateways.ErrBadTransition):
		status, msg = fiber.StatusConflict, err.Error()
	case errors.Is(err, users.ErrInvalidCredentials):
		status, msg = fiber.StatusUnauthorized, err.Error()
	case errors.Is(err, auth.ErrInvalidToken):
		status, msg = errBadToken.Status, errBadToken.Message
	case errors.Is(err, users.ErrNotFound):
		status, msg = fiber.StatusNotFound, err.Error()
	case errors.Is(err, users.ErrExists), errors.Is(err, users.ErrLastAdmin), errors.Is(err, users.ErrSelf):
		status, msg = fiber.StatusConflict, err.Error()
	case errors.As(err, &fiberErr):
		status, msg = fiberErr.Code, strings.ToLower(fiberErr.Message)
	default:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	return c.Status(status).JSON(fiber.Map{"error": msg})
}

// rootMessage is the message of the sentinel at the bottom of err's chain
// (our sentinels' texts are safe; wrapping adds detail only for logs).
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// decode reads a JSON request body into v, refusing other content types
// (which also stops cross-site form posts) and unknown fields.
func decode(c *fiber.Ctx, v any) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return errorf(fiber.StatusUnsupportedMediaType, "request body must be application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(fiber.StatusBadRequest, "invalid JSON body: "+jsonProblem(err))
	}
	if dec.More() {
		return errorf(fiber.StatusBadRequest, "invalid JSON body: trailing data")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
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
