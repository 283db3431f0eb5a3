package secrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/pkg/secretprot"
	"github.com/streamforge/streamforge/pkg/wire"
)

// TestDeliveryFetchesKeepsAndFallsBack (fast, in-process fetch; the real
// path is TestManagedAgentGetsSecretsOverMTLS): a config without
// references asks for nothing; a fetched value is kept sealed and serves
// when the control plane cannot be asked.
func TestDeliveryFetchesKeepsAndFallsBack(t *testing.T) {
	calls := 0
	var fail error
	d := &secrets.Delivery{Log: slog.New(slog.DiscardHandler), Sealed: secrets.NewSealed(t.TempDir(), nil),
		Fetch: func(context.Context) (wire.SecretsResponse, error) {
			calls++
			return wire.SecretsResponse{Secrets: map[string]string{"kp": "v-1"}, Destinations: map[string][]string{"kp": {"k1:9093"}},
				Protection: map[string]secretprot.Protection{"kp": secretprot.KafkaOf("sasl_ssl", "PLAIN")}}, fail
		}}
	ctx := context.Background()
	cfg := func(doc string) wire.ConfigResponse {
		return wire.ConfigResponse{Version: 1, Config: json.RawMessage(doc)}
	}

	if got, err := d.For(ctx, cfg(`{"log_level":"info"}`)); err != nil || got != nil || calls != 0 {
		t.Fatalf("no references: %v %v, %d fetches", got, err, calls)
	}
	ref := cfg(`{"kafka":{"security":{"password":"${secret:kp}"}}}`)
	if got, err := d.For(ctx, ref); err != nil || got["kp"].Reveal() != "v-1" || calls != 1 {
		t.Fatalf("fetched: %v %v", got, err)
	}
	fail = errors.New("control plane unreachable")
	got, err := d.For(ctx, ref)
	if err != nil || got["kp"].Reveal() != "v-1" {
		t.Fatalf("fallback to the sealed copy: %v %v", got, err)
	}
	// Fetched or kept, a value is bound to the destinations and the
	// protection answered.
	if dests, bound := got["kp"].Destinations(); !bound || len(dests) != 1 || dests[0] != "k1:9093" {
		t.Fatalf("destinations of the sealed copy: %v %v", dests, bound)
	}
	if p := got["kp"].Protection(); p.String() != "sasl_ssl PLAIN" {
		t.Fatalf("protection of the sealed copy: %s", p)
	}
	if _, err := d.For(ctx, cfg(`{`)); err == nil {
		t.Fatal("a broken document gave no error")
	}
}
