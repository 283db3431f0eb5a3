package secret

import (
	"slices"
	"testing"
)

func TestParseVaultRef(t *testing.T) {
	cases := []struct{ name, in, path, key string }{
		{"ok", "${vault:secret/streamforge/opcua/plc-01#password}", "secret/streamforge/opcua/plc-01", "password"},
		{"ok-one-segment", "${vault:kv#k}", "kv", "k"},
		{"fail-no-key", "${vault:secret/x}", "", ""},
		{"fail-empty-key", "${vault:secret/x#}", "", ""},
		{"fail-dotdot", "${vault:secret/../sys/policy#k}", "", ""},
		{"fail-dot", "${vault:secret/./x#k}", "", ""},
		{"fail-leading-slash", "${vault:/secret/x#k}", "", ""},
		{"fail-trailing-text", "${vault:secret/x#k}extra", "", ""},
		{"fail-secret-kind", "${secret:x}", "", ""},
		{"fail-literal", "hunter2", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, k, ok := ParseVaultRef(c.in)
			if ok != (c.path != "") || p != c.path || k != c.key {
				t.Fatalf("ParseVaultRef(%q) = %q, %q, %v; want %q, %q", c.in, p, k, ok, c.path, c.key)
			}
			if IsRef(c.in) != (ok || c.name == "fail-secret-kind") {
				t.Fatalf("IsRef(%q) = %v", c.in, IsRef(c.in))
			}
		})
	}
}

func TestNamesFindsEveryReferenceOnce(t *testing.T) {
	doc := `{"kafka":{"security":{"username":"${secret:ku}","password":"${secret:kp}"}},
	"adapters":[{"servers":[{"identity":{"password":"${secret:kp}"}},{"identity":{"password":"${vault:secret/a#b}"}}]}],
	"note":"${secret:not a ref}"}`
	got, err := Names([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kp", "ku"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	if _, err := Names([]byte("{")); err == nil {
		t.Fatal("a broken document gave no error")
	}
}

func TestEncryptDecrypt(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 1
	c, err := Encrypt(key, []byte("v"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Decrypt(key, c, []byte("ad")); err != nil || string(p) != "v" {
		t.Fatalf("Decrypt = %q, %v", p, err)
	}
	other := make([]byte, 32)
	for _, bad := range []struct {
		name       string
		key, c, ad []byte
	}{
		{"fail-other-key", other, c, []byte("ad")},
		{"fail-other-ad", key, c, []byte("xx")},
		{"fail-short", key, c[:4], []byte("ad")},
		{"fail-key-size", key[:16], c, []byte("ad")},
	} {
		if _, err := Decrypt(bad.key, bad.c, bad.ad); err == nil {
			t.Errorf("%s: opened", bad.name)
		}
	}
}
