package rollout_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestRolloutWavesAndRollbacksKeepSecretsToTheirDestinations: a rollout
// writes its waves, and a rollback its old configs, through the same
// check as a deploy: a wave that would send a bound secret to another
// broker fails at its canary (the rollout stops, nothing else written),
// and a rollback to brokers the Admin has since moved the secret away
// from is refused at every gateway, which keep what they run.
func TestRolloutWavesAndRollbacksKeepSecretsToTheirDestinations(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		f := newFleet(t, dbURL, 2)
		e := f.engine(nil)
		version := 1
		save := func(brokers string) {
			t.Helper()
			f.saveKafka(&version, brokers, "sasl_ssl")
		}
		roll := func() rollout.View { return f.rollAll(e, version) }
		f.createSecret(store.SecretValue{Name: "kafka-pw", Destinations: "k1:9092"})

		save("k1:9092")
		if v := roll(); v.State != store.RolloutDone {
			t.Fatalf("a rollout within the destinations: %s %q", v.State, v.Reason)
		}
		// The Admin moves the secret to k2; a rollout there goes through.
		dests := "k2:9092"
		if _, err := f.st.Secrets().Update(ctx, store.SecretValue{Name: "kafka-pw", UpdatedBy: admin.Actor}, nil, &dests, nil,
			admin.Event("secret.update", "secret", "kafka-pw", "update", audit.ResultSuccess), nil); err != nil {
			t.Fatal(err)
		}
		save("k2:9092")
		moved := roll()
		if moved.State != store.RolloutDone {
			t.Fatalf("the rollout to the moved destination: %s %q", moved.State, moved.Reason)
		}
		running := func() map[string]string {
			var cs []store.GatewayConfig
			if err := f.st.DB.Order("gateway_id").Find(&cs).Error; err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, c := range cs {
				out[c.GatewayID] = c.Document
			}
			return out
		}
		was := running()

		// A wave to a broker of someone else's: the canary is refused.
		save("k2:9092,evil:9092")
		ro := f.create(rollout.Request{Targets: pipelines.Targets{Version: version, Site: "plant"}})
		f.step(e) // the canary's write is refused
		f.step(e) // the threshold (0) is passed: stop
		v := f.get(ro.ID)
		if v.State != store.RolloutStopped || f.statuses(ro.ID) != "gw-01:failed gw-02:waiting" ||
			!strings.Contains(v.Gateways[0].Error, "not written: secret kafka-pw may be sent to k2:9092 only; kafka.brokers names evil:9092") {
			t.Fatalf("a rollout to another broker: %s %q %s %q", v.State, v.Reason, f.statuses(ro.ID), v.Gateways[0].Error)
		}

		// Rolling back to k1, which the secret was moved away from.
		if _, err := f.svc.Rollback(ctx, admin, "line", moved.ID, all); err != nil {
			t.Fatal(err)
		}
		f.step(e)
		for _, g := range f.get(moved.ID).Gateways {
			if g.Status != store.TargetFailed || !strings.Contains(g.Error, "kafka.brokers names k1:9092") {
				t.Fatalf("rollback to the old broker at %s: %s %q", g.GatewayID, g.Status, g.Error)
			}
		}
		if now := running(); now["gw-01"] != was["gw-01"] || now["gw-02"] != was["gw-02"] {
			t.Fatalf("configs changed by refused writes: %v, were %v", now, was)
		}
		var denied int64
		f.st.DB.Table("audit_log").Where("event_type = ? AND result = ?", "config.deploy", audit.ResultDenied).Count(&denied)
		if denied != 3 {
			t.Fatalf("%d denied config.deploy records, want 3 (the canary, two rollback writes)", denied)
		}
	})
}

// saveKafka saves the next version of pipeline line (*version, then
// incremented), sending ${secret:kafka-pw} to brokers over protocol.
func (f *fleet) saveKafka(version *int, brokers, protocol string) {
	f.t.Helper()
	doc := `{"kafka":{"brokers":"` + brokers + `","security":{"protocol":"` + protocol + `","username":"u","password":"${secret:kafka-pw}"}}}`
	if _, err := f.pipes.Update(context.Background(), admin, "line", *version, nil, pipelines.Input{Spec: json.RawMessage(doc)}); err != nil {
		f.t.Fatal(err)
	}
	*version++
}

// rollAll rolls version out to the plant, every wave applied.
func (f *fleet) rollAll(e *rollout.Engine, version int) rollout.View {
	f.t.Helper()
	ro := f.create(rollout.Request{Targets: pipelines.Targets{Version: version, Site: "plant"}})
	for range 3 {
		f.step(e)
		f.applyAll(ro.ID)
	}
	return f.get(ro.ID)
}

// createSecret stores v (its value a placeholder: these tests never
// deliver it), audited as created by admin.
func (f *fleet) createSecret(v store.SecretValue) {
	f.t.Helper()
	v.KeyID, v.DataKey, v.Ciphertext = "k", []byte{1}, []byte{1}
	ev := admin.Event("secret.create", "secret", v.Name, "create", audit.ResultSuccess)
	if _, err := f.st.Secrets().Create(context.Background(), v, ev); err != nil {
		f.t.Fatal(err)
	}
}
