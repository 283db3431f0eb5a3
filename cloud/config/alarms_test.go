package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAlarmSettings: defaults load; every bad alarm setting is refused
// with an error naming it; the webhook secret comes from its file and is
// never part of an error.
func TestAlarmSettings(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-s3cret-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // "" = loads
	}{
		{"ok-defaults", nil, ""},
		{"ok-webhook-with-secret-file", []string{"--alert-webhook-url", "http://127.0.0.1:9/hook", "--alert-webhook-secret-file", secretFile}, ""},
		{"fail-interval", []string{"--alarm-interval", "soon"}, "STREAMFORGE_ALARM_INTERVAL"},
		{"fail-interval-busy-loop", []string{"--alarm-interval", "1ns"}, "STREAMFORGE_ALARM_INTERVAL"},
		{"fail-negative-hold-off", []string{"--alarm-clear-after", "-1s"}, "STREAMFORGE_ALARM_CLEAR_AFTER"},
		{"fail-zero-offline", []string{"--alarm-offline-intervals", "0"}, "STREAMFORGE_ALARM_OFFLINE_INTERVALS"},
		{"fail-offline-period-overflows", []string{"--alarm-heartbeat-interval", "2000000h", "--alarm-offline-intervals", "5"}, "STREAMFORGE_ALARM_OFFLINE_INTERVALS"},
		{"fail-login-failures", []string{"--alert-login-failures", "many"}, "STREAMFORGE_ALERT_LOGIN_FAILURES"},
		{"fail-webhook-without-secret", []string{"--alert-webhook-url", "http://127.0.0.1:9/hook"}, "STREAMFORGE_ALERT_WEBHOOK_SECRET"},
		{"fail-secret-file-missing", []string{"--alert-webhook-secret-file", secretFile + ".gone"}, "STREAMFORGE_ALERT_WEBHOOK_SECRET_FILE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(append([]string{"--data-dir", t.TempDir()}, c.args...))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Alarms.Interval != 15*time.Second || cfg.Alarms.OfflineIntervals != 3 {
					t.Fatalf("defaults: %+v", cfg.Alarms)
				}
				if cfg.Alarms.WebhookURL != "" && string(cfg.Alarms.WebhookSecret) != "s3cret-s3cret-s3cret" {
					t.Fatalf("secret from file: %q", cfg.Alarms.WebhookSecret)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("err %v, want one naming %s (and no secret)", err, c.want)
			}
		})
	}
}
