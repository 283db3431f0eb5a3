package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/statuspage"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// applied records the configs the loop put into effect.
type applied struct {
	mu       sync.Mutex
	versions []int
}

func (a *applied) apply(_ context.Context, c wire.ConfigResponse) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.versions = append(a.versions, c.Version)
	return nil
}

// revConfig is config number rev: one the control plane accepts (it
// refuses what a gateway would), told apart by the buffer's bound.
func revConfig(rev int) map[string]any {
	return map[string]any{"buffer": map[string]any{"max_bytes": fmt.Sprintf("%dMiB", rev)}}
}

// revText is revConfig(rev) as the control plane stores and signs it.
func revText(rev int) string { return fmt.Sprintf(`{"buffer":{"max_bytes":"%dMiB"}}`, rev) }

func (a *applied) last() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.versions) == 0 {
		return 0
	}
	return a.versions[len(a.versions)-1]
}

// TestLifecycleAgainstRealCloud runs the agent's control plane loop
// against a streamforge-cloud process: enrollment, a claim through the URL
// in the QR code of the status page, token, config and heartbeats, a cloud
// restart mid-flow, and an agent restart on its last-known-good config
// while the cloud is down.
func TestLifecycleAgainstRealCloud(t *testing.T) {
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true") // its gateway has a software key
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	if st := cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok); st != 201 {
		t.Fatalf("enrollment token: %d", st)
	}
	if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "tech@example.com",
		"password": "Quartz-lantern-field-7", "roles": []string{"Engineer"}, "gateway_access": []string{"*"}}, nil); st != 201 {
		t.Fatalf("create technician: %d", st)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stateDir := t.TempDir()
	var got applied
	var beats atomic.Int64 // heartbeat attempts: the loop asks for health before each
	newLoop := func(ctx context.Context) *controlplane.Loop {
		client := controlplane.NewClient(cloud.URL, "gw-e2e-01", key)
		l, err := controlplane.NewLoop(ctx, controlplane.Options{
			Client: client, EnrollmentToken: tok.Token, Hostname: "edge", StateDir: stateDir,
			PollInterval: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
			Apply: got.apply, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Health: func() wire.Heartbeat {
				beats.Add(1)
				return wire.Heartbeat{Status: "ok", AgentVersion: "test", BufferDepth: 7}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ctx, cancel := context.WithCancel(context.Background())
	loop := newLoop(ctx)
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()

	status := httptest.NewServer(statuspage.Handler(loop, cloud.URL))
	defer status.Close()
	testenv.Eventually(t, 20*time.Second, "enrollment", func() bool { return loop.State().ClaimCode != "" })
	page := string(testenv.Get(t, status.URL+"/"))
	if !strings.Contains(page, loop.State().ClaimCode) {
		t.Fatalf("status page lacks the claim code:\n%s", page)
	}
	claimURL, err := testenv.DecodeQR(testenv.Get(t, status.URL+"/claim-qr.png"))
	if err != nil {
		t.Fatalf("status page QR: %v", err)
	}
	u, err := url.Parse(claimURL)
	if err != nil || !strings.HasPrefix(claimURL, cloud.URL+"/claim?") {
		t.Fatalf("QR encodes %q", claimURL)
	}
	if res, err := http.Get(claimURL); err != nil || res.StatusCode != 200 {
		t.Fatalf("claim page at the QR URL: %v %v", res, err)
	}
	tech := cloud.Login("tech@example.com", "Quartz-lantern-field-7")
	var claimed map[string]any
	if st := cloud.Call("POST", "/api/v1/gateways/claim", tech, map[string]string{"gateway_id": u.Query().Get("gateway"),
		"claim_code": u.Query().Get("code"), "site": "Offshore Rig Alpha"}, &claimed); st != 202 || claimed["status"] != "pending" {
		t.Fatalf("claim: %d %v", st, claimed)
	}
	// The code was in the enrollment answer only: the control plane's log,
	// gateway view and audit trail do not hold it.
	code := u.Query().Get("code")
	var view, records map[string]any
	cloud.Call("GET", "/api/v1/gateways/gw-e2e-01", admin, nil, &view)
	cloud.Call("GET", "/api/v1/audit?resource_id=gw-e2e-01", admin, nil, &records)
	for where, text := range map[string]string{"log": cloud.Log(), "gateway": fmt.Sprint(view), "audit": fmt.Sprint(records)} {
		if len(text) < 10 || strings.Contains(text, code) || strings.Contains(text, strings.ReplaceAll(code, "-", "")) {
			t.Errorf("control plane %s holds the claim code (or is empty): %.300s", where, text)
		}
	}
	// A software identity has no verified EK: the claim leaves it to an admin.
	if st := cloud.Call("POST", "/api/v1/gateways/gw-e2e-01/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	testenv.Eventually(t, 20*time.Second, "token after approval", func() bool { return loop.State().Status == "approved" })

	deploy := func(v int) {
		t.Helper()
		if st := cloud.Call("PUT", "/api/v1/gateways/gw-e2e-01/config", admin, map[string]any{"config": revConfig(v)}, nil); st != 200 {
			t.Fatalf("deploy: %d", st)
		}
	}
	deploy(1)
	testenv.Eventually(t, 20*time.Second, "config v1 applied", func() bool { return got.last() == 1 })
	testenv.Eventually(t, 20*time.Second, "heartbeat with v1", func() bool {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-e2e-01", admin, nil, &g)
		return g["applied_config_version"] == float64(1)
	})

	// Control plane restart mid-flow: the loop rides it out and picks up
	// the next config.
	cloud.Stop()
	from := beats.Load()
	testenv.Eventually(t, 20*time.Second, "heartbeats tried on the stopped control plane", func() bool { return beats.Load() >= from+2 })
	cloud.Start()
	admin = cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	deploy(2)
	testenv.Eventually(t, 20*time.Second, "config v2 after cloud restart", func() bool { return got.last() == 2 })

	// Agent restart while the cloud is down: the last-known-good config is
	// applied before any contact.
	cancel()
	<-done
	cloud.Stop()
	got = applied{}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	newLoop(ctx2)
	if got.last() != 2 {
		t.Fatalf("agent restarted offline applied %v, want last-known-good v2", got.versions)
	}
}
