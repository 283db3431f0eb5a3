package configsign

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// ErrBadSignature means a detached signature does not verify under the
// key it names.
var ErrBadSignature = errors.New("signature does not verify")

// SignDetached signs msg with the newest key of the ring and returns that
// key's id with the signature. Rings other than the config ring (the audit
// checkpoint ring, kept in a directory of its own) use it, so that one
// piece of code keeps every signing key outside the database.
func (r *Ring) SignDetached(msg []byte) (kid string, sig []byte, err error) {
	if err := r.reloadIfChanged(); err != nil {
		return "", nil, err
	}
	keys := r.snapshot()
	if len(keys) == 0 || keys[len(keys)-1].priv == nil {
		return "", nil, errors.New("no signing key")
	}
	k := keys[len(keys)-1]
	return k.id, ed25519.Sign(k.priv, msg), nil
}

// VerifyDetached checks sig over msg with key kid of the ring, retired or
// not: an old signature stays checkable for as long as the key's public
// record is kept.
func (r *Ring) VerifyDetached(kid string, msg, sig []byte) error {
	if !r.has(kid) {
		_ = r.refresh(reloadGap)
	}
	for _, k := range r.snapshot() {
		if k.id == kid {
			if !ed25519.Verify(k.pub, msg, sig) {
				return ErrBadSignature
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown key %q", ErrBadSignature, kid)
}
