package api_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestHeartbeatsAreBounded: every free-text field of a heartbeat and the
// number of adapters and devices have limits (400 naming the field); each
// gateway's history stays within its row and byte bounds however much it
// sends; health pages are capped and walk the whole history.
func TestHeartbeatsAreBounded(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		e.gw.HistoryRows, e.gw.HistoryBytes = 40, 256<<10
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		_, value := e.enrollmentToken(admin, 1, "")
		gw := e.gateway("gw-hb")
		if _, err := gw.Enroll(ctx, value, "edge", nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-hb/approve", admin, nil), 200)
		tok, err := gw.ObtainToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		send := func(hb wire.Heartbeat) resp { return e.do("POST", "/api/v1/gateways/gw-hb/heartbeat", tok.Token, hb) }
		entries := func(n, names int, name, device, lastErr int) []wire.AdapterState {
			out := make([]wire.AdapterState, n)
			for i := range out {
				out[i] = wire.AdapterState{Name: pad(fmt.Sprintf("a%d-", i%names), name), Device: pad(fmt.Sprintf("d%d-", i), device),
					LastError: strings.Repeat("e", lastErr)}
			}
			return out
		}
		cases := []struct {
			name  string
			hb    wire.Heartbeat
			field string // "" for accepted
		}{
			{"ok-at-every-limit", wire.Heartbeat{Status: pad("s", 32), AgentVersion: pad("v", 64),
				Adapters: entries(wire.MaxHeartbeatEntries, wire.MaxHeartbeatAdapters, 64, 128, 256)}, ""},
			{"fail-long-status", wire.Heartbeat{Status: pad("s", 33)}, "status"},
			{"fail-long-agent-version", wire.Heartbeat{AgentVersion: pad("v", 65)}, "agent_version"},
			{"fail-long-adapter-name", wire.Heartbeat{Adapters: entries(1, 1, 65, 1, 0)}, "adapters[0].name"},
			{"fail-long-device", wire.Heartbeat{Adapters: entries(2, 1, 1, 129, 0)}, "adapters[0].device"},
			{"fail-long-last-error", wire.Heartbeat{Adapters: entries(1, 1, 1, 1, 257)}, "adapters[0].last_error"},
			{"fail-too-many-devices", wire.Heartbeat{Adapters: entries(wire.MaxHeartbeatEntries+1, 1, 1, 1, 0)}, "adapters"},
			{"fail-too-many-adapters", wire.Heartbeat{Adapters: entries(wire.MaxHeartbeatAdapters+1, wire.MaxHeartbeatAdapters+1, 8, 8, 0)}, "adapters"},
			{"fail-negative-buffer-depth", wire.Heartbeat{BufferDepth: -1}, "buffer_depth"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := send(c.hb)
				if c.field == "" {
					wantStatus(t, r, 204)
					return
				}
				wantError(t, r, 400, c.field+":")
			})
		}

		history := func() (rows, bytes int64) {
			t.Helper()
			var out struct{ Rows, Bytes int64 }
			if err := e.store.DB.Raw("SELECT COUNT(*) AS rows, COALESCE(SUM(LENGTH(adapters)), 0) AS bytes FROM gateway_heartbeats WHERE gateway_id = ?",
				"gw-hb").Scan(&out).Error; err != nil {
				t.Fatal(err)
			}
			return out.Rows, out.Bytes
		}
		// Many small heartbeats: the row bound holds (it is trimmed each
		// tenth of the bound).
		for range 100 {
			wantStatus(t, send(wire.Heartbeat{Status: "ok"}), 204)
		}
		if rows, _ := history(); rows > 40+4 {
			t.Fatalf("%d heartbeats kept, bound 40 (+4 between trims)", rows)
		}
		// Large ones: the byte bound holds.
		big := wire.Heartbeat{Status: "ok", Adapters: entries(wire.MaxHeartbeatEntries, 8, 64, 128, 256)}
		for range 40 {
			wantStatus(t, send(big), 204)
		}
		rows, bytes := history()
		if bytes > 256<<10+256<<10/8+130<<10 {
			t.Fatalf("%d bytes of adapter state kept in %d heartbeats, bound 256 KiB (+ an eighth and one heartbeat between trims)", bytes, rows)
		}

		// Health pages: capped, and the cursor walks every row once.
		r := e.do("GET", "/api/v1/gateways/gw-hb/health?limit=1000", admin, nil)
		wantStatus(t, r, 200)
		if n := len(r.body["heartbeats"].([]any)); n > gateways.MaxHealthPage {
			t.Fatalf("a page of %d heartbeats, cap %d", n, gateways.MaxHealthPage)
		}
		wantStatus(t, e.do("GET", "/api/v1/gateways/gw-hb/health?cursor=x", admin, nil), 400)
		seen, cursor := 0, ""
		for pages := 0; ; pages++ {
			if pages > int(rows) {
				t.Fatal("the cursor does not end")
			}
			r := e.do("GET", "/api/v1/gateways/gw-hb/health?limit=3"+cursor, admin, nil)
			wantStatus(t, r, 200)
			if n := len(r.body["heartbeats"].([]any)); n > 3 || n == 0 {
				t.Fatalf("page of %d heartbeats, want 1..3", n)
			}
			seen += len(r.body["heartbeats"].([]any))
			next, ok := r.body["next_cursor"].(float64)
			if !ok {
				break
			}
			cursor = "&cursor=" + strconv.FormatUint(uint64(next), 10)
		}
		if rows, _ = history(); int64(seen) != rows {
			t.Fatalf("pages showed %d heartbeats of %d", seen, rows)
		}
	})
}

// pad is prefix followed by x up to n bytes.
func pad(prefix string, n int) string {
	if len(prefix) >= n {
		return prefix[:n]
	}
	return prefix + strings.Repeat("x", n-len(prefix))
}

// TestFittedHeartbeatWithControlCharactersIsTaken: what an agent reports
// after Fit reaches the control plane even when its error texts hold line
// breaks or escape sequences (a proxy's HTML error page in an ACME error,
// a multi-line config error): Fit escapes them. The control plane refused
// such heartbeats (400), so the gateway looked offline, its logs stopped
// shipping, and its renewal error never became an alarm.
func TestFittedHeartbeatWithControlCharactersIsTaken(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	gw := e.approvedGateway(admin, "gw-ctl")
	hb := wire.Heartbeat{Status: "degraded", ConfigError: "refused: line one\nline two",
		CertRenewalError: "acme: 502 : <html>\r\n<head>\x1b[1mBad Gateway</head>\n</html>\n",
		Adapters:         []wire.AdapterState{{Name: "modbus", Device: "plc\t1", LastError: "timeout\u202e"}}}
	hb.Fit()
	if err := gw.Heartbeat(context.Background(), hb); err != nil {
		t.Fatalf("heartbeat after Fit: %v", err)
	}
	r := e.do("GET", "/api/v1/gateways/gw-ctl/health", admin, nil)
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.raw), `refused: line one\\nline two`) || !strings.Contains(string(r.raw), `plc\\t1`) {
		t.Fatalf("health does not show the escaped texts: %s", r.raw)
	}
}
