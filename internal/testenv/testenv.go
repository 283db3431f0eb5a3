// Package testenv starts and finds the real parts that integration tests use
// (PostgreSQL, swtpm, step-ca, Kafka brokers, protocol peers, and our own
// agent and cloud processes), and waits on conditions for them. Each helper
// either provides the part or skips the test with a clear message; when
// STREAMFORGE_REQUIRE_SERVICES=1 (set by `make test`) a missing part fails the
// test instead, so CI cannot pass by skipping.
package testenv

import (
	"os"
	"testing"
)

// Missing skips t, or fails it when services are required.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("STREAMFORGE_REQUIRE_SERVICES") == "1" {
		t.Fatalf("required test service missing: "+format, args...)
	}
	t.Skipf("test service missing (run `make test` to start it): "+format, args...)
}
