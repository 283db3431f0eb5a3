package controlplane

import (
	"errors"
	"fmt"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Why a config bundle is refused. The agent keeps its last-known-good
// config running and reports the refusal in its heartbeat.
var (
	ErrUnsigned     = errors.New("config is not signed")
	ErrNoTrustedKey = errors.New("config is signed by a key this gateway does not trust (unknown, retired or not pinned yet)")
	ErrBadSignature = errors.New("config signature does not verify")
	ErrWrongGateway = errors.New("config is for another gateway")
	ErrRollback     = errors.New("config version is older than the one applied (rollback refused)")
)

// ConfigTrust decides which config bundles this gateway accepts: those
// signed by a config signing key it trusts, for its own id, with a version
// not older than the newest it applied (its high-water mark). It lives in
// the agent's state file, written atomically with the config it applied.
//
// Keys are pinned once, from the control plane's token answer after
// approval, over the channel the agent authenticated (TLS, and its own
// identity proof); later keys are trusted only when a trusted key endorsed
// them, so neither a database write nor a man in the middle after that
// first answer can add a key. A key retires at the time its successor's
// endorsement names (the grace period), by this gateway's clock.
type ConfigTrust struct {
	Keys      []wire.ConfigKey `json:"keys,omitempty"`
	HighWater int              `json:"high_water,omitempty"`
}

// clone copies t deeply: learn changes keys in place.
func (t ConfigTrust) clone() ConfigTrust {
	t.Keys = append([]wire.ConfigKey(nil), t.Keys...)
	return t
}

func (t *ConfigTrust) key(kid string, now time.Time) (*wire.ConfigKey, bool) {
	for i := range t.Keys {
		k := &t.Keys[i]
		if k.KeyID == kid {
			return k, k.RetiresAt == nil || now.Before(*k.RetiresAt)
		}
	}
	return nil, false
}

// pin trusts keys when none are trusted yet; it reports whether it did.
func (t *ConfigTrust) pin(keys []wire.ConfigKey) bool {
	if len(t.Keys) > 0 || len(keys) == 0 {
		return false
	}
	t.Keys = append([]wire.ConfigKey(nil), keys...)
	return true
}

// pinConfigured makes keys configured out of band the pinned set, unless
// every one of them is pinned already (with what was learned from them).
func (t *ConfigTrust) pinConfigured(keys []wire.ConfigKey) {
	for _, k := range keys {
		if p, _ := t.key(k.KeyID, time.Time{}); p == nil || !p.PublicKey.Equal(k.PublicKey) {
			t.Keys = append([]wire.ConfigKey(nil), keys...)
			return
		}
	}
}

// learn follows a chain of endorsements: each one signed by a key trusted
// (and not retired) at now adds the key it names, and sets when its
// endorser retires. It reports whether the trust changed; endorsements it
// cannot verify are skipped, so a forged one changes nothing.
func (t *ConfigTrust) learn(chain []wire.KeyEndorsement, now time.Time) bool {
	changed := false
	for _, e := range chain {
		endorser, ok := t.key(e.KeyID, now)
		if !ok {
			continue
		}
		p, err := wire.VerifyEndorsement(e, endorser.PublicKey)
		if err != nil {
			continue
		}
		if endorser.RetiresAt == nil || p.EndorserRetiresAt.Before(*endorser.RetiresAt) {
			r := p.EndorserRetiresAt
			endorser.RetiresAt, changed = &r, true
		}
		if k, _ := t.key(p.KeyID, now); k == nil {
			t.Keys = append(t.Keys, wire.ConfigKey{KeyID: p.KeyID, PublicKey: p.PublicKey})
			changed = true
		}
	}
	return changed
}

// verify checks a bundle for gateway gatewayID and returns its payload and
// whether it is news: a bundle of the version already applied verifies
// (a re-delivery, as after a key rotation or a control plane restart) but
// is not applied again; an older one is refused.
func (t *ConfigTrust) verify(b *wire.ConfigBundle, gatewayID string, now time.Time) (wire.BundlePayload, bool, error) {
	if b == nil {
		return wire.BundlePayload{}, false, ErrUnsigned
	}
	k, ok := t.key(b.KeyID, now)
	if !ok {
		return wire.BundlePayload{}, false, fmt.Errorf("%w: key %q", ErrNoTrustedKey, b.KeyID)
	}
	p, err := wire.VerifyBundle(*b, k.PublicKey)
	if err != nil {
		return wire.BundlePayload{}, false, fmt.Errorf("%w (key %s): %v", ErrBadSignature, b.KeyID, err)
	}
	if p.GatewayID != gatewayID {
		return p, false, fmt.Errorf("%w: %q", ErrWrongGateway, p.GatewayID)
	}
	if p.Version < t.HighWater {
		return p, false, fmt.Errorf("%w: v%d < v%d", ErrRollback, p.Version, t.HighWater)
	}
	return p, p.Version > t.HighWater, nil
}
