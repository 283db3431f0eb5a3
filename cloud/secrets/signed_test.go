package secrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auth"
	"github.com/streamforge/streamforge/cloud/configsign"
	"github.com/streamforge/streamforge/cloud/errs"
	"github.com/streamforge/streamforge/cloud/gateways"
	"github.com/streamforge/streamforge/cloud/rbac"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/secrets"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestDeliveryFollowsTheSignedConfigNotTheDatabase: a gateway gets the
// secrets its deployed config names. The agent applies only what the
// signing key (kept outside the database) signed; the names were read
// from the document column, so a write to the database alone could make
// the cloud hand a gateway any secret. Now they come from the verified
// bundle: an edited document changes nothing, an edited bundle (or one
// signed for another gateway) delivers nothing (409).
func TestDeliveryFollowsTheSignedConfigNotTheDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := auth.LoadKeyRing(filepath.Join(dir, "jwt"))
	if err != nil {
		t.Fatal(err)
	}
	gw := gateways.New(st, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if gw.ConfigKeys, err = configsign.Load(filepath.Join(dir, "config")); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.Open(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	svc := secrets.New(st.Secrets(), gw.Configs, box)
	admin := audit.Origin{Actor: "admin@example.com"}
	for _, id := range []string{"gw-1", "gw-2"} {
		if err := st.DB.Create(&store.Gateway{ID: id, Status: store.GatewayApproved, HardwareInfo: map[string]string{}}).Error; err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"kafka_pw", "plant_root"} {
		if _, err := svc.Create(ctx, admin, name, "value-of-"+name, "", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	deploy := func(id, ref string) {
		t.Helper()
		doc := json.RawMessage(`{"kafka":{"brokers":"127.0.0.1:9092","security":{"protocol":"sasl_ssl","username":"u","password":"${secret:` + ref + `}"}}}`)
		if _, err := gw.Configs.Deploy(ctx, admin, []string{rbac.AllGateways}, id, doc); err != nil {
			t.Fatal(err)
		}
	}
	deploy("gw-1", "kafka_pw")
	deploy("gw-2", "plant_root")
	delivered := func(id string) ([]string, error) {
		d, err := svc.ForGateway(ctx, admin, id)
		var names []string
		for n := range d.Values {
			names = append(names, n)
		}
		slices.Sort(names)
		return names, err
	}
	if got, err := delivered("gw-1"); err != nil || !slices.Equal(got, []string{"kafka_pw"}) {
		t.Fatalf("as deployed: %v %v", got, err)
	}

	// The document column rewritten to name another secret.
	st.DB.Model(&store.GatewayConfig{}).Where("gateway_id = ?", "gw-1").
		Update("document", `{"kafka":{"security":{"password":"${secret:plant_root}"}}}`)
	if got, err := delivered("gw-1"); err != nil || !slices.Equal(got, []string{"kafka_pw"}) {
		t.Fatalf("after the document was edited in the database: %v %v", got, err)
	}

	// gw-2's genuine bundle copied onto gw-1, and a bundle edited.
	var other store.GatewayConfig
	st.DB.Where("gateway_id = ?", "gw-2").Take(&other)
	for name, bundle := range map[string]string{"another-gateways-bundle": other.Bundle, "edited-bundle": other.Bundle[:len(other.Bundle)-40] + `"}`} {
		t.Run(name, func(t *testing.T) {
			st.DB.Model(&store.GatewayConfig{}).Where("gateway_id = ?", "gw-1").Update("bundle", bundle)
			got, err := delivered("gw-1")
			var e *errs.Error
			if len(got) != 0 || !errors.As(err, &e) || e.Kind != errs.Conflict {
				t.Fatalf("delivered %v, err %v; want nothing and a 409", got, err)
			}
		})
	}
}
