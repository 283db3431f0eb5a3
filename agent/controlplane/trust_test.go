package controlplane

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"
)

type testKey struct {
	id   string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newTestKey(t *testing.T, id string) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{id, pub, priv}
}

func (k testKey) bundle(t *testing.T, gw string, v int, doc string) *wire.ConfigBundle {
	t.Helper()
	b, err := wire.SignBundle(k.id, k.priv, wire.BundlePayload{GatewayID: gw, Version: v, Config: json.RawMessage(doc), IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return &b
}

func (k testKey) endorse(t *testing.T, next testKey, retires time.Time) wire.KeyEndorsement {
	t.Helper()
	e, err := wire.SignEndorsement(k.id, k.priv, wire.EndorsementPayload{KeyID: next.id, PublicKey: next.pub, CreatedAt: time.Now(), EndorserRetiresAt: retires})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestConfigTrustVerify: every way a bundle can be wrong is a row, and the
// expected answer is the refusal reason.
func TestConfigTrustVerify(t *testing.T) {
	now := time.Now()
	a, b, evil := newTestKey(t, "a"), newTestKey(t, "b"), newTestKey(t, "a")
	trust := func() ConfigTrust {
		return ConfigTrust{Keys: []wire.ConfigKey{{KeyID: "a", PublicKey: a.pub}}, HighWater: 5}
	}
	tampered := func(bd *wire.ConfigBundle) *wire.ConfigBundle {
		var p map[string]any
		_ = json.Unmarshal(bd.Payload, &p)
		p["config"] = map[string]any{"kafka": "evil"}
		bd.Payload, _ = json.Marshal(p)
		return bd
	}
	renamed := func(bd *wire.ConfigBundle) *wire.ConfigBundle { bd.KeyID = "b"; return bd }
	past := now.Add(-time.Minute)
	tests := []struct {
		name  string
		trust ConfigTrust
		b     *wire.ConfigBundle
		want  error
		news  bool
	}{
		{"ok-newer", trust(), a.bundle(t, "gw1", 6, `{"x":1}`), nil, true},
		{"ok-redelivery-of-applied-version", trust(), a.bundle(t, "gw1", 5, `{"x":1}`), nil, false},
		{"fail-unsigned", trust(), nil, ErrUnsigned, false},
		{"fail-older-version", trust(), a.bundle(t, "gw1", 4, `{"x":1}`), ErrRollback, false},
		{"fail-other-gateway", trust(), a.bundle(t, "gw2", 6, `{"x":1}`), ErrWrongGateway, false},
		{"fail-payload-altered", trust(), tampered(a.bundle(t, "gw1", 6, `{"x":1}`)), ErrBadSignature, false},
		{"fail-signed-by-impostor-under-trusted-kid", trust(), evil.bundle(t, "gw1", 99, `{"x":1}`), ErrBadSignature, false},
		{"fail-unknown-key", trust(), b.bundle(t, "gw1", 6, `{"x":1}`), ErrNoTrustedKey, false},
		{"fail-key-id-swapped", ConfigTrust{Keys: []wire.ConfigKey{{KeyID: "a", PublicKey: a.pub}, {KeyID: "b", PublicKey: a.pub}}},
			renamed(a.bundle(t, "gw1", 6, `{}`)), ErrBadSignature, false},
		{"fail-retired-key", ConfigTrust{Keys: []wire.ConfigKey{{KeyID: "a", PublicKey: a.pub, RetiresAt: &past}}},
			a.bundle(t, "gw1", 6, `{}`), ErrNoTrustedKey, false},
		{"fail-nothing-pinned", ConfigTrust{}, a.bundle(t, "gw1", 6, `{}`), ErrNoTrustedKey, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, news, err := tc.trust.verify(tc.b, "gw1", now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || news != tc.news {
				t.Fatalf("verify: news=%v err=%v, want news=%v err=%v", news, err, tc.news, tc.want)
			}
		})
	}
}

// TestConfigTrustFollowsRotation: a key endorsed by a pinned key becomes
// trusted, the endorser keeps verifying until the grace it was given ends,
// and an endorsement by an untrusted key (or one trying to extend a
// retirement) changes nothing.
func TestConfigTrustFollowsRotation(t *testing.T) {
	now := time.Now()
	a, b, c, evil := newTestKey(t, "a"), newTestKey(t, "b"), newTestKey(t, "c"), newTestKey(t, "evil")
	tr := ConfigTrust{}
	if !tr.pin([]wire.ConfigKey{{KeyID: "a", PublicKey: a.pub}}) || tr.pin([]wire.ConfigKey{{KeyID: "evil", PublicKey: evil.pub}}) {
		t.Fatal("pin must take the first key set only")
	}
	grace := now.Add(time.Hour)
	chain := []wire.KeyEndorsement{a.endorse(t, b, grace), evil.endorse(t, c, now.Add(time.Hour)), b.endorse(t, evil, now.Add(time.Hour))}
	chain[2].Signature[0] ^= 1 // a forged endorsement of evil by b
	if !tr.learn(chain, now) {
		t.Fatal("rotation not learned")
	}
	if _, ok := tr.key("b", now); !ok {
		t.Fatal("the endorsed key is not trusted")
	}
	for _, kid := range []string{"c", "evil"} {
		if k, _ := tr.key(kid, now); k != nil {
			t.Fatalf("key %s trusted through an endorsement by an untrusted key or a bad signature", kid)
		}
	}
	// The old key verifies during its grace, not after.
	if _, _, err := tr.verify(a.bundle(t, "gw1", 1, `{}`), "gw1", now); err != nil {
		t.Fatalf("old key within its grace: %v", err)
	}
	if _, _, err := tr.verify(a.bundle(t, "gw1", 1, `{}`), "gw1", grace.Add(time.Second)); !errors.Is(err, ErrNoTrustedKey) {
		t.Fatalf("old key after its grace: %v", err)
	}
	if _, _, err := tr.verify(b.bundle(t, "gw1", 2, `{}`), "gw1", grace.Add(time.Second)); err != nil {
		t.Fatalf("new key: %v", err)
	}
	// A second endorsement by a cannot push its own retirement later.
	tr.learn([]wire.KeyEndorsement{a.endorse(t, b, now.Add(1000*time.Hour))}, now)
	if k, _ := tr.key("a", now); !k.RetiresAt.Equal(grace) {
		t.Fatalf("retirement moved to %v", k.RetiresAt)
	}
}

// TestConfiguredKeysReplaceAPinnedSetLackingThem: keys from agent.yaml are
// the roots of trust; they leave alone a set that already holds them (and
// what was learned from them) and replace one that does not.
func TestConfiguredKeysReplaceAPinnedSetLackingThem(t *testing.T) {
	a, b, evil := newTestKey(t, "a"), newTestKey(t, "b"), newTestKey(t, "a")
	conf := []wire.ConfigKey{{KeyID: "a", PublicKey: a.pub}}
	learned := ConfigTrust{Keys: []wire.ConfigKey{{KeyID: "a", PublicKey: a.pub}, {KeyID: "b", PublicKey: b.pub}}}
	learned.pinConfigured(conf)
	if len(learned.Keys) != 2 {
		t.Fatalf("a set holding the configured key was replaced: %+v", learned.Keys)
	}
	other := ConfigTrust{Keys: []wire.ConfigKey{{KeyID: "a", PublicKey: evil.pub}}, HighWater: 4}
	other.pinConfigured(conf)
	if len(other.Keys) != 1 || !other.Keys[0].PublicKey.Equal(a.pub) || other.HighWater != 4 {
		t.Fatalf("a set lacking the configured key kept: %+v", other)
	}
	if other.pin([]wire.ConfigKey{{KeyID: "evil", PublicKey: evil.pub}}) {
		t.Fatal("a token answer's keys pinned over configured ones")
	}
}
