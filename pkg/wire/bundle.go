package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Signed config bundles. The control plane signs every deployed config
// with an Ed25519 key that lives outside its database; the agent applies a
// config only from a bundle whose signature it verifies against keys it
// pinned when it was approved. What is signed is Payload, exactly as
// delivered: the agent verifies those bytes and then decodes them, it
// never re-encodes JSON to check a signature. Each kind of signed message
// has its own context string, so a signature over one kind can never pass
// as another.
const (
	bundleContext      = "streamforge-config-bundle-v1\n"
	endorsementContext = "streamforge-config-key-v1\n"
)

// Errors a verifier branches on.
var (
	ErrBundleSignature = errors.New("config bundle signature does not verify")
	ErrBundleMalformed = errors.New("config bundle is malformed")
)

// Signed is a payload, the id of the key that signed it and the Ed25519
// signature over the payload (with its kind's context string).
type Signed struct {
	Payload   []byte `json:"payload"`
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// ConfigBundle is a deployed config as the control plane signed it; its
// Payload is a BundlePayload.
type ConfigBundle Signed

// BundlePayload is what a config bundle says: which gateway, which
// version, the config document, when it was issued and by which key (the
// same as the bundle's KeyID, so the key id is covered by the signature).
type BundlePayload struct {
	GatewayID string          `json:"gateway_id"`
	Version   int             `json:"version"`
	Config    json.RawMessage `json:"config"`
	IssuedAt  time.Time       `json:"issued_at"`
	KeyID     string          `json:"key_id"`
}

// ConfigKey is a config signing public key as an agent trusts it. A key
// with RetiresAt verifies nothing from that time on: its successor has
// taken over and its grace period is over.
type ConfigKey struct {
	KeyID     string            `json:"key_id"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	RetiresAt *time.Time        `json:"retires_at,omitempty"`
}

// KeyEndorsement is a new config signing key signed by the key it
// replaces; its Payload is an EndorsementPayload. A chain of them lets an
// agent that pinned an older key trust the newer ones, and no one else's.
type KeyEndorsement Signed

// EndorsementPayload names the new key and when the endorsing (previous)
// key retires.
type EndorsementPayload struct {
	KeyID             string            `json:"key_id"`
	PublicKey         ed25519.PublicKey `json:"public_key"`
	CreatedAt         time.Time         `json:"created_at"`
	EndorsedBy        string            `json:"endorsed_by"`
	EndorserRetiresAt time.Time         `json:"endorser_retires_at"`
}

func signSigned(ctx string, kid string, key ed25519.PrivateKey, v any) (Signed, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Payload: payload, KeyID: kid, Signature: ed25519.Sign(key, append([]byte(ctx), payload...))}, nil
}

func verifySigned(ctx string, s Signed, pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, append([]byte(ctx), s.Payload...), s.Signature)
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// SignBundle signs p (whose KeyID is set to kid) with key.
func SignBundle(kid string, key ed25519.PrivateKey, p BundlePayload) (ConfigBundle, error) {
	p.KeyID = kid
	s, err := signSigned(bundleContext, kid, key, p)
	return ConfigBundle(s), err
}

// VerifyBundle checks b's signature with pub and returns its payload. The
// payload is decoded only after its signature verified, and its key id
// must be the bundle's.
func VerifyBundle(b ConfigBundle, pub ed25519.PublicKey) (BundlePayload, error) {
	if !verifySigned(bundleContext, Signed(b), pub) {
		return BundlePayload{}, ErrBundleSignature
	}
	var p BundlePayload
	if err := decodeStrict(b.Payload, &p); err != nil {
		return BundlePayload{}, fmt.Errorf("%w: %v", ErrBundleMalformed, err)
	}
	if p.KeyID != b.KeyID || p.Version < 1 || p.GatewayID == "" {
		return BundlePayload{}, fmt.Errorf("%w: key id, version or gateway id", ErrBundleMalformed)
	}
	return p, nil
}

// SignEndorsement signs p (whose EndorsedBy is set to kid) with key, the
// previous signing key.
func SignEndorsement(kid string, key ed25519.PrivateKey, p EndorsementPayload) (KeyEndorsement, error) {
	p.EndorsedBy = kid
	s, err := signSigned(endorsementContext, kid, key, p)
	return KeyEndorsement(s), err
}

// VerifyEndorsement checks e's signature with pub, the endorser's key.
func VerifyEndorsement(e KeyEndorsement, pub ed25519.PublicKey) (EndorsementPayload, error) {
	if !verifySigned(endorsementContext, Signed(e), pub) {
		return EndorsementPayload{}, ErrBundleSignature
	}
	var p EndorsementPayload
	if err := decodeStrict(e.Payload, &p); err != nil {
		return EndorsementPayload{}, fmt.Errorf("%w: %v", ErrBundleMalformed, err)
	}
	if p.EndorsedBy != e.KeyID || p.KeyID == "" || len(p.PublicKey) != ed25519.PublicKeySize {
		return EndorsementPayload{}, fmt.Errorf("%w: endorsement key fields", ErrBundleMalformed)
	}
	return p, nil
}

// String writes k as "key_id:base64(public key)", the form
// `streamforge-cloud config-keys list` prints and agent.yaml's
// control_plane.config_keys takes.
func (k ConfigKey) String() string {
	return k.KeyID + ":" + base64.StdEncoding.EncodeToString(k.PublicKey)
}

// ParseConfigKey reads a key written by ConfigKey.String.
func ParseConfigKey(s string) (ConfigKey, error) {
	kid, b64, ok := strings.Cut(strings.TrimSpace(s), ":")
	pub, err := base64.StdEncoding.DecodeString(b64)
	if !ok || kid == "" || err != nil || len(pub) != ed25519.PublicKeySize {
		return ConfigKey{}, fmt.Errorf("config key %q: want key_id:base64 of a 32-byte Ed25519 public key", s)
	}
	return ConfigKey{KeyID: kid, PublicKey: pub}, nil
}
