package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/secrets"
	"github.com/streamforge/streamforge/cloud/store"
)

// TestSecretKeysRotateRewrapsEveryValue is the KEK rotation of
// docs/secrets.md: rotate (which rewraps), rewrap again (0 left), delete
// the old key file: every value still opens, and the rotation is audited.
func TestSecretKeysRotateRewrapsEveryValue(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	args := []string{"--data-dir", data}
	st, err := store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(data, "keys", "secrets")
	box, err := secretbox.Open(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	old := box.Newest()
	svc := secrets.New(st.Secrets(), st.Gateways(), box)
	for _, n := range []string{"a", "b"} {
		if _, err := svc.Create(ctx, audit.Origin{Actor: "t"}, n, "value-"+n, "", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	if err := secretKeysRotate(ctx, args, true); err != nil {
		t.Fatal(err)
	}
	if err := secretKeysRotate(ctx, args, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(keyDir, old+".kek")); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err = secretbox.Open(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.Secrets().List(ctx)
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	for _, r := range rows {
		if r.KeyID == old {
			t.Fatalf("%s still wrapped by the old key", r.Name)
		}
		v, err := box.Open(r.Name, secretbox.Sealed{KeyID: r.KeyID, DataKey: r.DataKey, Ciphertext: r.Ciphertext})
		if err != nil || string(v) != "value-"+r.Name {
			t.Fatalf("%s after rotation: %q, %v", r.Name, v, err)
		}
	}
	recs, err := st.Audit(ctx).QueryAudit(auditrec.Filter{EventTypePrefix: "secret.keys.rotate", Limit: 10})
	if err != nil || len(recs) != 2 {
		t.Fatalf("secret.keys.rotate records: %d, %v", len(recs), err)
	}
}
