package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
)

// approvedAgent starts the agent binary bin as gateway id against cloud and
// approves it once it has enrolled. Its local agent.yaml holds only what a
// pipeline may not set, and broker (the agent needs one to start before
// its first config). env is added to the agent's environment.
func approvedAgent(t *testing.T, bin string, cloud *testenv.Cloud, admin, id, broker string, env ...string) {
	t.Helper()
	var tok struct{ Token string }
	if st := cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok); st != 201 {
		t.Fatalf("enrollment token: %d", st)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.yaml")
	local := fmt.Sprintf("gateway_id: %s\ndata_dir: %s\nmetrics: {listen: \"127.0.0.1:0\"}\nkafka: {brokers: %q}\n"+
		"control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n", id, filepath.Join(dir, "data"), broker)
	if err := os.WriteFile(cfgPath, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfgPath, Args: []string{"--insecure-software-identity"},
		Env: append([]string{"CONTROL_PLANE_URL=" + cloud.URL, "CONTROL_PLANE_GATEWAY_ID=" + id, "CONTROL_PLANE_ENROLLMENT_TOKEN=" + tok.Token}, env...)})
	testenv.Eventually(t, time.Minute, "enrollment of "+id, func() bool {
		var g map[string]any
		return cloud.Call("GET", "/api/v1/gateways/"+id, admin, nil, &g) == 200 && g["status"] == "pending"
	})
	if st := cloud.Call("POST", "/api/v1/gateways/"+id+"/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve %s: %d", id, st)
	}
}
