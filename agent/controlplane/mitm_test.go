package controlplane_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/statuspage"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// tamperingProxy sits between a gateway and the control plane and rewrites
// config answers with mutate (nil passes them through).
type tamperingProxy struct {
	mu     sync.Mutex
	mutate func(*wire.ConfigResponse)
	n      int
}

func (p *tamperingProxy) set(fn func(*wire.ConfigResponse)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mutate = fn
}

func (p *tamperingProxy) modify(res *http.Response) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mutate == nil || res.StatusCode != 200 || !strings.HasSuffix(res.Request.URL.Path, "/config/current") {
		return nil
	}
	var cfg wire.ConfigResponse
	if err := json.NewDecoder(res.Body).Decode(&cfg); err != nil {
		return err
	}
	res.Body.Close()
	p.mutate(&cfg)
	body, _ := json.Marshal(cfg)
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	p.n++
	res.Header.Set("ETag", `"mitm-`+strconv.Itoa(p.n)+`"`) // so the next genuine answer is fetched
	return nil
}

// TestLoopRefusesConfigAlteredInTransit: a man in the middle between the
// agent's loop and a real control plane alters the signed payload, drops
// the signature, or passes off another gateway's genuine bundle: each is
// refused with the reason kept for the heartbeat, and the last-known-good
// stays (the status page shows why). Rewriting the unsigned fields around the bundle changes nothing:
// the loop applies what was signed.
func TestLoopRefusesConfigAlteredInTransit(t *testing.T) {
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true") // its gateway has a software key
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	if st := cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 2}, &tok); st != 201 {
		t.Fatalf("enrollment token: %d", st)
	}
	deploy := func(gw string, rev int) {
		t.Helper()
		if st := cloud.Call("PUT", "/api/v1/gateways/"+gw+"/config", admin, map[string]any{"config": revConfig(rev)}, nil); st != 200 {
			t.Fatalf("deploy: %d", st)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Another gateway's genuine, signed bundle.
	keyB, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other := controlplane.NewClient(cloud.URL, "gw-other-01", keyB)
	if _, err := other.Enroll(ctx, tok.Token, "other", nil); err != nil {
		t.Fatal(err)
	}
	cloud.Call("POST", "/api/v1/gateways/gw-other-01/approve", admin, nil, nil)
	if _, err := other.ObtainToken(ctx); err != nil {
		t.Fatal(err)
	}
	deploy("gw-other-01", 100)
	otherCfg, err := other.FetchConfig(ctx)
	if err != nil || otherCfg == nil {
		t.Fatalf("other gateway's config: %v", err)
	}

	target, _ := url.Parse(cloud.URL)
	proxy := &tamperingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = proxy.modify
	mitm := httptest.NewServer(rp)
	defer mitm.Close()

	var mu sync.Mutex
	var applied []string
	keyA, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	loop, err := controlplane.NewLoop(ctx, controlplane.Options{
		Client: controlplane.NewClient(mitm.URL, "gw-mitm-01", keyA), EnrollmentToken: tok.Token, StateDir: t.TempDir(),
		PollInterval: 100 * time.Millisecond, HeartbeatInterval: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Apply: func(_ context.Context, c wire.ConfigResponse) error {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, strconv.Itoa(c.Version)+" "+string(c.Config))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	defer func() { cancel(); <-done }()
	status := httptest.NewServer(statuspage.Handler(loop, cloud.URL))
	defer status.Close()
	testenv.Eventually(t, 20*time.Second, "enrollment", func() bool { return loop.State().Enrolled })
	cloud.Call("POST", "/api/v1/gateways/gw-mitm-01/approve", admin, nil, nil)
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(applied) == 0 {
			return ""
		}
		return applied[len(applied)-1]
	}

	deploy("gw-mitm-01", 1)
	testenv.Eventually(t, 20*time.Second, "v1 applied", func() bool { return last() == "1 "+revText(1) })

	proxy.set(func(c *wire.ConfigResponse) { c.Version, c.Config = 50, json.RawMessage(revText(50)) })
	deploy("gw-mitm-01", 2)
	testenv.Eventually(t, 20*time.Second, "v2 applied as signed", func() bool { return last() == "2 "+revText(2) })

	for _, tc := range []struct {
		name   string
		mutate func(*wire.ConfigResponse)
		reason string
	}{
		{"payload altered", func(c *wire.ConfigResponse) {
			c.Bundle.Payload = bytes.Replace(c.Bundle.Payload, []byte(`"2MiB"`), []byte(`"666MiB"`), 1)
		}, "signature does not verify"},
		{"signature dropped", func(c *wire.ConfigResponse) { c.Bundle = nil }, "not signed"},
		{"another gateway's bundle", func(c *wire.ConfigResponse) { c.Bundle = otherCfg.Bundle }, "another gateway"},
	} {
		proxy.set(tc.mutate)
		testenv.Eventually(t, 20*time.Second, tc.name+" refused", func() bool { return strings.Contains(loop.State().ConfigError, tc.reason) })
		if got := last(); got != "2 "+revText(2) {
			t.Fatalf("%s: applied %s", tc.name, got)
		}
		if page := string(testenv.Get(t, status.URL+"/")); !strings.Contains(page, tc.reason) {
			t.Fatalf("%s: the status page does not show the refusal:\n%s", tc.name, page)
		}
	}
	proxy.set(nil)
	deploy("gw-mitm-01", 3)
	testenv.Eventually(t, 20*time.Second, "v3 through an honest path", func() bool { return last() == "3 "+revText(3) && loop.State().ConfigError == "" })
}
