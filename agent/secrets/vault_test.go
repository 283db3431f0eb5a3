package secrets_test

import (
	"context"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/internal/testenv"
)

// adaptersPolicy is the spec's least-privilege policy: read, on the paths
// the gateway's configs reference, and nothing else.
const adaptersPolicy = `
path "secret/data/streamforge/opcua/*" {
  capabilities = ["read"]
}
path "secret/data/streamforge/kafka/adapter-credentials" {
  capabilities = ["read"]
}
`

// openBaoWithAppRole starts OpenBao in dev mode and sets it up as an
// operator would (docs/secrets.md): KV values, the policy, an AppRole
// bound to it. It returns the AppRole's role id and secret id.
func openBaoWithAppRole(t *testing.T, values map[string]map[string]any) (addr, roleID, secretID string) {
	t.Helper()
	ob := testenv.StartOpenBao(t)
	cfg := vault.DefaultConfig()
	cfg.Address = ob.Addr
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(ob.RootToken)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vault.EnableAuthOptions{Type: "approle"}))
	must(root.Sys().PutPolicyWithContext(ctx, "streamforge-adapters", adaptersPolicy))
	_, err = root.Logical().WriteWithContext(ctx, "auth/approle/role/gateway", map[string]any{
		"token_policies": "streamforge-adapters", "token_ttl": "10m", "secret_id_ttl": "10m"})
	must(err)
	for p, kv := range values {
		_, err := root.KVv2("secret").Put(ctx, p, kv)
		must(err)
	}
	r, err := root.Logical().ReadWithContext(ctx, "auth/approle/role/gateway/role-id")
	must(err)
	s, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/gateway/secret-id", nil)
	must(err)
	return ob.Addr, r.Data["role_id"].(string), s.Data["secret_id"].(string)
}

// TestVaultReferencesResolveWithAppRoleAndLeastPrivilege runs against a
// real OpenBao: `${vault:path#key}` resolves through AppRole; a path the
// policy does not grant, a missing key and a wrong secret id fail with
// errors that name the reference and hold no value.
func TestVaultReferencesResolveWithAppRoleAndLeastPrivilege(t *testing.T) {
	const plcPassword, otherPassword = "plc-01-pw-7c1e", "not-granted-pw-91af"
	addr, roleID, secretID := openBaoWithAppRole(t, map[string]map[string]any{
		"streamforge/opcua/plc-01":              {"username": "operator", "password": plcPassword},
		"streamforge/kafka/adapter-credentials": {"username": "adapter-user", "password": "kafka-pw-55d0"},
		"streamforge/historian/db":              {"password": otherPassword},
	})
	v, err := secrets.NewVault(secrets.VaultConfig{Address: addr, RoleID: roleID}, secrets.New(secretID))
	if err != nil {
		t.Fatal(err)
	}
	var st secrets.Store
	st.WithVault(v)
	got, err := st.Resolve("adapters[0].servers[0].identity.password", "${vault:secret/streamforge/opcua/plc-01#password}")
	if err != nil || got.Reveal() != plcPassword {
		t.Fatalf("granted path: %q, %v", got.Reveal(), err)
	}
	if got, err := st.Resolve("kafka.security.password", "${vault:secret/streamforge/kafka/adapter-credentials#password}"); err != nil || got.IsZero() {
		t.Fatalf("granted exact path: %v", err)
	}
	for _, c := range []struct{ name, ref, want string }{
		{"fail-not-in-policy", "${vault:secret/streamforge/historian/db#password}", "HTTP 403"},
		{"fail-no-such-key", "${vault:secret/streamforge/opcua/plc-01#token}", `no key "token"`},
		{"fail-no-such-secret", "${vault:secret/streamforge/opcua/plc-99#password}", "no such secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.Resolve("adapters[0].servers[0].identity.password", c.ref)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.ref) {
				t.Fatalf("error %v, want one naming %s and %q", err, c.ref, c.want)
			}
			if strings.Contains(err.Error(), otherPassword) || strings.Contains(err.Error(), plcPassword) {
				t.Fatal("the error holds a value")
			}
		})
	}
	t.Run("fail-wrong-secret-id", func(t *testing.T) {
		bad, err := secrets.NewVault(secrets.VaultConfig{Address: addr, RoleID: roleID}, secrets.New("00000000-0000-0000-0000-000000000000"))
		if err != nil {
			t.Fatal(err)
		}
		var st secrets.Store
		_, err = st.WithVault(bad).Resolve("kafka.security.password", "${vault:secret/streamforge/opcua/plc-01#password}")
		if err == nil || !strings.Contains(err.Error(), "AppRole login") {
			t.Fatalf("wrong secret id: %v", err)
		}
	})
	t.Run("fail-vault-not-configured", func(t *testing.T) {
		var st secrets.Store
		if _, err := st.Resolve("kafka.security.password", "${vault:secret/a#b}"); err == nil || !strings.Contains(err.Error(), "not configured") {
			t.Fatalf("no Vault: %v", err)
		}
	})
}
