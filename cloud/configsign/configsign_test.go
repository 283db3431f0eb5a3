package configsign

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"
)

func verifyWith(t *testing.T, keys []wire.ConfigKey, b wire.ConfigBundle) error {
	t.Helper()
	for _, k := range keys {
		if k.KeyID == b.KeyID {
			_, err := wire.VerifyBundle(b, k.PublicKey)
			return err
		}
	}
	return wire.ErrBundleSignature
}

// TestRotationEndorsesAndRetires: the first key is made at load and kept
// 0600; after a rotation the new key signs, its endorsement by the old one
// is served in the chain, the old key is trusted until its grace ends, and
// a later rotation deletes the private half of a retired key while its
// public record keeps the chain whole.
func TestRotationEndorsesAndRetires(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	first := r.Trusted(t0)
	if len(first) != 1 || first[0].RetiresAt != nil {
		t.Fatalf("first key: %+v", first)
	}
	if fi, err := os.Stat(filepath.Join(dir, first[0].KeyID+".pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", fi, err)
	}
	old, err := r.Sign("gw1", 1, json.RawMessage(`{}`), t0)
	if err != nil || old.KeyID != first[0].KeyID || verifyWith(t, first, old) != nil {
		t.Fatalf("sign with the first key: %v", err)
	}

	// Another process rotates; this one signs with the new key at once.
	other, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := other.Rotate(time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Sign("gw1", 2, json.RawMessage(`{}`), t0)
	if err != nil || b.KeyID != kid {
		t.Fatalf("sign after rotation: kid %s, want %s (%v)", b.KeyID, kid, err)
	}
	chain := r.Chain(kid, t0)
	if len(chain) != 1 {
		t.Fatalf("chain: %d endorsements", len(chain))
	}
	if p, err := wire.VerifyEndorsement(chain[0], first[0].PublicKey); err != nil || p.KeyID != kid || !p.EndorserRetiresAt.Equal(t0.UTC().Add(time.Hour)) {
		t.Fatalf("endorsement: %+v %v", p, err)
	}
	within := r.Trusted(t0.Add(30 * time.Minute))
	if len(within) != 2 || verifyWith(t, within, old) != nil || verifyWith(t, within, b) != nil {
		t.Fatalf("within grace: %d keys", len(within))
	}
	after := r.Trusted(t0.Add(2 * time.Hour))
	if len(after) != 1 || verifyWith(t, after, old) == nil || verifyWith(t, after, b) != nil {
		t.Fatalf("after grace: %+v", after)
	}
	if len(r.Chain(kid, t0.Add(2*time.Hour))) != 0 {
		t.Fatal("chain still offers an endorsement by a retired key")
	}

	if _, err := r.Rotate(time.Hour, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, first[0].KeyID+".pem")); !os.IsNotExist(err) {
		t.Fatalf("retired private key kept: %v", err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatalf("reload after pruning: %v", err)
	}
}

// TestUnendorsedKeyIsRefused: a key dropped into the directory without an
// endorsement by its predecessor stops the ring from loading, rather than
// signing with it.
func TestUnendorsedKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	kb := b.Trusted(time.Now())[0].KeyID
	for _, ext := range []string{".json", ".pem"} {
		data, _ := os.ReadFile(filepath.Join(dir, "b", kb+ext))
		// Made after a's key, it sorts after it: it would be the signing key.
		if err := os.WriteFile(filepath.Join(dir, "a", kb+ext), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Sign("gw1", 1, json.RawMessage(`{}`), time.Now()); err == nil || !strings.Contains(err.Error(), "not endorsed") {
		t.Fatalf("signed with a key nobody endorsed: %v", err)
	}
}

// BenchmarkSign is the cost a deploy pays for its signature, with the
// directory reread it includes.
func BenchmarkSign(b *testing.B) {
	r, err := Load(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	doc := json.RawMessage(`{"adapters":[{"type":"modbus","name":"line1"}],"log_level":"info"}`)
	for b.Loop() {
		if _, err := r.Sign("gw1", 1, doc, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
