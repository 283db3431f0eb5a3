package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestRollbackNeverOverwritesALaterConfig: after a rollout, a gateway got
// a newer config by another path than a rollout (a one-shot deploy or a
// config PUT, a hotfix say). Rolling the rollout back would write the
// gateway's pre-rollout config over that hotfix, so it is refused (409
// naming the gateway) and nothing is written.
func TestRollbackNeverOverwritesALaterConfig(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		f := newFleet(t, dbURL, 2)
		ctx := context.Background()
		e := f.engine(nil)
		ro := f.create(rollout.Request{Targets: pipelines.Targets{Gateways: []string{"gw-01", "gw-02"}}, Canary: size("2")})
		f.step(e)
		f.applyAll(ro.ID)
		f.step(e)
		if v := f.get(ro.ID); v.State != store.RolloutDone {
			t.Fatalf("rollout: %+v", v)
		}
		hotfix := json.RawMessage(`{"log_level":"warn"}`)
		if _, err := f.gw.Configs.Deploy(ctx, admin, all, "gw-02", hotfix); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Rollback(ctx, admin, "line", ro.ID, all)
		if r, _ := errs.Render(err); r.Status != 409 || !strings.Contains(r.Message, "gw-02") {
			t.Fatalf("rollback over a later config: %v (%+v)", err, r)
		}
		f.step(e)
		var cfg store.GatewayConfig
		if err := f.st.DB.Where("gateway_id = ?", "gw-02").Take(&cfg).Error; err != nil || cfg.Document != string(hotfix) {
			t.Fatalf("gw-02's config after the refused rollback: %q %v", cfg.Document, err)
		}
		if v := f.get(ro.ID); v.State != store.RolloutDone {
			t.Fatalf("the refused rollback changed the rollout: %+v", v)
		}
	})
}

// TestRolloutOfADeletedPipelineNeverWritesItsSuccessor: a rollout writes
// each wave from its pipeline version when the wave starts. Its pipeline
// deleted midway and another created under the same id before the engine
// looked again, the later waves got the new pipeline's document, which
// nobody deployed. The delete stops the rollout at once (audited), so the
// engine writes nothing more.
func TestRolloutOfADeletedPipelineNeverWritesItsSuccessor(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		f := newFleet(t, dbURL, 2)
		ctx := context.Background()
		e := f.engine(nil)
		ro := f.create(rollout.Request{Targets: pipelines.Targets{Gateways: []string{"gw-01", "gw-02"}}, Canary: size("1")})
		f.step(e) // the canary is written; gw-02 waits for the next wave
		if err := f.pipes.Delete(ctx, admin, "line"); err != nil {
			t.Fatal(err)
		}
		successor := pipelines.Input{Spec: json.RawMessage(`{"kafka":{"brokers":"successor:9092"}}`)}
		if _, err := f.pipes.Create(ctx, admin, "line", "", successor); err != nil {
			t.Fatal(err)
		}
		f.applyAll(ro.ID)
		f.step(e)
		f.step(e)
		if v := f.get(ro.ID); v.State != store.RolloutStopped || v.Reason != pipelines.RolloutStoppedByDelete ||
			f.statuses(ro.ID) != "gw-01:applied gw-02:waiting" {
			t.Fatalf("after its pipeline was deleted: %s %q %s", v.State, v.Reason, f.statuses(ro.ID))
		}
		var n int64
		f.st.DB.Model(&store.GatewayConfig{}).Where("gateway_id = ?", "gw-02").Count(&n)
		if n != 0 {
			t.Fatal("gw-02 was written after its rollout's pipeline was deleted")
		}
		var stops []string
		f.st.DB.Table("audit_log").Where("event_type = ? AND resource_id = ?", "rollout.stop", fmt.Sprint(ro.ID)).Pluck("user_email", &stops)
		if len(stops) != 1 || stops[0] != admin.Actor {
			t.Fatalf("rollout.stop records: %v", stops)
		}
	})
}
