package controlplane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/agent/logring"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestLogsShipIncrementallyAndSurviveAnOutage runs the loop against a
// streamforge-cloud process: a backlog of 1,000 lines logged before
// approval reaches the cloud over several heartbeats (each batch bounded),
// and the lines logged while the cloud is down arrive after it is back,
// each exactly once.
func TestLogsShipIncrementallyAndSurviveAnOutage(t *testing.T) {
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	if st := cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok); st != 201 {
		t.Fatalf("enrollment token: %d", st)
	}
	logs := logring.New(slog.NewTextHandler(io.Discard, nil))
	log := slog.New(logs)
	for i := range 1000 {
		log.Info(fmt.Sprintf("backlog %d", i), "pad", strings.Repeat("x", 100))
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	loop, err := controlplane.NewLoop(context.Background(), controlplane.Options{
		Client: controlplane.NewClient(cloud.URL, "gw-logs-01", key), EnrollmentToken: tok.Token, Hostname: "edge",
		StateDir: t.TempDir(), PollInterval: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
		Log: log, Logs: logs.Ring(), Health: func() wire.Heartbeat { return wire.Heartbeat{Status: "ok"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 20*time.Second, "enrollment", func() bool { return loop.State().Enrolled })
	if st := cloud.Call("POST", "/api/v1/gateways/gw-logs-01/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}

	// lines returns how often the cloud holds each message with prefix,
	// and in how many distinct batches (received_at) they came.
	lines := func(prefix string) (count map[string]int, batches int) {
		count, when := map[string]int{}, map[string]bool{}
		for cursor := ""; ; {
			var p struct {
				Lines []struct {
					Message    string
					ReceivedAt string `json:"received_at"`
				}
				NextCursor uint64 `json:"next_cursor"`
			}
			cloud.Call("GET", "/api/v1/gateways/gw-logs-01/logs?limit=1000"+cursor, admin, nil, &p)
			for _, l := range p.Lines {
				if strings.HasPrefix(l.Message, prefix) {
					count[l.Message]++
					when[l.ReceivedAt] = true
				}
			}
			if p.NextCursor == 0 {
				return count, len(when)
			}
			cursor = fmt.Sprintf("&cursor=%d", p.NextCursor)
		}
	}
	testenv.Eventually(t, 20*time.Second, "the backlog in the cloud", func() bool { c, _ := lines("backlog "); return len(c) == 1000 })
	if c, batches := lines("backlog "); batches < 1000/200 {
		t.Fatalf("the backlog came in %d batches, want at least %d of at most 200 lines", batches, 1000/200)
	} else {
		for m, n := range c {
			if n != 1 {
				t.Fatalf("%q stored %d times", m, n)
			}
		}
	}

	cloud.Stop()
	for i := range 50 {
		log.Warn(fmt.Sprintf("during the outage %d", i))
	}
	cloud.Start()
	admin = cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	testenv.Eventually(t, 20*time.Second, "the outage's lines in the cloud", func() bool { c, _ := lines("during the outage "); return len(c) == 50 })
	c, _ := lines("during the outage ")
	for m, n := range c {
		if n != 1 {
			t.Fatalf("%q stored %d times", m, n)
		}
	}
}
