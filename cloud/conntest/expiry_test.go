package conntest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/conntest"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestConnectionTestsExpire (SQLite and PostgreSQL): a test its gateway
// has not taken within conntest.Expiry is shown expired, no longer flags
// the gateway's config polls and is never handed out; a test taken but
// not answered within Expiry is shown expired too, and a result that
// still arrives is kept (done). A fresh test is handed out as before.
func TestConnectionTestsExpire(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			url := ""
			if db == "postgres" {
				url = testenv.PostgresURL(t)
			}
			ctx := context.Background()
			st, err := store.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			p := pipelines.New(st.Pipelines())
			spec := json.RawMessage(`{"kafka":{"brokers":"127.0.0.1:9092"},"adapters":[{"type":"modbus","name":"line1","devices":[{"name":"plc1",
				"tcp":"127.0.0.1:5020","poll_groups":[{"name":"fast","interval":"1s"}],
				"tags":[{"name":"t","register":"holding_register","address":0,"type":"uint16","poll_group":"fast"}]}]}]}`)
			if _, err := p.Create(ctx, pipelines.Origin{Actor: "eng@example.com"}, "p1", "", pipelines.Input{Spec: spec}); err != nil {
				t.Fatal(err)
			}
			svc := conntest.New(st.ConnectionTests(), p)
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			svc.Now = func() time.Time { return now }
			hints := conntest.NewHints(st.ConnectionTests(), time.Nanosecond)
			hints.Now = svc.Now
			o := audit.Origin{Actor: "eng@example.com"}
			ask := func() uint64 {
				t.Helper()
				tt, err := svc.Ask(ctx, o, conntest.Request{GatewayID: "gw-1", PipelineID: "p1", Adapter: "line1", Device: "plc1", PollGroup: "fast"})
				if err != nil {
					t.Fatal(err)
				}
				return tt.ID
			}
			status := func(id uint64) string {
				t.Helper()
				tt, err := svc.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return tt.Status
			}

			stale := ask()
			now = now.Add(conntest.Expiry + time.Second)
			if s := status(stale); s != conntest.StatusExpired {
				t.Fatalf("a test not taken for longer than %s: %s", conntest.Expiry, s)
			}
			if w, err := hints.Waiting(ctx, "gw-1"); err != nil || w {
				t.Fatalf("an expired test flags the config poll: %v %v", w, err)
			}
			if got, err := svc.Take(ctx, "gw-1"); err != nil || len(got) != 0 {
				t.Fatalf("an expired test handed out: %+v %v", got, err)
			}

			fresh := ask()
			hints.Forget() // as the API does after an ask
			if w, err := hints.Waiting(ctx, "gw-1"); err != nil || !w {
				t.Fatalf("a fresh test does not flag the config poll: %v %v", w, err)
			}
			got, err := svc.Take(ctx, "gw-1")
			if err != nil || len(got) != 1 || got[0].ID != fresh {
				t.Fatalf("take: %+v %v, want test %d only", got, err, fresh)
			}
			if s := status(fresh); s != store.ConnTestSent {
				t.Fatalf("a test just taken: %s", s)
			}
			now = now.Add(conntest.Expiry + time.Second)
			if s := status(fresh); s != conntest.StatusExpired {
				t.Fatalf("a test sent and not answered for longer than %s: %s", conntest.Expiry, s)
			}
			late := wire.ConnectionTestResult{Error: "dial tcp 127.0.0.1:5020: connection refused"}
			if err := svc.Complete(ctx, "gw-1", fresh, late); err != nil {
				t.Fatal(err)
			}
			if s := status(fresh); s != store.ConnTestDone {
				t.Fatalf("a late result: %s", s)
			}
		})
	}
}
