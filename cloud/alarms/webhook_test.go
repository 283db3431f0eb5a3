package alarms

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamforge/streamforge/cloud/store"
)

// TestWebhookRetries: 5xx and 429 answers are retried up to the attempt
// limit, then counted as a failure; a 4xx refusal is final at once; a
// bad URL or a short secret is refused at start.
func TestWebhookRetries(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		wantCalls  int32
		wantFailed float64
	}{
		{"fail-5xx-retried-to-the-limit", 503, 4, 1},
		{"fail-429-retried-to-the-limit", 429, 4, 1},
		{"fail-4xx-final-at-once", 400, 1, 1},
		{"ok-2xx-once", 204, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			w, err := NewWebhook(srv.URL, []byte("0123456789abcdef"), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			w.SetRetry(4, time.Millisecond)
			failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "f"})
			w.failures = failures
			w.deliver(Notification{Event: "alarm.raised", Alarm: store.Alarm{ID: 1}}) // synchronous: returns when done
			var m dto.Metric
			_ = failures.Write(&m)
			if calls.Load() != c.wantCalls || m.GetCounter().GetValue() != c.wantFailed {
				t.Fatalf("%d calls, %v failures; want %d, %v", calls.Load(), m.GetCounter().GetValue(), c.wantCalls, c.wantFailed)
			}
		})
	}
	for _, bad := range []struct{ url, secret string }{{"ftp://x/hook", "0123456789abcdef"}, {"http://127.0.0.1/hook", "short"}} {
		if _, err := NewWebhook(bad.url, []byte(bad.secret), slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("NewWebhook(%q, %d-byte secret) accepted", bad.url, len(bad.secret))
		}
	}
}
