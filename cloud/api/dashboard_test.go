package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/cloud/web"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// seedGateways stores n gateways straight into the database (enrolling
// 10,000 through the API would only time enrollment): sites site-0..9,
// every third approved with a fresh heartbeat, every third approved and
// silent, the rest pending.
func (e *env) seedGateways(n int) {
	e.t.Helper()
	now := time.Now().UTC()
	gs := make([]store.Gateway, n)
	for i := range gs {
		g := store.Gateway{ID: fmt.Sprintf("gw-%05d", i), Site: fmt.Sprintf("site-%d", i%10), Hostname: fmt.Sprintf("edge-%05d.plant", i),
			Status: store.GatewayPending, IdentityKind: "key", IdentityKey: "k", IdentityFingerprint: fmt.Sprintf("%064x", i),
			HardwareInfo: map[string]string{}, EnrolledAt: now.Add(-time.Duration(i) * time.Second)}
		switch i % 3 {
		case 0:
			seen := now.Add(-time.Duration(i%60) * time.Second)
			g.Status, g.LastSeenAt = store.GatewayApproved, &seen
		case 1:
			seen := now.Add(-time.Hour)
			g.Status, g.LastSeenAt = store.GatewayApproved, &seen
		}
		gs[i] = g
	}
	if err := e.store.DB.CreateInBatches(gs, 500).Error; err != nil {
		e.t.Fatalf("seed gateways: %v", err)
	}
}

type gatewayPage struct {
	Gateways []struct {
		ID         string     `json:"id"`
		Site       string     `json:"site"`
		LastSeenAt *time.Time `json:"last_seen_at"`
	} `json:"gateways"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Limit int `json:"limit"`
}

func (e *env) gatewayPage(token, query string) gatewayPage {
	e.t.Helper()
	var p gatewayPage
	r := e.do("GET", "/api/v1/gateways"+query, token, nil)
	if r.status != 200 {
		e.t.Fatalf("GET /api/v1/gateways%s: %d %s", query, r.status, r.raw)
	}
	decodeInto(e.t, r.raw, &p)
	return p
}

// TestGatewayListFiltersSortsAndPages: search, state filter, sort and
// paging happen in the database, within the caller's gateway_access, and
// bad parameters are refused by name.
func TestGatewayListFiltersSortsAndPages(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		e.seedGateways(120)
		admin := e.login(adminEmail, adminPassword)

		p := e.gatewayPage(admin, "")
		if p.Total != 120 || len(p.Gateways) != 50 || p.Gateways[0].ID != "gw-00000" || p.Limit != 50 {
			t.Fatalf("first page: total %d, %d rows, first %v", p.Total, len(p.Gateways), p.Gateways[0].ID)
		}
		if p = e.gatewayPage(admin, "?page=3"); len(p.Gateways) != 20 || p.Gateways[0].ID != "gw-00100" {
			t.Fatalf("page 3: %d rows from %v", len(p.Gateways), p.Gateways)
		}
		if p = e.gatewayPage(admin, "?q=SITE-7&limit=100"); p.Total != 12 || p.Gateways[0].Site != "site-7" {
			t.Fatalf("search by site: %+v", p)
		}
		if p = e.gatewayPage(admin, "?q=edge-0004"); p.Total != 10 {
			t.Fatalf("search by hostname: total %d", p.Total)
		}
		if p = e.gatewayPage(admin, "?q=gw-00119"); p.Total != 1 {
			t.Fatalf("search by id: total %d", p.Total)
		}
		if p = e.gatewayPage(admin, "?q=%25"); p.Total != 0 {
			t.Fatalf("a %% in q matched %d gateways: it must be literal", p.Total)
		}
		for status, want := range map[string]int{"pending": 40, "approved": 80, "online": 40, "offline": 40, "disabled": 0} {
			if p = e.gatewayPage(admin, "?status="+status); p.Total != want {
				t.Errorf("status=%s: %d gateways, want %d", status, p.Total, want)
			}
		}
		p = e.gatewayPage(admin, "?status=online&sort=-last_seen_at&limit=40")
		for i := 1; i < len(p.Gateways); i++ {
			if p.Gateways[i].LastSeenAt.After(*p.Gateways[i-1].LastSeenAt) {
				t.Fatalf("sort=-last_seen_at out of order at %d", i)
			}
		}
		for _, bad := range []struct{ query, msg string }{
			{"?limit=501", "limit: from 1 to 500"}, {"?limit=x", "limit: want a positive integer"}, {"?page=0", "page:"},
			{"?sort=identity_key", "sort: one of"}, {"?status=gone", "status: one of"}, {"?q=" + strings.Repeat("a", 256), "q: at most 255"},
		} {
			r := e.do("GET", "/api/v1/gateways"+bad.query, admin, nil)
			if r.status != 400 || !strings.Contains(fmt.Sprint(r.body["error"]), bad.msg) {
				t.Errorf("%s: %d %.200s, want 400 %q", bad.query, r.status, r.raw, bad.msg)
			}
		}
		site3 := e.user("site3@example.com", []string{rbac.Viewer}, "site-3", "gw-00004")
		if p = e.gatewayPage(site3, "?limit=500"); p.Total != 13 {
			t.Fatalf("site-scoped viewer sees %d gateways, want 12 of site-3 and gw-00004", p.Total)
		}
		none := e.user("none@example.com", []string{rbac.Viewer})
		if p = e.gatewayPage(none, ""); p.Total != 0 {
			t.Fatalf("viewer without gateway_access sees %d gateways", p.Total)
		}
	})
}

// TestFleetOverview: counts by state, the fleet's readings/s from the
// growth of heartbeats' readings_total, and the same rate per heartbeat in
// a gateway's health.
func TestFleetOverview(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		_, value := e.enrollmentToken(admin, 2, "Plant A")
		gw := e.gateway("gw-overview-1")
		if _, err := gw.Enroll(ctx, value, "edge-1", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.gateway("gw-overview-2").Enroll(ctx, value, "edge-2", nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-overview-1/approve", admin, nil), 200)
		if _, err := gw.ObtainToken(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Second)
		for i := 0; i < 4; i++ { // 10 s apart, 500 readings more each time: 50 readings/s
			at := start.Add(time.Duration(i) * 10 * time.Second)
			e.gw.Now = func() time.Time { return at }
			if err := gw.Heartbeat(ctx, wire.Heartbeat{Status: "ok", BufferDepth: 7, ReadingsTotal: uint64(1000 + 500*i)}); err != nil {
				t.Fatal(err)
			}
		}
		e.gw.Now = func() time.Time { return time.Now().UTC() }
		var o struct {
			Counts map[string]int `json:"counts"`
			Series []struct {
				ReadingsPerSecond float64 `json:"readings_per_second"`
				BufferDepth       int64   `json:"buffer_depth"`
				Gateways          int     `json:"gateways"`
			} `json:"series"`
		}
		r := e.do("GET", "/api/v1/fleet/overview", admin, nil)
		wantStatus(t, r, 200)
		decodeInto(t, r.raw, &o)
		if o.Counts["approved"] != 1 || o.Counts["pending"] != 1 || o.Counts["online"] != 0 || o.Counts["offline"] != 1 {
			t.Fatalf("counts: %v (the heartbeats are 3 minutes old, so the approved gateway is offline)", o.Counts)
		}
		var rate float64
		var depth int64
		for _, p := range o.Series {
			rate, depth = max(rate, p.ReadingsPerSecond), max(depth, p.BufferDepth)
		}
		if rate < 49.9 || rate > 50.1 || depth != 7 {
			t.Fatalf("fleet series: max %v readings/s (want 50), depth %d (want 7): %+v", rate, depth, o.Series)
		}
		var h struct {
			Heartbeats []struct {
				ReadingsPerSecond *float64 `json:"readings_per_second"`
			} `json:"heartbeats"`
		}
		decodeInto(t, e.do("GET", "/api/v1/gateways/gw-overview-1/health", admin, nil).raw, &h)
		if len(h.Heartbeats) != 4 || h.Heartbeats[0].ReadingsPerSecond == nil || *h.Heartbeats[0].ReadingsPerSecond != 50 || h.Heartbeats[3].ReadingsPerSecond != nil {
			t.Fatalf("health rates: %+v", h.Heartbeats)
		}
	})
}

// TestDashboardIsServedWithStrictCSP: the dashboard comes from the cloud
// binary with a CSP that allows only its own scripts and styles, compressed
// when the browser accepts gzip; nothing else is served under /ui/.
func TestDashboardIsServedWithStrictCSP(t *testing.T) {
	e := newEnv(t, "", "")
	get := func(path, enc string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.base+path, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, body := get("/", "")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `src="/ui/app.js"`) {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for h, want := range map[string]string{"Content-Security-Policy": web.CSP, "X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin", "Cache-Control": "no-store"} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	js, _ := web.Get("app.js")
	res, body = get("/ui/app.js", "gzip, br")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || len(body) != len(js.Gzip) || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /ui/app.js (gzip): %d %v, %d bytes", res.StatusCode, res.Header, len(body))
	}
	if res, body = get("/ui/app.js", ""); res.Header.Get("Content-Encoding") != "" || len(body) != len(js.Body) {
		t.Fatalf("GET /ui/app.js (identity): %v, %d bytes", res.Header, len(body))
	}
	for _, p := range []string{"/ui/index.html", "/ui/nope.js", "/ui/..%2fweb.go"} {
		if res, _ := get(p, ""); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}

func decodeInto(t testing.TB, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// BenchmarkGatewayListPage10k: with 10,000 gateways in PostgreSQL, one
// page of 50 of the gateway list as the dashboard asks for it (a page deep
// in the list, a search, a state filter, a sort by last heartbeat), through
// HTTP with a user token. Reports the p99 latency.
func BenchmarkGatewayListPage10k(b *testing.B) {
	e := newEnv(b, testenv.PostgresURL(b), "")
	e.seedGateways(10_000)
	if err := e.store.DB.Exec("ANALYZE gateways").Error; err != nil {
		b.Fatal(err)
	}
	var trgm int
	e.store.DB.Raw("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_gateway_search'").Scan(&trgm)
	if trgm != 1 {
		b.Fatal("no trigram search index: is pg_trgm (postgresql-contrib) installed?")
	}
	admin := e.login(adminEmail, adminPassword)
	queries := []string{"?page=150&limit=50", "?q=edge-0123&limit=50", "?status=offline&page=20&limit=50", "?sort=-last_seen_at&page=7&limit=50", "?q=SITE-4&sort=hostname&page=3"}
	for _, q := range queries {
		b.Run(q, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				r := e.do("GET", "/api/v1/gateways"+q, admin, nil)
				lat = append(lat, time.Since(start))
				if r.status != 200 {
					b.Fatalf("%d %s", r.status, r.raw)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
