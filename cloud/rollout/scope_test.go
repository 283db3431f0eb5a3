package rollout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/pipelines"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestRolloutViewsKeepToTheReadersGatewayAccess: a rollout over two sites
// stops because a gateway of the other site failed. A reader confined to
// its own site sees its gateway, counts of its gateways only, and not the
// stop reason, which names the other site's gateway and its error; an
// unrestricted reader sees all of it.
func TestRolloutViewsKeepToTheReadersGatewayAccess(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		f := newFleet(t, dbURL, 1) // gw-01 at "plant"
		ctx := context.Background()
		if err := f.st.DB.Create(&store.Gateway{ID: "gw-far", Site: "elsewhere", Status: store.GatewayApproved, HardwareInfo: map[string]string{}}).Error; err != nil {
			t.Fatal(err)
		}
		e := f.engine(nil)
		ro := f.create(rollout.Request{Targets: pipelines.Targets{Gateways: []string{"gw-01", "gw-far"}}, Canary: size("2")})
		f.step(e)
		v := f.get(ro.ID)
		f.report("gw-far", 0, fmt.Sprintf("config v%d failed to apply: far-away secret error", v.Gateways[1].ConfigVersion))
		f.step(e)
		if v = f.get(ro.ID); v.State != store.RolloutStopped || !strings.Contains(v.Reason, "gw-far") {
			t.Fatalf("unrestricted: %s %q", v.State, v.Reason)
		}
		plant := []string{"plant"}
		g, err := f.svc.Get(ctx, "line", ro.ID, plant)
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.svc.List(ctx, "line", plant)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		for name, view := range map[string]rollout.View{"get": g, "list": list[0]} {
			if strings.Contains(view.Reason, "gw-far") || strings.Contains(view.Reason, "far-away") || view.Counts[store.TargetFailed] != 0 ||
				view.Counts[store.TargetPending] != 1 {
				t.Errorf("%s as a plant reader: reason %q, counts %v", name, view.Reason, view.Counts)
			}
		}
		if len(g.Gateways) != 1 || g.Gateways[0].GatewayID != "gw-01" {
			t.Errorf("gateways shown to a plant reader: %+v", g.Gateways)
		}
		if all, _ := f.svc.List(ctx, "line", all); all[0].Counts[store.TargetFailed] != 1 || !strings.Contains(all[0].Reason, "gw-far") {
			t.Errorf("unrestricted list: %+v", all[0])
		}
	})
}
