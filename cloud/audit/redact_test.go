package audit

import (
	"strings"
	"testing"

	"gorm.io/gorm"
)

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "new_password": true, "Password": true, "sasl_password": true,
		"client_secret": true, "refresh_token": true, "apiKey": true, "private_key": true,
		"credentials": true, "roles": false, "gateway_access": false, "poll_interval_ms": false, "disabled": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestSecretsAreStoredRedacted: a Changes entry for a password, and a
// secret nested in a config value, reach the database only as [redacted].
func TestSecretsAreStoredRedacted(t *testing.T) {
	type sink struct {
		Broker       string `json:"broker"`
		SASLPassword string `json:"sasl_password"`
	}
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		rec, err := Append(db, Event{EventType: "user.update", User: "admin@example.com", Changes: map[string]Change{
			"password": {Old: "hunter2-old-password", New: "correct horse battery"},
			"token":    {Old: nil, New: "eyJhbGciOi"},
			"roles":    {Old: []string{"Viewer"}, New: []string{"Admin"}},
			"sink":     {Old: nil, New: sink{Broker: "127.0.0.1:9092", SASLPassword: "s3cr3t-sasl"}},
			"sinks":    {Old: []any{map[string]any{"api_key": "k-123"}}, New: nil},
		}})
		if err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := db.Raw(`SELECT changes FROM audit_log WHERE seq = ?`, rec.Seq).Scan(&stored).Error; err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"hunter2", "correct horse", "eyJhbGciOi", "s3cr3t-sasl", "k-123"} {
			if strings.Contains(stored, secret) {
				t.Fatalf("secret %q stored: %s", secret, stored)
			}
		}
		for _, kept := range []string{`"password":{"old":"[redacted]","new":"[redacted]"}`, `"token":{"old":null,"new":"[redacted]"}`, `"Admin"`, `"127.0.0.1:9092"`} {
			if !strings.Contains(stored, kept) {
				t.Fatalf("stored changes lack %s: %s", kept, stored)
			}
		}
		if rec.Changes["password"].New != Redacted {
			t.Fatalf("returned record not redacted: %+v", rec.Changes)
		}
	})
}
