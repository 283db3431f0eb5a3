package controlplane_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/clock"
	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestClientLearnsTheControlPlanesTime: every answer's Date feeds the
// client's clock, so a control plane 3 h ahead of the gateway moves the
// time certificates are judged by 3 h forward.
func TestClientLearnsTheControlPlanesTime(t *testing.T) {
	ahead := 3 * time.Hour
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := controlplane.NewClient(srv.URL, "gw-clock", key)
	var logs bytes.Buffer
	c.Clock = clock.New(slog.New(slog.NewTextHandler(&logs, nil)))
	if err := c.Heartbeat(context.Background(), wire.Heartbeat{Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	if d := c.Clock.Skew() - ahead; d.Abs() > 5*time.Second {
		t.Fatalf("skew %s, want about %s", c.Clock.Skew(), ahead)
	}
	if d := c.Clock.Now().Sub(time.Now().Add(ahead)); d.Abs() > 5*time.Second {
		t.Fatalf("clock reads %s", c.Clock.Now())
	}
	if !bytes.Contains(logs.Bytes(), []byte("gateway clock differs")) {
		t.Fatalf("no warning: %s", logs.String())
	}
}
