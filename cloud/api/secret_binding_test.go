package api_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/secrets"
)

// brokerSpec is spec("1s") sending ${secret:kafka-pw} to brokers.
func brokerSpec(brokers string) map[string]any {
	s := spec("1s")
	s["kafka"].(map[string]any)["brokers"] = brokers
	return s
}

// deployedVersion is the config version stored for gateway id (0: none).
func (e *env) deployedVersion(admin, id string) float64 {
	e.t.Helper()
	r := e.do("GET", "/api/v1/gateways/"+id+"/config", admin, nil)
	if r.status == 404 {
		return 0
	}
	v, _ := r.body["version"].(float64)
	return v
}

// destinations is what GET /secrets/{name} shows of a secret's binding.
func (e *env) destinations(admin, name string) []string {
	e.t.Helper()
	r := e.do("GET", "/api/v1/secrets/"+name, admin, nil)
	wantStatus(e.t.(*testing.T), r, 200)
	var out []string
	for _, d := range r.body["destinations"].([]any) {
		out = append(out, d.(string))
	}
	return out
}

// denied keeps the records whose result is denied.
func denied(recs []map[string]any) []map[string]any {
	return slices.DeleteFunc(recs, func(r map[string]any) bool { return r["result"] != "denied" })
}

// TestEngineerCannotRedirectABoundSecret is the attack: an Engineer (or
// an approved Copilot proposal) points kafka.brokers at a host of their
// own and keeps ${secret:kafka-pw}; the Admin's deploy used to send the
// password there. Now the first deploy binds the secret to the brokers
// it went to (trust on first use, audited as secret.bind), a subset of
// them is fine, and a deploy, a config PUT or an approved proposal that
// would send it elsewhere is refused with 409 before anything is written,
// audited as denied, until an Admin moves the secret's destinations; a
// staged rollout of such a version is refused before it is stored.
func TestEngineerCannotRedirectABoundSecret(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e, admin, eng := newSecretEnv(t, dbURL)
		if d := e.destinations(admin, "kafka-pw"); len(d) != 0 {
			t.Fatalf("a new secret is bound to %v", d)
		}

		// Trust on first use: the first deploy binds the secret.
		wantStatus(t, e.do("POST", "/api/v1/pipelines", eng, map[string]any{"id": "line", "spec": brokerSpec("Broker1:9093, broker2:9093")}), 201)
		deploy := func(version int) resp {
			return e.do("POST", "/api/v1/pipelines/line/deploy", admin, map[string]any{"version": version, "gateways": []string{"gw-1"}})
		}
		wantStatus(t, deploy(1), 200)
		if d := e.destinations(admin, "kafka-pw"); !slices.Equal(d, []string{"broker1:9093", "broker2:9093"}) {
			t.Fatalf("bound to %v after the first deploy", d)
		}
		recs := e.records(admin, "event_type=secret.bind&resource_id=kafka-pw")
		if len(recs) != 1 || recs[0]["user"] != adminEmail || recs[0]["result"] != "success" {
			t.Fatalf("secret.bind records: %v", recs)
		}
		if got := recs[0]["changes"].(map[string]any)["destinations"].(map[string]any)["new"]; len(got.([]any)) != 2 {
			t.Fatalf("secret.bind destinations: %v", got)
		}

		// A subset of the bound brokers is fine.
		wantStatus(t, e.do("PUT", "/api/v1/pipelines/line", eng, map[string]any{"base_version": 1, "spec": brokerSpec("broker2:9093")}), 200)
		wantStatus(t, deploy(2), 200)

		// The attack: the Engineer's edit is saved, the Admin's deploy refused.
		wantStatus(t, e.do("PUT", "/api/v1/pipelines/line", eng, map[string]any{"base_version": 2, "spec": brokerSpec("broker1:9093,evil:9092")}), 200)
		want := "secret kafka-pw may be sent to broker1:9093, broker2:9093 only; kafka.brokers names evil:9092"
		wantError(t, deploy(3), 409, want)
		if v := e.deployedVersion(admin, "gw-1"); v != 2 {
			t.Fatalf("gw-1 runs config v%v after the refused deploy, want 2", v)
		}
		if recs := denied(e.records(admin, "event_type=config.deploy&resource_id=gw-1")); len(recs) != 1 ||
			recs[0]["changes"].(map[string]any)["name"].(map[string]any)["new"] != "kafka-pw" {
			t.Fatalf("denied config.deploy records: %v", recs)
		}
		if recs := denied(e.records(admin, "event_type=pipeline.deploy&resource_id=line")); len(recs) != 1 || recs[0]["user"] != adminEmail {
			t.Fatalf("denied pipeline.deploy records: %v", recs)
		}
		// Nor as a staged rollout: refused before it is stored.
		wantError(t, e.do("POST", "/api/v1/pipelines/line/rollouts", admin, map[string]any{"gateways": []string{"gw-1"}}), 409, want)
		if r := e.do("GET", "/api/v1/pipelines/line/rollouts", admin, nil); len(r.body["rollouts"].([]any)) != 0 {
			t.Fatalf("a refused rollout was stored: %s", r.raw)
		}
		if recs := denied(e.records(admin, "event_type=rollout.create&resource_id=line")); len(recs) != 1 {
			t.Fatalf("denied rollout.create records: %v", recs)
		}
		// Nor through a config PUT, nor by a secret named by a username.
		evil := brokerSpec("evil:9092")
		wantError(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": evil}), 409, "kafka.brokers names evil:9092")
		evil["kafka"].(map[string]any)["security"].(map[string]any)["password"] = "${secret:other}"
		evil["kafka"].(map[string]any)["security"].(map[string]any)["username"] = "${secret:kafka-pw}"
		wantError(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": evil}), 409, "kafka.security.username references it")

		// An approved Copilot proposal is a pipeline version like any
		// other: its deploy is refused alike.
		cp := e.copilotToken(admin, "copilot")
		r := e.do("POST", "/api/v1/proposals", cp, map[string]any{"pipeline_id": "line", "rationale": "a closer broker", "spec": brokerSpec("evil:9092")})
		wantStatus(t, r, 201)
		wantStatus(t, e.do("POST", "/api/v1/proposals/"+ftoa(r.body["id"].(float64))+"/approve", eng, nil), 200)
		wantError(t, deploy(4), 409, "kafka.brokers names evil:9092")
		if v := e.deployedVersion(admin, "gw-1"); v != 2 {
			t.Fatalf("gw-1 runs config v%v after the refused proposal deploy, want 2", v)
		}

		// Only an Admin moves a secret, deliberately; the value stays.
		wantError(t, e.do("PUT", "/api/v1/secrets/kafka-pw", eng, map[string]any{"destinations": []string{"evil:9092"}}), 403, "secrets:manage")
		wantError(t, e.do("PUT", "/api/v1/secrets/kafka-pw", admin, map[string]any{"destinations": []string{"evil"}}), 400, "destinations[0]")
		wantError(t, e.do("PUT", "/api/v1/secrets/kafka-pw", admin, map[string]any{"description": "x"}), 400, "value: must be set")
		m := e.do("PUT", "/api/v1/secrets/kafka-pw", admin, map[string]any{"destinations": []string{"evil:9092"}})
		if wantStatus(t, m, 200); m.body["version"] != float64(1) {
			t.Fatalf("moving the destinations changed the value's version: %s", m.raw)
		}
		upd := e.records(admin, "event_type=secret.update&resource_id=kafka-pw")
		if len(upd) != 1 || len(upd[0]["changes"].(map[string]any)["destinations"].(map[string]any)["old"].([]any)) != 2 {
			t.Fatalf("secret.update records: %v", upd)
		}
		wantStatus(t, deploy(4), 200)
		if v := e.deployedVersion(admin, "gw-1"); v != 3 {
			t.Fatalf("gw-1 runs config v%v after the deploy the Admin allowed, want 3", v)
		}

		// The gateway is told where each delivered value may go.
		if d := e.delivered("gw-1"); !slices.Equal(d["kafka-pw"], []string{"evil:9092"}) {
			t.Fatalf("delivery destinations %v", d)
		}
	})
}

// newSecretEnv is a control plane with an Admin and an Engineer logged
// in, approved gateway gw-1 and secret kafka-pw, not bound yet.
func newSecretEnv(t *testing.T, dbURL string) (e *env, admin, eng string) {
	t.Helper()
	e = newEnv(t, dbURL, "")
	admin = e.login(adminEmail, adminPassword)
	eng = e.user("eng@example.com", []string{rbac.Engineer})
	e.approvedGateway(admin, "gw-1")
	wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka-pw", "value": secretValue(t, "kafka-pw")}), 201)
	return e, admin, eng
}

// delivered is what the secrets delivery (GET /gateways/{id}/secrets on
// the mTLS listener; TestManagedAgentGetsSecretsOverMTLS runs that path)
// tells gateway id of where each value may go.
func (e *env) delivered(id string) map[string][]string {
	e.t.Helper()
	return e.delivery(id).Destinations
}

// delivery is what the secrets delivery answers gateway id.
func (e *env) delivery(id string) secrets.Delivery {
	e.t.Helper()
	box, err := secretbox.Open(filepath.Join(e.keyDir, "secrets"))
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := secrets.New(e.store.Secrets(), e.gw.Configs, box).ForGateway(context.Background(), audit.Origin{Actor: "gateway:" + id}, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestSecretCreatedWithDestinations: an Admin may bind a secret when
// creating it; the first deploy then binds nothing and is checked. A
// secret created after its config was signed is delivered for that
// config's destinations.
func TestSecretCreatedWithDestinations(t *testing.T) {
	e := newEnv(t, "", "")
	admin := e.login(adminEmail, adminPassword)
	e.approvedGateway(admin, "gw-1")
	wantError(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka-pw", "value": "v", "destinations": []string{"no-port"}}), 400, "destinations[0]")
	wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka-pw", "value": "v", "destinations": []string{"broker1:9093"}}), 201)
	if recs := e.records(admin, "event_type=secret.create&resource_id=kafka-pw"); len(recs) != 1 ||
		len(recs[0]["changes"].(map[string]any)["destinations"].(map[string]any)["new"].([]any)) != 1 {
		t.Fatalf("secret.create records: %v", recs)
	}
	wantError(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": brokerSpec("broker2:9093")}), 409,
		"secret kafka-pw may be sent to broker1:9093 only; kafka.brokers names broker2:9093")
	if recs := e.records(admin, "event_type=secret.bind"); len(recs) != 0 {
		t.Fatalf("a refused config bound something: %v", recs)
	}
	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": brokerSpec("broker1:9093")}), 200)

	// A secret created after the config that references it was signed is
	// not bound yet: it is delivered for where that signed config sends it.
	late := brokerSpec("broker3:9093")
	late["kafka"].(map[string]any)["security"].(map[string]any)["password"] = "${secret:late}"
	wantStatus(t, e.do("PUT", "/api/v1/gateways/gw-1/config", admin, map[string]any{"config": late}), 200)
	wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "late", "value": "v"}), 201)
	if d := e.delivered("gw-1"); !slices.Equal(d["late"], []string{"broker3:9093"}) {
		t.Fatalf("an unbound secret's delivery destinations: %v", d)
	}
}

// TestFirstUseBindsOnceUnderConcurrentDeploys: two first deploys at once,
// to two gateways, sending one unbound secret to two different brokers:
// one binds it, the other is checked against that binding and refused
// (the binding is a conditional write; PostgreSQL locks the row), never
// both written.
func TestFirstUseBindsOnceUnderConcurrentDeploys(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		e.approvedGateway(admin, "gw-1")
		e.approvedGateway(admin, "gw-2")
		wantStatus(t, e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka-pw", "value": "v"}), 201)
		statuses := make(chan int, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for gw, broker := range map[string]string{"gw-1": "a:9093", "gw-2": "b:9093"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses <- e.do("PUT", "/api/v1/gateways/"+gw+"/config", admin, map[string]any{"config": brokerSpec(broker)}).status
			}()
		}
		close(start)
		wg.Wait()
		close(statuses)
		var got []int
		for s := range statuses {
			got = append(got, s)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{200, 409}) {
			t.Fatalf("statuses %v, want one 200 and one 409", got)
		}
		if recs := e.records(admin, "event_type=secret.bind"); len(recs) != 1 {
			t.Fatalf("%d secret.bind records, want 1", len(recs))
		}
		if d := e.destinations(admin, "kafka-pw"); len(d) != 1 {
			t.Fatalf("bound to %v", d)
		}
	})
}
