// Package faults injects faults into the control plane's real parts (here
// its PostgreSQL) under load and checks that nothing is lost and that it
// recovers by itself. The agent-side suites (Kafka cluster, network faults)
// are in tests/e2e; docs/reliability.md lists them all.
package faults

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// outcome is one request's answer and when it was sent and answered.
type outcome struct {
	sent, done time.Time
	status     int // 0: transport error
	what       string
}

type recorder struct {
	mu  sync.Mutex
	all []outcome
}

func (r *recorder) add(o outcome) {
	r.mu.Lock()
	r.all = append(r.all, o)
	r.mu.Unlock()
}

// PostgreSQL is restarted under load from gateways (config polls and
// heartbeats) and an admin (audited changes) spread over two control plane
// replicas. During the outage both stay up and /readyz says 503; no request
// answers 5xx outside the outage window; heartbeats resume on every
// gateway; every audited change that was answered 2xx is in the audit trail,
// and the chain verifies.
//
// Besides 40 simulated gateways, two real agent processes (one per
// replica) run a config the cloud deployed before the outage, reading a
// Modbus simulator into a Kafka-protocol broker. During the outage they
// keep delivering on that config, and one of them, restarted, comes back on
// it from its local state; afterwards their heartbeats resume and Kafka
// holds every reading of theirs, gapless by seq.
func TestControlPlaneThroughPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a PostgreSQL cluster under load")
	}
	pg := testenv.StartPostgresCluster(t)
	env := []string{"STREAMFORGE_DATABASE_URL=" + pg.URL, "STREAMFORGE_JWT_KEY_DIR=" + t.TempDir(),
		"STREAMFORGE_RATE_LIMIT=0", "STREAMFORGE_GATEWAY_RATE_LIMIT=0", "STREAMFORGE_ALLOW_KEY_IDENTITY=true"}
	replicas := []*testenv.Cloud{testenv.StartCloud(t, env...), testenv.StartCloud(t, env...)}
	admin := replicas[0].Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)

	// 40 gateways, half on each replica, enrolled and approved.
	const n = 40
	var tok struct{ Token string }
	if st := replicas[0].Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": n + 2}, &tok); st != 201 && st != 200 {
		t.Fatalf("enrollment token: %d", st)
	}
	gws := make([]*controlplane.Client, n)
	for i := range gws {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		id := fmt.Sprintf("gw-pg-%02d", i)
		c := controlplane.NewClient(replicas[i%2].URL, id, key)
		if _, err := c.Enroll(context.Background(), tok.Token, "fleet", nil); err != nil {
			t.Fatalf("enroll %s: %v", id, err)
		}
		if st := replicas[0].Call("POST", "/api/v1/gateways/"+id+"/approve", admin, nil, nil); st != 200 {
			t.Fatalf("approve %s: %d", id, st)
		}
		if _, err := c.ObtainToken(context.Background()); err != nil {
			t.Fatalf("token %s: %v", id, err)
		}
		gws[i] = c
	}
	fleet := startFleetAgents(t, replicas, admin, tok.Token)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// A failed check must not leave the load running against stopped replicas.
	t.Cleanup(func() { stop(); wg.Wait() })
	rec := &recorder{}
	lastBeat := make([]time.Time, n)
	var beatMu sync.Mutex
	for i, c := range gws {
		wg.Go(func() {
			for ctx.Err() == nil {
				sent := time.Now()
				err := c.Heartbeat(ctx, wire.Heartbeat{Status: "ok", AgentVersion: "faults"})
				rec.add(outcome{sent: sent, done: time.Now(), status: statusOf(err), what: "heartbeat " + c.GatewayID})
				if err == nil {
					beatMu.Lock()
					lastBeat[i] = time.Now()
					beatMu.Unlock()
				}
				sleep(ctx, 250*time.Millisecond)
			}
		})
	}
	// The admin creates an enrollment token (audited) every 100 ms,
	// alternating replicas; each one answered 2xx must be in the trail.
	var (
		createdMu sync.Mutex
		created   []string
	)
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			sent := time.Now()
			var out struct{ ID string }
			st := call(replicas[i%2], "POST", "/api/v1/enrollment-tokens", admin,
				map[string]any{"expires_in": "1h", "max_uses": 1, "site": fmt.Sprintf("pg-restart-%d", i)}, &out)
			rec.add(outcome{sent: sent, done: time.Now(), status: st, what: "create enrollment token"})
			if st/100 == 2 {
				createdMu.Lock()
				created = append(created, out.ID)
				createdMu.Unlock()
			}
			sleep(ctx, 100*time.Millisecond)
		}
	})

	// Steady traffic first: every gateway has had a heartbeat through.
	if !testenv.Within(30*time.Second, func() bool {
		beatMu.Lock()
		defer beatMu.Unlock()
		for _, at := range lastBeat {
			if at.IsZero() {
				return false
			}
		}
		return true
	}) {
		t.Fatal("not every gateway had a heartbeat through before the outage")
	}
	beatsBefore := make([]int, len(fleet))
	for i, a := range fleet {
		beatsBefore[i] = a.failedBeats()
	}
	// A request may fail while the database is down, and for the moments
	// its pool needs to reconnect; never outside that.
	grace := 2 * time.Second
	outageStart := time.Now()
	pg.Stop()
	// Both replicas stay up and say they are not ready.
	for _, r := range replicas {
		deadline := time.Now().Add(10 * time.Second)
		for st := 0; st != http.StatusServiceUnavailable; st = get(r.URL + "/readyz") {
			if time.Now().After(deadline) {
				t.Fatalf("%s/readyz = %d during the outage, want 503", r.URL, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The real agents ride it out on their last-known-good config; one is
	// restarted without a control plane to serve it.
	for i, a := range fleet {
		a.deliversThroughOutage(t, beatsBefore[i])
	}
	fleet[len(fleet)-1].restartOffline(t)
	// The outage's length is the fault itself, not a wait for a condition:
	// many heartbeat and poll intervals, and the restarted agent's token
	// retries backing off.
	time.Sleep(time.Until(outageStart.Add(minOutage)))
	pg.Start()
	outageEnd := time.Now()
	for _, r := range replicas {
		deadline := time.Now().Add(30 * time.Second)
		for st := 0; st != http.StatusOK; st = get(r.URL + "/readyz") {
			if time.Now().After(deadline) {
				t.Fatalf("%s/readyz = %d after the outage, want 200\n%s", r.URL, st, r.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	recovered := time.Now()
	// Traffic after the recovery: every gateway, simulated or real, has a
	// heartbeat accepted, the real ones still on their config.
	if !testenv.Within(agentLimit, func() bool {
		beatMu.Lock()
		defer beatMu.Unlock()
		for _, at := range lastBeat {
			if !at.After(recovered.Add(grace)) {
				return false
			}
		}
		return true
	}) {
		t.Error("not every simulated gateway had a heartbeat accepted after the outage")
	}
	for _, a := range fleet {
		var first time.Time
		a.proc.Eventually(t, agentLimit, a.id+": heartbeats after the outage", func() bool {
			first = a.firstBeatAfter(admin, outageEnd)
			return !first.IsZero()
		})
		t.Logf("%s: first heartbeat %s after the database's return", a.id, first.Sub(outageEnd).Round(10*time.Millisecond))
		if g := a.gateway(admin); g["applied_config_version"] != float64(a.version) {
			t.Errorf("%s reports config v%v after the outage, want v%d", a.id, g["applied_config_version"], a.version)
		}
	}
	stop()
	wg.Wait()

	var inOutage, ok, bad int
	for _, o := range rec.all {
		switch {
		case o.status/100 == 2 || o.status == http.StatusNotModified:
			ok++
		case o.done.After(outageStart) && o.sent.Before(recovered.Add(grace)):
			inOutage++
		case o.status == 0 && ctx.Err() != nil:
			// cancelled at the end of the test
		default:
			bad++
			if bad <= 5 {
				t.Errorf("%s answered %d at %s, outside the outage %s..%s", o.what, o.status,
					o.sent.Format("15:04:05.000"), outageStart.Format("15:04:05.000"), recovered.Format("15:04:05.000"))
			}
		}
	}
	t.Logf("%d requests answered 2xx, %d failed during the outage (%s, ready again %s after the database)", ok, inOutage,
		outageEnd.Sub(outageStart).Round(100*time.Millisecond), recovered.Sub(outageEnd).Round(100*time.Millisecond))
	if bad > 0 {
		t.Errorf("%d requests failed outside the outage", bad)
	}
	for i, at := range lastBeat {
		if !at.After(recovered) {
			t.Errorf("%s: no heartbeat accepted after the outage (last %s)", gws[i].GatewayID, at.Format("15:04:05.000"))
		}
	}
	for _, a := range fleet {
		for _, line := range a.failuresAfter(recovered.Add(grace)) {
			t.Errorf("%s: control plane call failed after the outage: %s", a.id, line)
		}
		rep, during := a.checkDelivered(t, outageStart, outageEnd)
		t.Logf("%s: %d readings of %d streams in Kafka (%d read during the outage), gapless by seq, %d duplicates (repeated seqs)",
			a.id, rep.Unique, rep.Streams, during, rep.Duplicates)
	}

	// Every enrollment token answered 2xx has its audit record; the chain verifies.
	audited := map[string]bool{}
	for cursor := ""; ; {
		var page struct {
			Records []struct {
				ResourceID string `json:"resource_id"`
			} `json:"records"`
			NextCursor *int64 `json:"next_cursor"`
		}
		if st := replicas[1].Call("GET", "/api/v1/audit?event_type=enrollment.token.create&limit=100"+cursor, admin, nil, &page); st != 200 {
			t.Fatalf("audit query: %d", st)
		}
		for _, r := range page.Records {
			audited[r.ResourceID] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = fmt.Sprintf("&cursor=%d", *page.NextCursor)
	}
	createdMu.Lock()
	defer createdMu.Unlock()
	for _, id := range created {
		if !audited[id] {
			t.Errorf("enrollment token %s was created (2xx) but has no audit record", id)
		}
	}
	var verify struct {
		OK bool `json:"ok"`
	}
	if st := replicas[0].Call("GET", "/api/v1/audit/verify", admin, nil, &verify); st != 200 || !verify.OK {
		t.Errorf("audit verify after the outage: %d %+v", st, verify)
	}
	t.Logf("%d audited changes answered 2xx, all in the trail", len(created))
}

// minOutage is how long the database stays down at least.
const minOutage = 8 * time.Second

func statusOf(err error) int {
	if err == nil {
		return 200
	}
	var ae *controlplane.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// call is Cloud.Call for a goroutine of the test: a transport error is
// status 0, not a failed test.
func call(c *testenv.Cloud, method, path, token string, body, out any) int {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.URL+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(out)
	return res.StatusCode
}

func get(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
