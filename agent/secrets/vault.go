package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/streamforge/streamforge/pkg/secret"
)

// VaultConfig is the agent's Vault (or OpenBao) access: AppRole, whose
// policy should allow `read` on the KV paths the configs reference and
// nothing else (docs/secrets.md has the policy).
type VaultConfig struct {
	// Address is the server's URL (https://vault.example:8200).
	Address string `yaml:"address"`
	// RoleID names the AppRole; it is not a secret on its own.
	RoleID string `yaml:"role_id"`
	// SecretID must be a ${secret:name} reference (a local secret).
	SecretID string `yaml:"secret_id"`
	// CAFile verifies the server's certificate (empty: system roots).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds each call (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// Vault reads `${vault:path#key}` references from a KV version 2 engine:
// the path's first segment is the mount (secret/streamforge/opcua/plc-01
// reads secret/data/streamforge/opcua/plc-01, as the policy names it).
// It logs in with AppRole on first use and again when the token expires.
type Vault struct {
	c        *vault.Client
	roleID   string
	secretID Secret
	mu       sync.Mutex
	loggedIn bool
}

// NewVault returns a reader for cfg; secretID is the resolved SecretID.
func NewVault(cfg VaultConfig, secretID Secret) (*Vault, error) {
	vc := vault.DefaultConfig()
	vc.Address = cfg.Address
	vc.Timeout = cfg.Timeout
	if vc.Timeout == 0 {
		vc.Timeout = 10 * time.Second
	}
	// The client's own retries would hide a refused login behind minutes
	// of backoff; the config loop retries instead.
	vc.MaxRetries = 0
	if cfg.CAFile != "" {
		if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CAFile}); err != nil {
			return nil, fmt.Errorf("vault.ca_file: %w", err)
		}
	}
	c, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	// No token from VAULT_TOKEN or ~/.vault-token: only the AppRole's.
	c.ClearToken()
	return &Vault{c: c, roleID: cfg.RoleID, secretID: secretID}, nil
}

func (v *Vault) login(ctx context.Context) error {
	s, err := v.c.Logical().WriteWithContext(ctx, "auth/approle/login",
		map[string]any{"role_id": v.roleID, "secret_id": v.secretID.Reveal()})
	if err != nil {
		return fmt.Errorf("vault AppRole login: %s", vaultReason(err))
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return errors.New("vault AppRole login: no token in the answer")
	}
	v.c.SetToken(s.Auth.ClientToken)
	v.loggedIn = true
	return nil
}

// Read returns key of the KV secret at path.
func (v *Vault) Read(ctx context.Context, path, key string) (Secret, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	mount, rest, ok := strings.Cut(path, "/")
	if !ok {
		return Secret{}, fmt.Errorf("%s: want mount/path", path)
	}
	for attempt := 0; ; attempt++ {
		if !v.loggedIn {
			if err := v.login(ctx); err != nil {
				return Secret{}, err
			}
		}
		kv, err := v.c.KVv2(mount).Get(ctx, rest)
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == 403 && attempt == 0 {
			v.loggedIn = false // the token may have expired: log in once more
			continue
		}
		if err != nil {
			return Secret{}, fmt.Errorf("read %s: %s", path, vaultReason(err))
		}
		val, ok := kv.Data[key]
		if !ok {
			return Secret{}, fmt.Errorf("read %s: no key %q", path, key)
		}
		s, ok := val.(string)
		if !ok {
			return Secret{}, fmt.Errorf("read %s: key %q is not a string", path, key)
		}
		return secret.New(s), nil
	}
}

// vaultReason keeps a Vault error's status and messages; the client's
// error text also holds the request URL, which says nothing secret, but
// its body could echo input, so only the server's error list is kept.
func vaultReason(err error) string {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	if errors.Is(err, vault.ErrSecretNotFound) {
		return "no such secret"
	}
	return err.Error()
}
