package rollout_test

import (
	"context"
	"encoding/json"
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
