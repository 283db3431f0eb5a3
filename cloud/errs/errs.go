// Package errs is the control plane's one error type: a Kind that fixes the
// HTTP status, and a message that is safe to show a client. Domain packages
// declare their sentinels with it and wrap them with context for the logs;
// Render, the one renderer of every listener, shows only the sentinel's
// text, never a wrapped cause (a library's error text stays in the log).
package errs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Kind is what went wrong, as far as a client is concerned.
type Kind int

// Kinds and the statuses they are answered with.
const (
	Internal        Kind = iota // 500
	Validation                  // 400
	Unauthenticated             // 401
	Forbidden                   // 403
	NotFound                    // 404
	Conflict                    // 409
	Gone                        // 410
	Unsupported                 // 415
	Throttled                   // 429, with Retry-After
	Unavailable                 // 503, with Retry-After when known
)

var statuses = map[Kind]int{
	Internal: 500, Validation: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404,
	Conflict: 409, Gone: 410, Unsupported: 415, Throttled: 429, Unavailable: 503,
}

// Status is the HTTP status of k.
func (k Kind) Status() int { return statuses[k] }

// Error is an error a client may see: its Msg is the whole of what is shown.
type Error struct {
	Kind Kind
	Msg  string
	// RetryAfter, for Throttled and Unavailable, is how long to wait.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

// New returns an error of kind with a client-safe message.
func New(kind Kind, msg string) *Error { return &Error{Kind: kind, Msg: msg} }

// Invalid names a bad input field.
func Invalid(field, msg string) *Error { return &Error{Kind: Validation, Msg: field + ": " + msg} }

// MaxDescription bounds a free-text description (of a pipeline, a secret):
// it is stored, listed and audited with every change, so a megabyte sent
// as one would be copied into each.
const MaxDescription = 1024

// Description refuses a description longer than MaxDescription (nil: none given).
func Description(d *string) error {
	if d != nil && len(*d) > MaxDescription {
		return Invalid("description", fmt.Sprintf("at most %d bytes", MaxDescription))
	}
	return nil
}

// Wait asks the client to come back after d (429).
func Wait(d time.Duration, msg string) *Error {
	return &Error{Kind: Throttled, Msg: msg, RetryAfter: d}
}

// Busy says the server is saturated and the client may retry after d (503).
func Busy(d time.Duration, msg string) *Error {
	return &Error{Kind: Unavailable, Msg: msg, RetryAfter: d}
}

// RetryAfterSeconds is the one Retry-After rule: whole seconds, rounded up,
// at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Response is an error as a client sees it.
type Response struct {
	Status  int
	Message string
	// RetryAfter is the Retry-After header value, "" for none.
	RetryAfter string
}

// Render turns err into what the client sees. known is false when err holds
// no *Error: the client then gets a bare 500 and the caller logs err.
func Render(err error) (r Response, known bool) {
	var e *Error
	if !errors.As(err, &e) {
		return Response{Status: 500, Message: "internal error"}, false
	}
	r = Response{Status: e.Kind.Status(), Message: e.Msg}
	if e.Kind == Internal {
		return Response{Status: 500, Message: "internal error"}, false
	}
	if e.RetryAfter > 0 || e.Kind == Throttled {
		r.RetryAfter = strconv.Itoa(RetryAfterSeconds(e.RetryAfter))
	}
	return r, true
}

// Body is the JSON body of every error answer.
type Body struct {
	Error string `json:"error"`
}

// WriteHTTP renders r on a net/http response.
func (r Response) WriteHTTP(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	w.WriteHeader(r.Status)
	_ = json.NewEncoder(w).Encode(Body{Error: r.Message})
}
