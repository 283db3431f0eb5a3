package main

import (
	"context"
	"fmt"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/config"
	"github.com/streamforge/streamforge/cloud/secretbox"
	"github.com/streamforge/streamforge/cloud/secrets"
	"github.com/streamforge/streamforge/cloud/store"
)

// secretKeysRotate adds a key-encryption key for the secrets, rewraps
// every value's data key with it (the values themselves are not
// decrypted into anything but memory, nor re-encrypted), and audits it.
// With rewrap only (rotate false) it moves values still wrapped by an
// older key, e.g. ones a replica wrote while the rotation ran: it is
// idempotent, and once it reports 0 the older key files can be deleted.
func secretKeysRotate(ctx context.Context, args []string, rotate bool) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	box, err := secretbox.Open(cfg.SecretKeyDir)
	if err != nil {
		return err
	}
	prev := box.Newest()
	if rotate {
		if _, err := box.Rotate(); err != nil {
			return err
		}
	}
	kid := box.Newest()
	n, err := secrets.New(st.Secrets(), st.Gateways(), box).RewrapAll(ctx)
	if err != nil {
		return fmt.Errorf("key %s: rewrapped %d values, then: %w", kid, n, err)
	}
	ev := audit.Origin{Actor: cliActor()}.Event("secret.keys.rotate", "secret_key", kid, "rotate", audit.ResultSuccess)
	ev.Changes = map[string]audit.Change{"key_id": {Old: prev, New: kid}, "rewrapped": {New: n}}
	if _, err := store.AppendAudit(st.DB.WithContext(ctx), ev); err != nil {
		return fmt.Errorf("secret key %s: %d values rewrapped, but the audit record failed: %w", kid, n, err)
	}
	fmt.Printf("secret key %s in %s wraps every value now (%d rewrapped); run \"secret-keys rewrap\" until it rewraps 0, then delete the older .kek files\n",
		kid, cfg.SecretKeyDir, n)
	return nil
}
