package api_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamforge/streamforge/cloud/alarms"
	"github.com/streamforge/streamforge/cloud/api"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/store"
)

// raise opens an alarm straight in the store (the evaluator's job, tested
// on its own) and returns its id.
func (e *env) raise(kind, category, gateway, subject string) uint64 {
	e.t.Helper()
	now := time.Now().UTC()
	a := store.Alarm{Key: kind + "|" + gateway + "|" + subject, Kind: kind, Category: category, Severity: alarms.Major,
		GatewayID: gateway, Subject: subject, Message: "test", FirstSeen: now, LastSeen: now}
	if err := e.store.RaiseAlarm(context.Background(), &a); err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

func alarmIDs(t *testing.T, r resp) []uint64 {
	t.Helper()
	wantStatus(t, r, 200)
	var page alarms.Page
	if err := json.Unmarshal(r.raw, &page); err != nil {
		t.Fatal(err)
	}
	ids := []uint64{}
	for _, a := range page.Alarms {
		ids = append(ids, a.ID)
	}
	return ids
}

// TestAlarmAcknowledgement: an Operator acknowledges an alarm of a gateway
// it can reach (audited, with who and when); a Viewer may read but not
// acknowledge; an alarm is acknowledged once; gateway_access hides other
// gateways' alarms, and security alarms are for audit readers only.
func TestAlarmAcknowledgement(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		mine := e.raise(alarms.DeviceDown, alarms.Operational, "gw-a", "line1/plc1")
		other := e.raise(alarms.GatewayOffline, alarms.Operational, "gw-b", "")
		sec := e.raise(alarms.LoginFailuresIP, alarms.Security, "", "192.0.2.1")

		op := e.user("op@example.com", []string{rbac.Operator}, "gw-a")
		viewer := e.user("viewer@example.com", []string{rbac.Viewer}, "*")
		admin := e.login(adminEmail, adminPassword)

		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms", op, nil)); fmt.Sprint(got) != fmt.Sprint([]uint64{mine}) {
			t.Fatalf("operator with gw-a sees %v, want [%d]", got, mine)
		}
		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms", viewer, nil)); fmt.Sprint(got) != fmt.Sprint([]uint64{other, mine}) {
			t.Fatalf("viewer sees %v, want the operational alarms [%d %d]", got, other, mine)
		}
		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?category=security", admin, nil)); fmt.Sprint(got) != fmt.Sprint([]uint64{sec}) {
			t.Fatalf("admin's security alarms %v, want [%d]", got, sec)
		}
		wantError(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", mine), viewer, nil), 403, "Missing permission: alarms:ack")
		wantError(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", other), op, nil), 404, "no such alarm")
		wantError(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", sec), op, nil), 404, "no such alarm")

		r := e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", mine), op, nil)
		wantStatus(t, r, 200)
		if r.body["state"] != "acknowledged" || r.body["acknowledged_by"] != "op@example.com" || r.body["acknowledged_at"] == nil {
			t.Fatalf("acknowledged alarm: %s", r.raw)
		}
		wantError(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", mine), op, nil), 409, "not active")
		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?state=acknowledged", admin, nil)); fmt.Sprint(got) != fmt.Sprint([]uint64{mine}) {
			t.Fatalf("acknowledged alarms %v", got)
		}

		a := e.do("GET", "/api/v1/audit?event_type=alarm.acknowledge", admin, nil)
		wantStatus(t, a, 200)
		recs, _ := a.body["records"].([]any)
		if len(recs) != 1 {
			t.Fatalf("want one alarm.acknowledge record: %s", a.raw)
		}
		rec := recs[0].(map[string]any)
		if rec["user"] != "op@example.com" || rec["resource_id"] != strconv.FormatUint(mine, 10) || rec["result"] != "success" {
			t.Fatalf("audit record %v", rec)
		}
	})
}

// TestAlarmAckOutsideViewIsAuditedAsDenial: acknowledging an alarm of a
// gateway outside the caller's gateway_access (or a security alarm without
// audit:read) is answered 404 like an alarm that does not exist, and only
// the trail tells them apart: authorization.denied naming the alarm, as
// for a gateway outside gateway_access. It was not audited at all.
func TestAlarmAckOutsideViewIsAuditedAsDenial(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		other := e.raise(alarms.GatewayOffline, alarms.Operational, "gw-b", "")
		op := e.user("op@example.com", []string{rbac.Operator}, "gw-a")
		admin := e.login(adminEmail, adminPassword)
		denials := func() []map[string]any { return e.records(admin, "event_type=authorization.denied") }

		wantError(t, e.do("POST", "/api/v1/alarms/999999/acknowledge", op, nil), 404, "no such alarm")
		if d := denials(); len(d) != 0 {
			t.Fatalf("a missing alarm is no denial: %v", d)
		}
		wantError(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", other), op, nil), 404, "no such alarm")
		d := denials()
		if len(d) != 1 || d[0]["user"] != "op@example.com" || d[0]["resource_id"] != strconv.FormatUint(other, 10) ||
			d[0]["result"] != "denied" || !strings.Contains(fmt.Sprint(d[0]["reason"]), "outside the caller's view") {
			t.Fatalf("denial records %v", d)
		}
		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?state=active", admin, nil)); fmt.Sprint(got) != fmt.Sprint([]uint64{other}) {
			t.Fatalf("the alarm must stay active: %v", got)
		}
	})
}

// TestSiteAuditReadersSeeOnlyTheirAlarmRecords: the audit records about an
// alarm (its acknowledgement, a refused one) are shown to a reader confined
// to one site only for that site's gateways' alarms (and security alarms,
// which every audit reader sees); they showed another site's too, with who
// acknowledged them.
func TestSiteAuditReadersSeeOnlyTheirAlarmRecords(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.siteGateways(admin, map[string]string{"gw-north": "North", "gw-south": "South"})
		north := e.raise(alarms.DeviceDown, alarms.Operational, "gw-north", "line/plc")
		south := e.raise(alarms.DeviceDown, alarms.Operational, "gw-south", "line/plc")
		sec := e.raise(alarms.LoginFailuresIP, alarms.Security, "", "192.0.2.1")
		southOp := e.user("south-op@example.com", []string{rbac.Operator}, "South")
		for _, id := range []uint64{north, south, sec} {
			wantStatus(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", id), admin, nil), 200)
		}
		wantStatus(t, e.do("POST", fmt.Sprintf("/api/v1/alarms/%d/acknowledge", north), southOp, nil), 404) // a denial

		siteAdmin := e.user("north-admin@example.com", []string{rbac.Admin}, "North")
		seen := map[string]bool{}
		for _, rec := range e.records(siteAdmin, "limit=1000") {
			if rec["resource"] == "alarm" || strings.HasPrefix(fmt.Sprint(rec["resource"]), "/api/v1/alarms/") {
				seen[fmt.Sprint(rec["event_type"], " ", rec["resource_id"])] = true
			}
		}
		id := func(n uint64) string { return strconv.FormatUint(n, 10) }
		want := map[string]bool{"alarm.acknowledge " + id(north): true, "alarm.acknowledge " + id(sec): true,
			"authorization.denied " + id(north): true}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Fatalf("the North admin's alarm records %v, want %v", seen, want)
		}
		all := 0
		for _, rec := range e.records(admin, "event_type=alarm.acknowledge") {
			if rec["resource_id"] == id(south) {
				all++
			}
		}
		if all != 1 {
			t.Fatalf("an unrestricted reader must see the South acknowledgement")
		}
	})
}

// TestDeletedGatewaysAlarmsGoWithIt: a gateway's alarms are deleted with
// it, like its heartbeats and log lines. They stayed, matched to whatever
// gateway later took the id: a South gateway deleted and its id enrolled
// again at North showed North its South alarm history (devices, errors).
func TestDeletedGatewaysAlarmsGoWithIt(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.siteGateways(admin, map[string]string{"gw-1": "South"})
		e.raise(alarms.DeviceDown, alarms.Operational, "gw-1", "line/plc-south")
		wantStatus(t, e.do("DELETE", "/api/v1/gateways/gw-1", admin, nil), 204)
		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?gateway_id=gw-1&state=", admin, nil)); len(got) != 0 {
			t.Fatalf("a deleted gateway's alarms remain: %v", got)
		}
		northAdmin := e.user("north-admin@example.com", []string{rbac.Admin}, "North")
		e.siteGateways(northAdmin, map[string]string{"gw-1": "North"})
		if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?gateway_id=gw-1", northAdmin, nil)); len(got) != 0 {
			t.Fatalf("North sees the South gateway's alarms: %v", got)
		}
	})
}

// TestAlarmListRefusesBadInput: every bad parameter is a 400 naming it.
func TestAlarmListRefusesBadInput(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	for _, c := range []struct{ path, msg string }{
		{"/api/v1/alarms?state=burning", "state:"},
		{"/api/v1/alarms?category=x", "category:"},
		{"/api/v1/alarms?severity=x", "severity:"},
		{"/api/v1/alarms?limit=0", "limit:"},
		{"/api/v1/alarms?cursor=-1", "cursor:"},
	} {
		wantError(t, e.do("GET", c.path, admin, nil), 400, c.msg)
	}
	wantError(t, e.do("POST", "/api/v1/alarms/abc/acknowledge", admin, nil), 400, "id:")
	wantError(t, e.do("POST", "/api/v1/alarms/77/acknowledge", admin, nil), 404, "no such alarm")
}

// webhookReceiver is a local receiver that checks every POST's signature
// and answers 503 to the first failFirst of them.
type webhookReceiver struct {
	mu        sync.Mutex
	secret    []byte
	failFirst int
	calls     int
	got       []alarms.Notification
	bad       []string
	arrived   chan struct{}
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	ts := r.Header.Get(alarms.TimestampHeader)
	sig := r.Header.Get(alarms.SignatureHeader)
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute ||
		!hmac.Equal([]byte(sig), []byte(alarms.Sign(w.secret, ts, body))) {
		w.bad = append(w.bad, fmt.Sprintf("ts %q sig %q", ts, sig))
		rw.WriteHeader(401)
		return
	}
	if w.calls <= w.failFirst {
		rw.WriteHeader(503)
		return
	}
	var n alarms.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		w.bad = append(w.bad, "body: "+err.Error())
	}
	w.got = append(w.got, n)
	w.arrived <- struct{}{}
}

// TestLoginFloodAlertsTheWebhook: failed logins past the threshold raise
// security alarms (per IP and per account), and the webhook receives them
// as signed POSTs, after retrying a receiver that first answered 503. An
// admin login from a new address raises its own alarm.
func TestLoginFloodAlertsTheWebhook(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "", withTrustedProxy("127.0.0.1/32"))
		secret := []byte("webhook-secret-of-32-bytes------")
		rcv := &webhookReceiver{secret: secret, failFirst: 2, arrived: make(chan struct{}, 16)}
		srv := httptest.NewServer(rcv)
		t.Cleanup(srv.Close)
		var logged syncBuffer
		log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
		hook, err := alarms.NewWebhook(srv.URL, secret, log)
		if err != nil {
			t.Fatal(err)
		}
		hook.SetRetry(5, 10*time.Millisecond)
		reg := prometheus.NewRegistry()
		ev, err := alarms.NewEvaluator(e.store, alarms.Config{Interval: time.Hour, LoginFailures: 3}, log, reg, hook)
		if err != nil {
			t.Fatal(err)
		}
		ev.Start() // evaluates once now, then hourly: the test calls Evaluate itself
		t.Cleanup(ev.Close)
		ctx := context.Background()

		e.loginFrom("198.51.100.1", adminEmail, adminPassword) // the admin's usual address
		for i := 0; i < 4; i++ {
			wantStatus(t, e.loginFrom("203.0.113.5", adminEmail, "wrong password"), 401)
		}
		if err := ev.Evaluate(ctx); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case <-rcv.arrived:
			case <-time.After(30 * time.Second):
				t.Fatalf("webhook got %d notifications, want 2", len(rcv.got))
			}
		}
		rcv.mu.Lock()
		kinds := map[string]string{}
		for _, n := range rcv.got {
			kinds[n.Alarm.Kind] = n.Alarm.Subject
			if n.Event != "alarm.raised" || n.Alarm.Category != alarms.Security {
				t.Errorf("notification %+v", n)
			}
		}
		if kinds[alarms.LoginFailuresIP] != "203.0.113.5" || kinds[alarms.LoginFailuresUser] != adminEmail || len(rcv.bad) > 0 || rcv.calls != 4 {
			t.Fatalf("webhook got %v (bad %v, %d calls, want 2 refused then 2 taken)", kinds, rcv.bad, rcv.calls)
		}
		rcv.mu.Unlock()
		if n := gaugeSum(t, reg, "streamforge_alarms_open"); n != 2 {
			t.Fatalf("streamforge_alarms_open = %v, want 2", n)
		}

		wantStatus(t, e.loginFrom("192.0.2.44", adminEmail, adminPassword), 200)
		if err := ev.Evaluate(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rcv.arrived:
		case <-time.After(30 * time.Second):
			t.Fatal("no notification for the admin login from a new address")
		}
		rcv.mu.Lock()
		last := rcv.got[len(rcv.got)-1].Alarm
		rcv.mu.Unlock()
		if last.Kind != alarms.AdminNewIP || last.Subject != adminEmail+" from 192.0.2.44" {
			t.Fatalf("last notification %+v", last)
		}
		if text := logged.String(); !strings.Contains(text, "alarm webhook delivery failed") || strings.Contains(text, string(secret)) {
			t.Fatalf("the log should name the refused deliveries and never the secret:\n%s", text)
		}
		admin := e.loginFrom("192.0.2.44", adminEmail, adminPassword)
		wantStatus(t, admin, 200)
		page := alarmIDs(t, e.do("GET", "/api/v1/alarms?category=security&state=open", admin.body["token"].(string), nil))
		if len(page) != 3 {
			t.Fatalf("open security alarms %v, want 3", page)
		}
	})
}

// syncBuffer is a log sink the webhook goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gaugeSum sums a gauge family's series in reg.
func gaugeSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// lateAlarm hands the audit hook to an evaluator made after the server
// (the evaluator needs the env's store).
type lateAlarm struct{ ev *alarms.Evaluator }

func (l *lateAlarm) AuditVerificationFailed(ctx context.Context, problem string) {
	l.ev.AuditVerificationFailed(ctx, problem)
}

// TestAuditVerifyFailureIsASecurityAlarm: a chain that fails
// GET /api/v1/audit/verify raises the audit_verification_failure alarm.
func TestAuditVerifyFailureIsASecurityAlarm(t *testing.T) {
	hook := &lateAlarm{}
	e := newEnv(t, "", "", func(_ *api.Options, d *api.Deps) { d.AuditAlarm = hook })
	var err error
	if hook.ev, err = alarms.NewEvaluator(e.store, alarms.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil); err != nil {
		t.Fatal(err)
	}
	admin := e.login(adminEmail, adminPassword)
	if r := e.do("GET", "/api/v1/audit/verify", admin, nil); r.body["ok"] != true {
		t.Fatalf("untouched chain: %s", r.raw)
	}
	if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?kind=audit_verification_failure", admin, nil)); len(got) != 0 {
		t.Fatalf("alarm for a sound chain: %v", got)
	}
	if err := e.store.DB.Exec(`UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 1`).Error; err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/api/v1/audit/verify", admin, nil); r.body["ok"] != false {
		t.Fatalf("tampered chain: %s", r.raw)
	}
	if got := alarmIDs(t, e.do("GET", "/api/v1/alarms?kind=audit_verification_failure&state=active", admin, nil)); len(got) != 1 {
		t.Fatalf("security alarms after a failed verification: %v", got)
	}
}
