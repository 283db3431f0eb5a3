package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/cloud/rbac"
)

// secretValue is a value no other data in a test can contain by chance.
func secretValue(t *testing.T, label string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return label + "-" + hex.EncodeToString(b)
}

// databaseBytes is every byte the database holds as a reader of its
// storage would see it: the SQLite file (and its WAL), or a pg_dump.
func (e *env) databaseBytes(t *testing.T) []byte {
	t.Helper()
	if e.dbURL == "" {
		var all []byte
		for _, f := range []string{"streamforge.db", "streamforge.db-wal"} {
			b, err := os.ReadFile(filepath.Join(e.dataDir, f))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if len(all) == 0 {
			t.Fatal("no SQLite file found")
		}
		return all
	}
	out, err := exec.Command("pg_dump", "--data-only", "--dbname="+e.dbURL).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

// TestSecretValuesAreNeverShownNorStoredInTheClear: values go in through
// the API and come out of no user answer, audit record, log line or
// database byte, on SQLite and PostgreSQL; names and metadata do.
func TestSecretValuesAreNeverShownNorStoredInTheClear(t *testing.T) {
	databases(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, "")
		admin := e.login(adminEmail, adminPassword)
		engineer := e.user("eng@example.com", []string{rbac.Engineer}, "*")
		v1, v2 := secretValue(t, "kafka-pw"), secretValue(t, "kafka-pw-rotated")
		var answers [][]byte
		keep := func(r resp) resp { answers = append(answers, r.raw); return r }

		r := keep(e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka_pw", "value": v1, "description": "broker"}))
		wantStatus(t, r, 201)
		if r.body["name"] != "kafka_pw" || r.body["version"] != float64(1) || r.body["key_id"] == "" {
			t.Fatalf("create: %s", r.raw)
		}
		wantError(t, keep(e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "kafka_pw", "value": "x"})), 409, "exists")
		wantError(t, keep(e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "bad name", "value": "x"})), 400, "name:")
		wantError(t, keep(e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "empty"})), 400, "value: must be set")
		wantError(t, keep(e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "big", "value": strings.Repeat("x", 16<<10+1)})), 400, "value: at most")
		r = keep(e.do("PUT", "/api/v1/secrets/kafka_pw", admin, map[string]any{"value": v2}))
		if wantStatus(t, r, 200); r.body["version"] != float64(2) {
			t.Fatalf("update: %s", r.raw)
		}
		wantError(t, keep(e.do("PUT", "/api/v1/secrets/nope", admin, map[string]any{"value": v2})), 404, "no such secret")
		// Engineers see names and metadata, and cannot write.
		r = keep(e.do("GET", "/api/v1/secrets", engineer, nil))
		if wantStatus(t, r, 200); !bytes.Contains(r.raw, []byte(`"kafka_pw"`)) {
			t.Fatalf("list: %s", r.raw)
		}
		keep(e.do("GET", "/api/v1/secrets/kafka_pw", engineer, nil))
		wantError(t, keep(e.do("PUT", "/api/v1/secrets/kafka_pw", engineer, map[string]any{"value": "x"})), 403, "secrets:manage")
		// The audit trail names the secret and what changed, not the value.
		audit := keep(e.do("GET", "/api/v1/audit?event_type=secret.", admin, nil))
		for _, want := range []string{"secret.create", "secret.update"} {
			if !bytes.Contains(audit.raw, []byte(want)) {
				t.Fatalf("no %s record: %s", want, audit.raw)
			}
		}
		keep(e.do("GET", "/api/v1/audit", admin, nil))
		wantStatus(t, keep(e.do("DELETE", "/api/v1/secrets/kafka_pw", admin, nil)), 204)
		wantError(t, keep(e.do("GET", "/api/v1/secrets/kafka_pw", admin, nil)), 404, "no such secret")

		// A second secret stays stored, so the database is searched for a
		// live ciphertext as well as for one that was replaced.
		v3 := secretValue(t, "opcua-pw")
		wantStatus(t, keep(e.do("POST", "/api/v1/secrets", admin, map[string]any{"name": "opcua_pw", "value": v3})), 201)
		db := e.databaseBytes(t)
		if !bytes.Contains(db, []byte("opcua_pw")) {
			t.Fatal("the database dump does not hold the secret's name: the search below would prove nothing")
		}
		for _, v := range []string{v1, v2, v3} {
			for i, a := range answers {
				if bytes.Contains(a, []byte(v)) {
					t.Fatalf("answer %d holds a value: %s", i, a)
				}
			}
			if strings.Contains(e.logs.String(), v) {
				t.Fatal("the log holds a value")
			}
			// pg_dump shows bytea as hex: search for both spellings.
			if bytes.Contains(db, []byte(v)) || bytes.Contains(db, []byte(hex.EncodeToString([]byte(v)))) {
				t.Fatalf("the database (%s) holds a value in plain text", map[bool]string{true: "SQLite", false: "PostgreSQL"}[dbURL == ""])
			}
		}
	})
}
