package browser

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/controlplane"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestPipelineEditorJourney: an Engineer, in Chromium, builds a pipeline
// in the editor's form with the keyboard alone (a bad tag address and a
// literal password are reported as you type, next to their fields; a
// device without an address in the device's fieldset),
// switches to YAML, edits there and back to the form without losing a
// field, saves, saves a second version and reads the field-level diff; an
// Admin deploys version 1 to a gateway from the pipeline's page. The
// pipeline pages pass axe-core at desktop and phone width. The API then
// shows the two versions, and the gateway receives version 1 as its signed
// config.
func TestPipelineEditorJourney(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_ALLOW_KEY_IDENTITY=true")
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "eng@example.com", "password": "Cobalt-meadow-lantern-42",
		"roles": []string{"Engineer"}}, nil); st != 201 {
		t.Fatalf("create engineer: %d", st)
	}
	gw := enrolledGateway(t, cloud, admin, "gw-pipe-01")

	out := journey(t, dir, []string{"MODE=pipelines", "BASE=" + cloud.URL, "EMAIL=eng@example.com", "PASSWORD=Cobalt-meadow-lantern-42",
		"ADMIN_EMAIL=" + testenv.CloudAdminEmail, "ADMIN_PASSWORD=" + testenv.CloudAdminPassword, "GATEWAY=gw-pipe-01",
		"SHOTS=" + screenshotDir(t)}, nil)
	if !strings.Contains(out, "OK pipelines") || !strings.Contains(out, "INVALID spec.adapters[0].devices[0].tags[0].address") ||
		!strings.Contains(out, "SECRET spec.kafka.security.password: must be a ${secret:name}") ||
		!strings.Contains(out, "CLIENTKEY spec.kafka.security.key_file: a client certificate and its key go together") ||
		!strings.Contains(out, "DEVICE spec.adapters[0].devices[0]: exactly one of tcp or rtu") {
		t.Fatalf("pipelines journey:\n%s", out)
	}
	var vs struct{ Versions []struct{ Version int } }
	eng := cloud.Login("eng@example.com", "Cobalt-meadow-lantern-42")
	if cloud.Call("GET", "/api/v1/pipelines/offshore_well_12/versions", eng, nil, &vs); len(vs.Versions) != 2 {
		t.Fatalf("versions after the journey: %+v", vs)
	}
	// Version 1 is what the form built, with the YAML tab's edit.
	var v1 struct{ Spec map[string]any }
	cloud.Call("GET", "/api/v1/pipelines/offshore_well_12/versions/1", eng, nil, &v1)
	doc, _ := json.Marshal(v1.Spec)
	for _, want := range []string{`"name":"temperature_c"`, `"address":3`, `"poll_group":"fast"`, `"tcp":"127.0.0.1:5020"`, `"protocol":"sasl_ssl"`,
		`"password":"${secret:kafka_pw}"`, `"default_policy":"drop_oldest"`, `"max_bytes":1048576`,
		`"cert_file":"/etc/streamforge/kafka-client.pem"`, `"key_file":"/etc/streamforge/kafka-client.key"`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("version 1 lacks %s: %s", want, doc)
		}
	}
	cfg, err := gw.FetchConfig(context.Background())
	if err != nil || cfg == nil || cfg.Bundle == nil || !strings.Contains(string(cfg.Config), `"interval":"1s"`) {
		t.Fatalf("the gateway's config after the deploy: %+v %v", cfg, err)
	}
}

// enrolledGateway enrolls and approves a gateway with a software key,
// driven by the agent's own control plane client.
func enrolledGateway(t *testing.T, cloud *testenv.Cloud, admin, id string) *controlplane.Client {
	t.Helper()
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	gw := controlplane.NewClient(cloud.URL, id, key)
	ctx := context.Background()
	if _, err := gw.Enroll(ctx, tok.Token, "edge", nil); err != nil {
		t.Fatal(err)
	}
	if st := cloud.Call("POST", "/api/v1/gateways/"+id+"/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	if _, err := gw.ObtainToken(ctx); err != nil {
		t.Fatal(err)
	}
	return gw
}

// TestRolloutJourney: an Admin, in Chromium, starts a staged rollout from
// the pipeline's page, follows its progress until it stops by itself (its
// canary gateway does not exist: "gateway not found"), and rolls it back
// through the confirmation; the page passes axe-core at both widths.
func TestRolloutJourney(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t)
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	if st := cloud.Call("POST", "/api/v1/pipelines", admin, map[string]any{"id": "line1",
		"spec": map[string]any{"kafka": map[string]any{"brokers": "127.0.0.1:9092"}}}, nil); st != 201 {
		t.Fatalf("create pipeline: %d", st)
	}
	out := journey(t, dir, []string{"MODE=rollouts", "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail,
		"PASSWORD=" + testenv.CloudAdminPassword, "SHOTS=" + screenshotDir(t)}, nil)
	if !strings.Contains(out, "OK rollouts") || !strings.Contains(out, "gw-ghost: not written: gateway not found") ||
		!strings.Contains(out, "GHOST failed not written: gateway not found") || !strings.Contains(out, "rolled_back") {
		t.Fatalf("rollout journey:\n%s", out)
	}
	var ros struct{ Rollouts []struct{ State string } }
	if cloud.Call("GET", "/api/v1/pipelines/line1/rollouts", admin, nil, &ros); len(ros.Rollouts) != 1 || ros.Rollouts[0].State != "rolled_back" {
		t.Fatalf("rollouts after the journey: %+v", ros)
	}
}
