package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestBundleSignatureCoversTheDeliveredBytes: a bundle verifies as signed;
// any change to its payload, key id or signature fails, and an
// endorsement's signature never passes as a bundle's.
func TestBundleSignatureCoversTheDeliveredBytes(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	b, err := SignBundle("k1", priv, BundlePayload{GatewayID: "gw1", Version: 3, Config: json.RawMessage(`{"a":1}`), IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := VerifyBundle(b, pub)
	if err != nil || p.Version != 3 || p.GatewayID != "gw1" || p.KeyID != "k1" || !bytes.Equal(p.Config, []byte(`{"a":1}`)) {
		t.Fatalf("ok: %+v %v", p, err)
	}
	e, _ := SignEndorsement("k1", priv, EndorsementPayload{KeyID: "k2", PublicKey: pub})
	cases := map[string]func(ConfigBundle) ConfigBundle{
		"fail-payload-byte": func(c ConfigBundle) ConfigBundle {
			c.Payload = bytes.Replace(c.Payload, []byte(`"version":3`), []byte(`"version":4`), 1)
			return c
		},
		"fail-reencoded-payload": func(c ConfigBundle) ConfigBundle { c.Payload = append([]byte(" "), c.Payload...); return c },
		"fail-signature": func(c ConfigBundle) ConfigBundle {
			c.Signature = bytes.Clone(c.Signature)
			c.Signature[3] ^= 1
			return c
		},
		"fail-endorsement-as-bundle": func(c ConfigBundle) ConfigBundle {
			return ConfigBundle{Payload: e.Payload, KeyID: "k1", Signature: e.Signature}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := VerifyBundle(mutate(b), pub); !errors.Is(err, ErrBundleSignature) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("fail-key-id-outside-differs-from-inside", func(t *testing.T) {
		c := b
		c.KeyID = "k2"
		if _, err := VerifyBundle(c, pub); !errors.Is(err, ErrBundleMalformed) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestConfigKeyTextRoundTrip(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k := ConfigKey{KeyID: "20261129T000000.000000Z-0a0b0c0d", PublicKey: pub}
	got, err := ParseConfigKey(k.String())
	if err != nil || got.KeyID != k.KeyID || !got.PublicKey.Equal(pub) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{"", "kid", ":" + k.String()[len(k.KeyID)+1:], "kid:AAAA", "kid:not base64!"} {
		if _, err := ParseConfigKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
