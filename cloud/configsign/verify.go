package configsign

import (
	"fmt"

	"github.com/streamforge/streamforge/pkg/wire"
)

// VerifyBundle checks a bundle this ring signed, under the key it names
// (retired or not, as long as its public record is kept), and returns
// what it says. The cloud uses it where it acts on a deployed config
// itself (the secrets it delivers), so that a config written into the
// database without the signing key moves the cloud no more than the agent.
func (r *Ring) VerifyBundle(b wire.ConfigBundle) (wire.BundlePayload, error) {
	if !r.has(b.KeyID) {
		_ = r.refresh(reloadGap)
	}
	for _, k := range r.snapshot() {
		if k.id == b.KeyID {
			return wire.VerifyBundle(b, k.pub)
		}
	}
	return wire.BundlePayload{}, fmt.Errorf("%w: unknown key %q", ErrBadSignature, b.KeyID)
}
