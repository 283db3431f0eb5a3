package rollout_test

import (
	"context"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/rollout"
	"github.com/streamforge/streamforge/cloud/store"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// TestRolloutWavesAndRollbacksKeepSecretsProtection: the protection
// binding holds on the rollout path as the destinations do. kafka-pw is
// rolled out over sasl_plaintext, then the Admin raises it to sasl_ssl
// and a sasl_ssl rollout follows: rolling that back (to the
// sasl_plaintext configs) is refused at every gateway, which keep what
// they run, and a new sasl_plaintext version stops at its canary.
func TestRolloutWavesAndRollbacksKeepSecretsProtection(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		f := newFleet(t, dbURL, 2)
		e := f.engine(nil)
		version := 1
		rollProtocol := func(protocol string) rollout.View {
			t.Helper()
			f.saveKafka(&version, "k1:9092", protocol)
			return f.rollAll(e, version)
		}
		f.createSecret(store.SecretValue{Name: "kafka-pw", Destinations: "k1:9092"})
		if v := rollProtocol("sasl_plaintext"); v.State != store.RolloutDone {
			t.Fatalf("the first rollout: %s %q", v.State, v.Reason)
		}
		raised := secretprot.KafkaOf("sasl_ssl", "").Encode()
		if _, err := f.st.Secrets().Update(ctx, store.SecretValue{Name: "kafka-pw", UpdatedBy: admin.Actor}, nil, nil, &raised,
			admin.Event("secret.update", "secret", "kafka-pw", "update", audit.ResultSuccess), nil); err != nil {
			t.Fatal(err)
		}
		strong := rollProtocol("sasl_ssl")
		if strong.State != store.RolloutDone {
			t.Fatalf("a rollout with the raised protection: %s %q", strong.State, strong.Reason)
		}
		var was []store.GatewayConfig
		if err := f.st.DB.Order("gateway_id").Find(&was).Error; err != nil {
			t.Fatal(err)
		}

		// Rolling back to the sasl_plaintext configs of before.
		if _, err := f.svc.Rollback(ctx, admin, "line", strong.ID, all); err != nil {
			t.Fatal(err)
		}
		f.step(e)
		for _, g := range f.get(strong.ID).Gateways {
			if g.Status != store.TargetFailed || !strings.Contains(g.Error, "kafka.security asks for sasl_plaintext SCRAM-SHA-512") {
				t.Fatalf("rollback to sasl_plaintext at %s: %s %q", g.GatewayID, g.Status, g.Error)
			}
		}
		var now []store.GatewayConfig
		if err := f.st.DB.Order("gateway_id").Find(&now).Error; err != nil {
			t.Fatal(err)
		}
		for i := range now {
			if now[i].Version != was[i].Version {
				t.Fatalf("%s: config v%d after refused writes, was v%d", now[i].GatewayID, now[i].Version, was[i].Version)
			}
		}

		// A new sasl_plaintext version: the canary is refused.
		v := rollProtocol("sasl_plaintext")
		if v.State != store.RolloutStopped || !strings.Contains(v.Gateways[0].Error,
			"not written: secret kafka-pw must be sent with sasl_ssl SCRAM-SHA-512 or stronger") {
			t.Fatalf("a rollout in clear: %s %q %s %q", v.State, v.Reason, f.statuses(v.ID), v.Gateways[0].Error)
		}
	})
}
