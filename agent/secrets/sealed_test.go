package secrets_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/agent/tpm"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pkg/secretprot"
)

// noValueInFiles fails if any file under dir holds v.
func noValueInFiles(t *testing.T, dir, v string) {
	t.Helper()
	if hits := testenv.FilesContaining(t, dir, []byte(v)); len(hits) > 0 {
		t.Errorf("files hold a secret value: %v", hits)
	}
}

// TestDeliveredSecretsAreSealedToTheTPM: the values the cloud delivered
// are on disk only encrypted, under a key sealed to the gateway's TPM
// (swtpm): they open again in that TPM, not in another one, and a
// tampered file is refused.
func TestDeliveredSecretsAreSealedToTheTPM(t *testing.T) {
	const v = "delivered-kafka-pw-3b9e"
	dir := t.TempDir()
	sw := testenv.StartSwTPM(t)
	tp, err := tpm.Open(tpm.Config{Path: sw.Path, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	s := secrets.NewSealed(dir, tp)
	if err := s.Save(map[string]secrets.Secret{"kafka_pw": secrets.New(v)}); err != nil {
		t.Fatal(err)
	}
	noValueInFiles(t, dir, v)
	if _, err := os.Stat(filepath.Join(dir, "delivered-secrets.sealed.key")); err == nil {
		t.Fatal("a key file was written although a TPM seals the key")
	}
	got, err := secrets.NewSealed(dir, tp).Load()
	if err != nil || got["kafka_pw"].Reveal() != v {
		t.Fatalf("load in the same TPM: %v", err)
	}
	other, err := tpm.Open(tpm.Config{Path: testenv.StartSwTPM(t).Path, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, err := secrets.NewSealed(dir, other).Load(); err == nil {
		t.Fatal("another TPM opened the delivered secrets")
	}
	f := filepath.Join(dir, "delivered-secrets.sealed")
	raw, _ := os.ReadFile(f)
	raw[len(raw)-5] ^= 1
	if err := os.WriteFile(f, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.NewSealed(dir, tp).Load(); err == nil {
		t.Fatal("a tampered file was accepted")
	}
}

// TestDeliveredSecretsWithoutTPMUseAKeyFile: without a TPM the key is a
// 0600 file; the values are still in no file in the clear.
func TestDeliveredSecretsWithoutTPMUseAKeyFile(t *testing.T) {
	const v = "delivered-opcua-pw-77aa"
	dir := t.TempDir()
	s := secrets.NewSealed(dir, nil)
	if got, err := s.Load(); err != nil || len(got) != 0 {
		t.Fatalf("nothing saved yet: %v %v", got, err)
	}
	if err := s.Save(map[string]secrets.Secret{"opcua_pw": secrets.New(v)}); err != nil {
		t.Fatal(err)
	}
	noValueInFiles(t, dir, v)
	for _, f := range []string{"delivered-secrets.sealed", "delivered-secrets.sealed.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	got, err := s.Load()
	if err != nil || got["opcua_pw"].Reveal() != v {
		t.Fatalf("load: %v", err)
	}
	if d, bound := got["opcua_pw"].Destinations(); !bound || len(d) != 0 {
		t.Fatalf("a value saved unbound came back %v %v: a delivered value is always bound", d, bound)
	}
}

// TestSealedCopyKeepsDestinations: after an offline restart the values
// from the sealed copy are bound as they were delivered, to their
// destinations and their protection.
func TestSealedCopyKeepsDestinations(t *testing.T) {
	s := secrets.NewSealed(t.TempDir(), nil)
	prot := secretprot.KafkaOf("sasl_ssl", "SCRAM-SHA-256")
	if err := s.Save(map[string]secrets.Secret{"kafka_pw": secrets.Bound("v", []string{"broker1:9093", "broker2:9093"}).WithProtection(prot)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if d, bound := got["kafka_pw"].Destinations(); !bound || strings.Join(d, ",") != "broker1:9093,broker2:9093" {
		t.Fatalf("destinations after a reload: %v %v", d, bound)
	}
	if p := got["kafka_pw"].Protection(); p.String() != "sasl_ssl SCRAM-SHA-256" {
		t.Fatalf("protection after a reload: %s", p)
	}
}
