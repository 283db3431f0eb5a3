package api_test

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/cloud/gatewaylogs"
	"github.com/streamforge/streamforge/pkg/wire"
)

// approvedGateway enrolls gateway id, approves it and returns its client
// holding a gateway token.
func (e *env) approvedGateway(admin, id string) *controlplane.Client {
	e.t.Helper()
	_, value := e.enrollmentToken(admin, 1, "")
	gw := e.gateway(id)
	if _, err := gw.Enroll(context.Background(), value, "edge", nil); err != nil {
		e.t.Fatal(err)
	}
	if r := e.do("POST", "/api/v1/gateways/"+id+"/approve", admin, nil); r.status != 200 {
		e.t.Fatalf("approve %s: %d %s", id, r.status, r.raw)
	}
	if _, err := gw.ObtainToken(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return gw
}

type logPage struct {
	Lines      []gatewaylogs.Line `json:"lines"`
	NextCursor uint64             `json:"next_cursor"`
}

// TestGatewayLogsAreScopedFilteredAndBounded: a gateway ships its log
// lines (bad batches refused with 400 naming the field, another gateway's
// route refused); an Operator with access reads them filtered by level and
// time and paged, unaudited; a Viewer is refused (403, audited as
// authorization.denied), an Operator without access to
// the gateway gets 404; each gateway keeps only its newest lines, and its
// lines go with it when it is deleted.
func TestGatewayLogsAreScopedFilteredAndBounded(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		ctx := context.Background()
		admin := e.login(adminEmail, adminPassword)
		gw := e.approvedGateway(admin, "gw-logs")
		other := e.approvedGateway(admin, "gw-other")
		t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
		line := func(seq int, level, msg string) wire.LogEntry {
			return wire.LogEntry{Seq: uint64(seq), Time: t0.Add(time.Duration(seq) * time.Second), Level: level, Message: msg, Attrs: fmt.Sprintf("n=%d", seq)}
		}
		var batch []wire.LogEntry
		for i := 1; i <= 40; i++ {
			batch = append(batch, line(i, wire.LogLevels[i%4], fmt.Sprintf("line %d", i)))
		}
		if err := gw.ShipLogs(ctx, wire.LogBatch{Entries: batch, Dropped: 3}); err != nil {
			t.Fatal(err)
		}

		for _, c := range []struct {
			name  string
			batch wire.LogBatch
			field string
		}{
			{"fail-unknown-level", wire.LogBatch{Entries: []wire.LogEntry{line(1, "TRACE", "x")}}, "entries[0].level"},
			{"fail-long-message", wire.LogBatch{Entries: []wire.LogEntry{line(1, "INFO", strings.Repeat("m", wire.MaxLogMessage+1))}}, "entries[0].message"},
			{"fail-no-time", wire.LogBatch{Entries: []wire.LogEntry{{Level: "INFO", Message: "x"}}}, "entries[0].time"},
			{"fail-too-many", wire.LogBatch{Entries: make([]wire.LogEntry, wire.MaxLogBatchEntries+1)}, "entries: at most"},
			{"fail-seq-beyond-int64", wire.LogBatch{Entries: []wire.LogEntry{{Seq: math.MaxUint64, Time: t0, Level: "INFO", Message: "x"}}}, "entries[0].seq"},
		} {
			t.Run(c.name, func(t *testing.T) {
				tok, _ := gw.Token()
				wantError(t, e.do("POST", "/api/v1/gateways/gw-logs/logs", tok, c.batch), 400, c.field)
			})
		}
		otherTok, _ := other.Token()
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-logs/logs", otherTok, wire.LogBatch{Entries: batch[:1]}), 403)
		wantStatus(t, e.do("POST", "/api/v1/gateways/gw-logs/logs", admin, wire.LogBatch{Entries: batch[:1]}), 401)

		op := e.user("op@example.com", []string{"Operator"}, "gw-logs")
		read := func(tok, query string) (logPage, resp) {
			t.Helper()
			r := e.do("GET", "/api/v1/gateways/gw-logs/logs"+query, tok, nil)
			var p logPage
			if r.status == 200 {
				decodeInto(t, r.raw, &p)
			}
			return p, r
		}
		all, r := read(op, "?limit=1000")
		wantStatus(t, r, 200)
		if len(all.Lines) != 41 || all.Lines[0].Message != "line 40" || all.Lines[40].Level != "WARN" ||
			!strings.Contains(all.Lines[40].Message, "3 log lines were evicted") {
			t.Fatalf("all lines: %d, newest %+v, oldest %+v", len(all.Lines), all.Lines[0], all.Lines[len(all.Lines)-1])
		}
		warn, _ := read(op, "?level=warn&limit=1000")
		for _, l := range warn.Lines {
			if l.Level != "WARN" && l.Level != "ERROR" {
				t.Fatalf("level=warn shows %+v", l)
			}
		}
		if len(warn.Lines) != 21 { // 20 shipped WARN/ERROR lines and the eviction note
			t.Fatalf("level=warn: %d lines", len(warn.Lines))
		}
		from, to := t0.Add(10*time.Second).Format(time.RFC3339), t0.Add(19*time.Second).Format(time.RFC3339)
		window, _ := read(op, "?from="+url.QueryEscape(from)+"&to="+url.QueryEscape(to))
		if len(window.Lines) != 10 || window.Lines[0].Seq != 19 || window.Lines[9].Seq != 10 {
			t.Fatalf("time window: %+v", window.Lines)
		}
		seen := 0
		for cursor := ""; ; {
			p, r := read(op, "?level=error&limit=3"+cursor)
			wantStatus(t, r, 200)
			seen += len(p.Lines)
			if p.NextCursor == 0 {
				break
			}
			cursor = fmt.Sprintf("&cursor=%d", p.NextCursor)
		}
		if seen != 10 {
			t.Fatalf("paging level=error saw %d lines, want 10", seen)
		}
		for _, q := range []string{"?level=verbose", "?from=yesterday", "?limit=0", "?limit=5000", "?cursor=x",
			"?from=" + url.QueryEscape(to) + "&to=" + url.QueryEscape(from)} {
			if _, r := read(op, q); r.status != 400 || r.body["error"] == nil {
				t.Errorf("GET logs%s: %d %s, want 400 with a message", q, r.status, r.raw)
			}
		}

		// Reading logs is not audited (docs/gateways.md says why): the
		// trail does not grow with reads. A refused read is.
		head := len(e.records(admin, "limit=1000"))
		read(op, "")
		read(op, "?level=error")
		if n := len(e.records(admin, "limit=1000")); n != head {
			t.Fatalf("reading logs added %d audit records", n-head)
		}
		viewer := e.user("viewer@example.com", []string{"Viewer"}, "*")
		_, r = read(viewer, "")
		wantError(t, r, 403, "Missing permission: logs:read")
		denied := e.records(admin, "event_type=authorization.denied&user=viewer%40example.com")
		if len(denied) != 1 || denied[0]["resource"] != "/api/v1/gateways/:id/logs" || denied[0]["reason"] != "missing permission logs:read" {
			t.Fatalf("the refused read's audit records: %v", denied)
		}
		stranger := e.user("op-other@example.com", []string{"Operator"}, "gw-other")
		_, r = read(stranger, "")
		wantStatus(t, r, 404)

		// The newest DefaultKeep lines stay.
		for i := 0; i <= gatewaylogs.DefaultKeep/wire.MaxLogBatchEntries; i++ {
			b := make([]wire.LogEntry, wire.MaxLogBatchEntries)
			for j := range b {
				b[j] = line(100+i*len(b)+j, "DEBUG", "bulk")
			}
			if err := gw.ShipLogs(ctx, wire.LogBatch{Entries: b}); err != nil {
				t.Fatal(err)
			}
		}
		count := func(id string) int64 {
			var n int64
			if err := e.store.DB.Raw("SELECT COUNT(*) FROM gateway_logs WHERE gateway_id = ?", id).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("gw-logs"); n != gatewaylogs.DefaultKeep {
			t.Fatalf("gw-logs keeps %d lines, want %d", n, gatewaylogs.DefaultKeep)
		}
		newest, _ := read(op, "?limit=1")
		if want := uint64(100 + (gatewaylogs.DefaultKeep/wire.MaxLogBatchEntries+1)*wire.MaxLogBatchEntries - 1); newest.Lines[0].Seq != want {
			t.Fatalf("newest line seq %d, want %d", newest.Lines[0].Seq, want)
		}

		wantStatus(t, e.do("DELETE", "/api/v1/gateways/gw-logs", admin, nil), 204)
		if n := count("gw-logs"); n != 0 {
			t.Fatalf("a deleted gateway's %d log lines remain", n)
		}
	})
}
