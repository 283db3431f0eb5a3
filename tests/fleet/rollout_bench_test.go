package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
)

// BenchmarkRolloutToFleet: one pipeline version rolled out (canary 1%,
// then the rest in one wave) to a fleet of simulated gateways that poll
// their config and send a heartbeat every 10 s, reporting the version
// they downloaded, against a control plane process on PostgreSQL.
// Reports the seconds until every gateway has applied it (the rollout is
// done), and the control plane's CPU: during the rollout and, before it,
// in the steady fleet alone (seconds of CPU per wall-clock second, so 1.0
// is one core). FLEET_GATEWAYS sets the fleet size (default 10000):
//
//	FLEET_GATEWAYS=10000 go test ./tests/fleet -run '^$' -bench RolloutToFleet -benchtime 1x -timeout 30m
func BenchmarkRolloutToFleet(b *testing.B) {
	n := 10000
	if v := os.Getenv("FLEET_GATEWAYS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			b.Fatalf("FLEET_GATEWAYS=%q: want a number above 1", v)
		}
	}
	const interval = 10 * time.Second
	cloud := testenv.StartCloud(b, "STREAMFORGE_DATABASE_URL="+testenv.PostgresURL(b), "STREAMFORGE_RATE_LIMIT=0",
		"STREAMFORGE_GATEWAY_RATE_LIMIT=0", "STREAMFORGE_ALLOW_KEY_IDENTITY=true",
		// Each enrollment hashes its claim code with argon2id (19 MiB):
		// room for the setup's 8 workers at once.
		"STREAMFORGE_PASSWORD_HASH_MEMORY=160")
	transport := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	httpc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	a := newAdmin(cloud.URL, httpc)
	if err := a.login(testenv.CloudAdminEmail, testenv.CloudAdminPassword); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	gws, err := setup(a, httpc, n, 8)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d gateways in %s", n, time.Since(start).Round(time.Second))
	ids := make([]string, n)
	for i, g := range gws {
		ids[i] = g.GatewayID
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- run(ctx, gws, interval) }()
	// A request of the open-loop fleet may time out on a loaded machine:
	// counted and reported, not a failure of the rollout measured.
	defer func() {
		cancel()
		res := <-done
		b.ReportMetric(float64(res.errors), "fleet-errors")
		b.ReportMetric(float64(res.count), "fleet-requests")
	}()

	// The steady fleet alone, over one polling interval.
	cpu0, t0 := cpuSeconds(b, cloud.Pid()), time.Now()
	time.Sleep(interval)
	steady := (cpuSeconds(b, cloud.Pid()) - cpu0) / time.Since(t0).Seconds()

	var total, cpu float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pipeline := fmt.Sprintf("fleet-%d", i)
		spec := map[string]any{"kafka": map[string]any{"brokers": "127.0.0.1:9092", "telemetry_topic": "t" + strconv.Itoa(i)}}
		if err := a.call("POST", "/api/v1/pipelines", map[string]any{"id": pipeline, "spec": spec}, nil); err != nil {
			b.Fatal(err)
		}
		c0, t0 := cpuSeconds(b, cloud.Pid()), time.Now()
		var ro struct{ ID uint64 }
		if err := a.call("POST", "/api/v1/pipelines/"+pipeline+"/rollouts", map[string]any{"gateways": ids, "canary": "1%",
			"apply_timeout": "5m"}, &ro); err != nil {
			b.Fatal(err)
		}
		for {
			var list struct {
				Rollouts []struct {
					State  string
					Reason string
					Counts map[string]int
				}
			}
			if err := a.call("GET", "/api/v1/pipelines/"+pipeline+"/rollouts", nil, &list); err != nil {
				b.Fatal(err)
			}
			r := list.Rollouts[0]
			if r.State == "done" {
				if r.Counts["applied"] != n {
					b.Fatalf("done with %v", r.Counts)
				}
				break
			}
			if r.State != "running" {
				b.Fatalf("rollout %s: %s %v", r.State, r.Reason, r.Counts)
			}
			time.Sleep(500 * time.Millisecond) // the measurement's resolution
		}
		secs := time.Since(t0).Seconds()
		total += secs
		cpu += (cpuSeconds(b, cloud.Pid()) - c0) / secs
	}
	b.StopTimer()
	b.ReportMetric(total/float64(b.N), "s-to-all-applied")
	b.ReportMetric(cpu/float64(b.N), "cloud-cpu-cores")
	b.ReportMetric(steady, "steady-cpu-cores")
	b.ReportMetric(float64(n), "gateways")
}

// cpuSeconds is the user and system CPU time process pid has used.
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (in parentheses, may hold spaces):
	// utime and stime are the 12th and 13th, in clock ticks (USER_HZ 100).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}
