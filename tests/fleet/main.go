// Command fleet simulates many gateways against one control plane: each
// enrolls with its own identity key, is approved, gets a config deployed,
// obtains its token and downloads its config; then, in the measured steady
// phase, it polls its config (If-None-Match, as the agent does) and sends a
// heartbeat every interval. It reports the
// requests per second and the latency percentiles of the steady phase.
//
//	go run ./tests/fleet -cloud http://127.0.0.1:8080 -gateways 10000 -interval 10s -duration 60s
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/pkg/wire"
)

func main() {
	cloud := flag.String("cloud", "http://127.0.0.1:8080", "control plane URL")
	email := flag.String("admin-email", "admin@example.com", "admin email")
	password := flag.String("admin-password", os.Getenv("FLEET_ADMIN_PASSWORD"), "admin password (or FLEET_ADMIN_PASSWORD)")
	n := flag.Int("gateways", 10000, "simulated gateways")
	interval := flag.Duration("interval", 10*time.Second, "each gateway polls config and sends a heartbeat this often")
	duration := flag.Duration("duration", 60*time.Second, "length of the measured steady phase")
	setupWorkers := flag.Int("setup-workers", 32, "concurrent enrollments during setup")
	cpuProfile := flag.String("cpuprofile", "", "write the simulator's CPU profile of the steady phase here")
	flag.Parse()

	transport := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	httpc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	admin := newAdmin(*cloud, httpc)
	if err := admin.login(*email, *password); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	gws, err := setup(admin, httpc, *n, *setupWorkers)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("setup: %d gateways enrolled, approved and holding tokens in %s", len(gws), time.Since(start).Round(time.Millisecond))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	res := run(ctx, gws, *interval)
	fmt.Printf("fleet: %d gateways, every %s, %s: %d requests, %.0f req/s, errors %d, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		len(gws), *interval, *duration, res.count, float64(res.count)/duration.Seconds(), res.errors,
		res.pct(0.50), res.pct(0.99), res.pct(1))
}

// gateway is one simulated gateway: its client and the config version it
// has applied (reported in its heartbeats, as the agent does).
type gateway struct {
	*controlplane.Client
	applied int
}

// setup enrolls, approves and authenticates n gateways.
func setup(a *admin, httpc *http.Client, n, workers int) ([]*gateway, error) {
	token, err := a.enrollmentToken(n)
	if err != nil {
		return nil, err
	}
	gws := make([]*gateway, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && firstErr.Load() == nil; i = int(next.Add(1)) - 1 {
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				c := controlplane.NewClient(a.url, fmt.Sprintf("fleet-%05d", i), key)
				c.HTTP = httpc
				ctx := context.Background()
				if err := busyRetry(func() error { _, err := c.Enroll(ctx, token, "fleet", nil); return err }); err != nil {
					firstErr.Store(fmt.Errorf("enroll %s: %w", c.GatewayID, err))
					return
				}
				if err := a.approve(c.GatewayID); err != nil {
					firstErr.Store(err)
					return
				}
				if err := a.deploy(c.GatewayID); err != nil {
					firstErr.Store(err)
					return
				}
				if _, err := c.ObtainToken(ctx); err != nil {
					firstErr.Store(fmt.Errorf("token %s: %w", c.GatewayID, err))
					return
				}
				// The agent's first poll after start downloads the config;
				// the measured phase is the steady state after it.
				cfg, err := c.FetchConfig(ctx)
				if err != nil || cfg == nil {
					firstErr.Store(fmt.Errorf("first config poll of %s: %v %v", c.GatewayID, cfg, err))
					return
				}
				gws[i] = &gateway{Client: c, applied: cfg.Version}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	return gws, nil
}

// busyRetry calls f again, as an agent would, while the control plane
// answers 503 (its argon2id checks of claim codes are saturated).
func busyRetry(f func() error) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if err := f(); !controlplane.IsStatus(err, http.StatusServiceUnavailable) {
			return err
		}
		time.Sleep(wait)
	}
}

type result struct {
	count, errors int
	lat           []time.Duration
}

func (r result) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return math.NaN()
	}
	i := min(len(r.lat)-1, int(p*float64(len(r.lat))))
	return float64(r.lat[i].Microseconds()) / 1000
}

// run spreads the gateways evenly over the interval (open loop: a slow
// server does not slow the schedule) and measures every request, until
// ctx ends. A gateway that downloads a new config reports its version in
// its next heartbeats.
func run(ctx context.Context, gws []*gateway, interval time.Duration) result {
	var mu sync.Mutex
	var res result
	record := func(d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		res.count++
		if err != nil {
			res.errors++
			return
		}
		res.lat = append(res.lat, d)
	}
	var wg sync.WaitGroup
	step := interval / time.Duration(len(gws))
	for i, c := range gws {
		wg.Add(1)
		go func(c *gateway, offset time.Duration) {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(offset):
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				s := time.Now()
				cfg, err := c.FetchConfig(context.Background())
				record(time.Since(s), err)
				if err == nil && cfg != nil {
					c.applied = cfg.Version
				}
				s = time.Now()
				err = c.Heartbeat(context.Background(), wire.Heartbeat{Status: "ok", AgentVersion: "fleet", ConfigVersion: c.applied})
				record(time.Since(s), err)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}(c, time.Duration(i)*step)
	}
	wg.Wait()
	slices.Sort(res.lat)
	return res
}

// admin is the control plane API as the fleet's administrator.
type admin struct {
	url   string
	httpc *http.Client
	token string
}

func newAdmin(url string, httpc *http.Client) *admin { return &admin{url: url, httpc: httpc} }

func (a *admin) call(method, path string, body, out any) error {
	c := controlplane.NewClient(a.url, "", nil)
	c.HTTP = a.httpc
	return c.Call(context.Background(), method, path, a.token, body, out)
}

func (a *admin) login(email, password string) error {
	var out struct{ Token string }
	if err := a.call("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &out); err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	a.token = out.Token
	return nil
}

func (a *admin) enrollmentToken(uses int) (string, error) {
	var out struct{ Token string }
	err := a.call("POST", "/api/v1/enrollment-tokens", map[string]any{"expires_in": "2h", "max_uses": uses}, &out)
	return out.Token, err
}

// deploy gives the gateway a small config (a Modbus device with a few tags).
func (a *admin) deploy(id string) error {
	cfg := map[string]any{"adapters": []any{map[string]any{"type": "modbus", "name": "plc", "devices": []any{map[string]any{
		"name": "plc-1", "tcp": "127.0.0.1:5020", "poll_groups": []any{map[string]any{"name": "fast", "interval": "1s"}},
		"tags": []any{map[string]any{"name": "temp", "register": "holding_register", "address": 0, "type": "float32", "poll_group": "fast"}},
	}}}}}
	var out json.RawMessage
	if err := a.call("PUT", "/api/v1/gateways/"+id+"/config", map[string]any{"config": cfg}, &out); err != nil {
		return fmt.Errorf("deploy config to %s: %w", id, err)
	}
	return nil
}

func (a *admin) approve(id string) error {
	var out json.RawMessage
	return a.call("POST", "/api/v1/gateways/"+id+"/approve", nil, &out)
}
