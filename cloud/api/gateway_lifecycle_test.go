package api_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestGatewaysCloseFlushesAndStops: heartbeats racing the gateways'
// Close are either stored or refused with ErrStopped, never accepted and
// lost, and once Close returns no batching goroutine is left.
func TestGatewaysCloseFlushesAndStops(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		const n = 300
		results := make(chan error, n+1)
		// One before Close starts: at least one heartbeat is accepted.
		results <- e.gw.Heartbeats.Heartbeat(context.Background(), gateways.Auth{GatewayID: "gw-close-first"}, wire.Heartbeat{Status: "ok"})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := gateways.Auth{GatewayID: fmt.Sprintf("gw-close-%d", i%7)}
				results <- e.gw.Heartbeats.Heartbeat(context.Background(), a, wire.Heartbeat{Status: "ok", AgentVersion: "1"})
			}()
			if i == n/2 {
				go e.gw.Close()
			}
		}
		wg.Wait()
		e.gw.Close() // idempotent: waits for the one above
		close(results)
		accepted := 0
		for err := range results {
			switch {
			case err == nil:
				accepted++
			case !errors.Is(err, gateways.ErrStopped):
				t.Fatalf("heartbeat: %v", err)
			}
		}
		var stored int64
		if err := e.store.DB.Table("gateway_heartbeats").Where("gateway_id LIKE ?", "gw-close-%").Count(&stored).Error; err != nil {
			t.Fatal(err)
		}
		if accepted == 0 || stored != int64(accepted) {
			t.Fatalf("%d heartbeats accepted, %d stored", accepted, stored)
		}
		if left := gatewayGoroutines(); left != "" {
			t.Fatalf("goroutines of cloud/gateways outlive Close:\n%s", left)
		}
	})
}

// TestGatewayRequestsAfterCloseAreUnavailable: once the gateways' batchers
// are closed (the server is shutting down), a gateway request gets a 503
// with a message, not a 500 or a hang.
func TestGatewayRequestsAfterCloseAreUnavailable(t *testing.T) {
	e := newEnv(t, "", "")
	ctx := context.Background()
	admin := e.login(adminEmail, adminPassword)
	_, value := e.enrollmentToken(admin, 1, "")
	gw := e.gateway("gw-closing")
	if _, err := gw.Enroll(ctx, value, "edge", nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("POST", "/api/v1/gateways/gw-closing/approve", admin, nil), 200)
	tok, err := gw.ObtainToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	beat := func() resp {
		return e.do("POST", "/api/v1/gateways/gw-closing/heartbeat", tok.Token, wire.Heartbeat{Status: "ok"})
	}
	if r := beat(); r.status >= 300 {
		t.Fatalf("heartbeat before Close: %d %s", r.status, r.raw)
	}
	e.gw.Close()
	wantError(t, beat(), 503, gateways.ErrStopped.Error())
}

// gatewayGoroutines returns the stacks of running goroutines that were
// started by cloud/gateways.
func gatewayGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/streamforge/streamforge/cloud/gateways.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
