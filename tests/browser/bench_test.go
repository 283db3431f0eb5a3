package browser

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// BenchmarkOverviewRender: the overview page in Chromium, from navigation
// to both fleet plots drawn, over a fleet of 50 approved gateways with
// heartbeats (a full page load each time: HTML, bundle, API calls, plots).
// Reports the median and the slowest load.
func BenchmarkOverviewRender(b *testing.B) {
	dir := requireBrowser(b)
	cloud := testenv.StartCloud(b, "STREAMFORGE_GATEWAY_RATE_LIMIT=0", // 50 enrollments from one address
		"STREAMFORGE_ALLOW_KEY_IDENTITY=true") // of software-key gateways
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 50, "site": "Bench"}, &tok)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		id := fmt.Sprintf("gw-bench-%02d", i)
		gw := controlplane.NewClient(cloud.URL, id, key)
		if _, err := gw.Enroll(ctx, tok.Token, "edge", nil); err != nil {
			b.Fatal(err)
		}
		cloud.Call("POST", "/api/v1/gateways/"+id+"/approve", admin, nil, nil)
		if _, err := gw.ObtainToken(ctx); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 5; j++ {
			if err := gw.Heartbeat(ctx, wire.Heartbeat{Status: "ok", BufferDepth: int64(j), ReadingsTotal: uint64(100 * j)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	out := journey(b, dir, []string{"MODE=bench", fmt.Sprintf("ITER=%d", b.N), "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail, "PASSWORD=" + testenv.CloudAdminPassword}, nil)
	b.StopTimer()
	_, js, ok := strings.Cut(out, "TIMES ")
	var ms []float64
	if !ok || json.Unmarshal([]byte(strings.SplitN(js, "\n", 2)[0]), &ms) != nil || len(ms) == 0 {
		b.Fatalf("bench output: %s", out)
	}
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "median-ms")
	b.ReportMetric(ms[len(ms)-1], "max-ms")
}
