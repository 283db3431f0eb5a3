package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenAndNothingInTheClear(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	val := []byte("kafka-password-4f1c9a")
	s, err := b.Seal("kafka_pw", val)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Ciphertext, val) || bytes.Contains(s.DataKey, val) {
		t.Fatal("the sealed value holds the value in the clear")
	}
	got, err := b.Open("kafka_pw", s)
	if err != nil || !bytes.Equal(got, val) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := b.Seal("kafka_pw", val)
	if bytes.Equal(again.DataKey, s.DataKey) || bytes.Equal(again.Ciphertext, s.Ciphertext) {
		t.Fatal("two seals of one value share a data key or ciphertext")
	}
}

func TestOpenRefusesTamperingAndMovedRows(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Seal("a", []byte("value-a"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(p []byte) []byte { q := bytes.Clone(p); q[len(q)-1] ^= 1; return q }
	cases := []struct {
		name string
		as   string
		s    Sealed
	}{
		{"fail-other-name", "b", s},
		{"fail-ciphertext-flipped", "a", Sealed{s.KeyID, s.DataKey, flip(s.Ciphertext)}},
		{"fail-datakey-flipped", "a", Sealed{s.KeyID, flip(s.DataKey), s.Ciphertext}},
		{"fail-short", "a", Sealed{s.KeyID, s.DataKey, s.Ciphertext[:5]}},
		{"fail-unknown-kek", "a", Sealed{"19700101T000000.000000000-00000000", s.DataKey, s.Ciphertext}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v, err := b.Open(c.as, c.s); err == nil {
				t.Fatalf("opened %q", v)
			}
		})
	}
}

// TestRotateRewrapAndRetireOldKey is the KEK rotation procedure of
// docs/secrets.md: rotate, rewrap every value, delete the old key file.
func TestRotateRewrapAndRetireOldKey(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := b.Newest()
	s, err := b.Seal("x", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	// A second process (another replica) rotates; this one follows.
	other, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	nid, err := other.Rotate()
	if err != nil || nid == old {
		t.Fatalf("Rotate = %q, %v", nid, err)
	}
	if v, err := b.Open("x", s); err != nil || string(v) != "v1" {
		t.Fatalf("the old KEK no longer opens: %q, %v", v, err)
	}
	if s2, err := b.Seal("y", []byte("v2")); err != nil || s2.KeyID != nid {
		t.Fatalf("after another replica rotated, this one wraps with %q (%v), want %q", s2.KeyID, err, nid)
	}
	r, err := other.Rewrap("x", s)
	if err != nil || r.KeyID != nid {
		t.Fatalf("Rewrap = %v, %v", r.KeyID, err)
	}
	if err := os.Remove(filepath.Join(dir, old+keySuffix)); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := fresh.Open("x", r); err != nil || string(v) != "v1" {
		t.Fatalf("rewrapped value: %q, %v", v, err)
	}
	if _, err := fresh.Open("x", s); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a value still wrapped by the deleted KEK: %v, want ErrUnknownKey", err)
	}
}

func TestOpenRefusesAKeyFileOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if err := os.Chmod(filepath.Join(dir, ents[0].Name()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("a world-readable KEK was accepted")
	}
}
