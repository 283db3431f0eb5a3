package errs_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/errs"
)

var errActivation = errs.New(errs.Unauthenticated, "TPM credential activation failed")

// TestRenderShowsOnlyTheSentinel: wrapping adds context for the log, and
// none of it (a library's text here) reaches the client.
func TestRenderShowsOnlyTheSentinel(t *testing.T) {
	lib := errors.New("tpm2: parameter 1, error code 0x15 : structure is the wrong size")
	cases := []struct {
		name      string
		err       error
		status    int
		msg       string
		retry     string
		wantKnown bool
	}{
		{"ok-wrapped-sentinel", fmt.Errorf("activate gw-1: %w: %v", errActivation, lib), 401, "TPM credential activation failed", "", true},
		{"ok-double-wrapped", fmt.Errorf("%w: %w", errActivation, lib), 401, "TPM credential activation failed", "", true},
		{"ok-validation", fmt.Errorf("create: %w", errs.Invalid("email", "must be a plain email address")), 400, "email: must be a plain email address", "", true},
		{"ok-throttled-rounds-up", errs.Wait(1500*time.Millisecond, "slow down"), 429, "slow down", "2", true},
		{"ok-throttled-at-least-1s", errs.Wait(0, "slow down"), 429, "slow down", "1", true},
		{"ok-busy", errs.Busy(time.Second, "busy"), 503, "busy", "1", true},
		{"fail-unknown-is-500-without-text", fmt.Errorf("db: %w", lib), 500, "internal error", "", false},
		{"fail-internal-kind-hides-text", errs.New(errs.Internal, "secret detail"), 500, "internal error", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, known := errs.Render(c.err)
			if r.Status != c.status || r.Message != c.msg || r.RetryAfter != c.retry || known != c.wantKnown {
				t.Fatalf("got %+v known=%v", r, known)
			}
			w := httptest.NewRecorder()
			r.WriteHTTP(w)
			if w.Code != c.status || w.Header().Get("Retry-After") != c.retry {
				t.Fatalf("net/http answer %d %v", w.Code, w.Header())
			}
		})
	}
}
