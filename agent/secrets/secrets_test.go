package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/pkg/secret"
)

const value = "s3cr3t-value"

func writeFile(t *testing.T, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretNeverShowsItsValue(t *testing.T) {
	s := New(value)
	wrapper := struct{ Password Secret }{s}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "password", s, "cfg", wrapper)
	js, _ := json.Marshal(wrapper)
	ym, _ := yaml.Marshal(wrapper)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%+v": fmt.Sprintf("%+v", wrapper),
		"%#v": fmt.Sprintf("%#v", s), "%q": fmt.Sprintf("%q", s), "slog": logged.String(), "json": string(js), "yaml": string(ym),
	}
	for how, out := range outputs {
		if strings.Contains(out, value) || !strings.Contains(out, secret.Redacted) {
			t.Errorf("%s shows %q", how, out)
		}
	}
	if s.Reveal() != value {
		t.Error("Reveal lost the value")
	}
}

func TestLoadAndResolve(t *testing.T) {
	lines := "# kafka\n\nkafka-password=" + value + "=tail\n  spaced.name =x\n"
	yml := "kafka-password: " + value + "=tail\nspaced.name: x\n"
	cases := []struct {
		name, file, body string
		mode             os.FileMode
		env              map[string]string
		ref              string
		want             string // value, or the error's text
		wantErr          bool
	}{
		{name: "ok-lines", file: "secrets", body: lines, mode: 0o600, ref: "${secret:kafka-password}", want: value + "=tail"},
		{name: "ok-yaml", file: "secrets.yaml", body: yml, mode: 0o640, ref: "${secret:spaced.name}", want: "x"},
		{name: "ok-env-wins", file: "secrets", body: lines, mode: 0o600,
			env: map[string]string{"STREAMFORGE_SECRET_KAFKA_PASSWORD": "from-env"}, ref: "${secret:kafka-password}", want: "from-env"},
		{name: "ok-empty-is-no-secret", ref: "", want: ""},
		{name: "fail-unknown-names-reference", file: "secrets", body: lines, mode: 0o600, ref: "${secret:nope}", wantErr: true,
			want: "${secret:nope}: secret not defined (looked in secrets file"},
		{name: "fail-literal", ref: "hunter2", wantErr: true, want: "must be a ${secret:name} or ${vault:path#key} reference"},
		{name: "fail-world-readable", file: "secrets", body: lines, mode: 0o644, wantErr: true, want: "mode 0644"},
		{name: "fail-group-writable", file: "secrets", body: lines, mode: 0o660, wantErr: true, want: "mode 0660"},
		{name: "fail-bad-line-hides-content", file: "secrets", body: value + "\n", mode: 0o600, wantErr: true, want: "line 1: want name=value"},
		{name: "fail-bad-yaml-hides-content", file: "s.yml", body: "a: [" + value, mode: 0o600, wantErr: true, want: "not valid YAML"},
		{name: "fail-yaml-not-map", file: "s.yml", body: "- " + value, mode: 0o600, wantErr: true, want: "not a YAML map"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := ""
			if c.file != "" {
				path = writeFile(t, c.file, c.body, c.mode)
			}
			st, err := Load(path)
			var sec Secret
			if err == nil {
				st.getenv = func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
				sec, err = st.Resolve("kafka.sasl.password", c.ref)
			}
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one containing %q", err, c.want)
				}
				if strings.Contains(err.Error(), value) {
					t.Fatalf("error shows the value: %v", err)
				}
				return
			}
			if err != nil || sec.Reveal() != c.want {
				t.Fatalf("got %q, %v; want %q", sec.Reveal(), err, c.want)
			}
		})
	}
}

func TestLookupFromProcessEnvironment(t *testing.T) {
	t.Setenv("STREAMFORGE_SECRET_CA_KEY_PASS", "pw")
	sec, err := (&Store{}).Lookup("ca-key.pass")
	if err != nil || sec.Reveal() != "pw" {
		t.Fatalf("got %q, %v", sec.Reveal(), err)
	}
	if _, err := (&Store{}).Lookup("missing"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "STREAMFORGE_SECRET_MISSING") {
		t.Fatalf("missing secret: %v", err)
	}
}
