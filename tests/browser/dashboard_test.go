package browser

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/testenv"
)

// screenshotDir is where the browser tests save their screenshots (test
// artifacts): STREAMFORGE_SCREENSHOT_DIR, or a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("STREAMFORGE_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// journey runs dashboard.mjs in one MODE; onLine sees each line it prints.
func journey(t testing.TB, dir string, env []string, onLine func(string)) string {
	t.Helper()
	cmd := exec.Command("node", "dashboard.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dashboard journey %v: %v\n%s%s", env[0], err, all.String(), stderr.String())
	}
	return all.String()
}

// agentProcess is the real agent binary with its identity key in a swtpm,
// reading a simulated PLC into a Kafka-protocol broker.
type agentProcess struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func (a *agentProcess) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.Write(p)
}

func (a *agentProcess) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streamforge-agent")
	cmd := exec.Command("go", "build", "-o", bin, "./agent/cmd/streamforge-agent")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the agent: %v\n%s", err, out)
	}
	return bin
}

func startAgent(t *testing.T, bin, cloudURL, gatewayID, token, tpmPath string) *agentProcess {
	t.Helper()
	mb, err := sim.StartModbus("127.0.0.1:0", sim.Signals(8), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	broker := testenv.StartKfake(t, testenv.KafkaOpts{})
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway_id: %s
data_dir: %s
buffer: {max_bytes: 64MiB}
kafka: {brokers: "%s", linger: 5ms}
metrics: {listen: "127.0.0.1:0"}
control_plane: {poll_interval: 500ms, heartbeat_interval: 1s}
adapters:
  - type: modbus
    name: line1
    devices:
      - name: plc1
        tcp: %s
        poll_groups: [{name: fast, interval: 100ms, always: true}]
        tags:
          - {name: temperature, register: holding_register, address: 0, type: float32, poll_group: fast}
          - {name: counter, register: holding_register, address: 2, type: uint32, poll_group: fast}
`, gatewayID, filepath.Join(dir, "data"), broker.Addr, mb.Addr())
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &agentProcess{cmd: exec.Command(bin, "run", "--config", path, "--tpm", tpmPath)}
	a.cmd.Env = append(os.Environ(), "CONTROL_PLANE_URL="+cloudURL, "CONTROL_PLANE_GATEWAY_ID="+gatewayID, "CONTROL_PLANE_ENROLLMENT_TOKEN="+token)
	a.cmd.Stdout, a.cmd.Stderr = a, a
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = a.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a)
		}
	})
	return a
}

// TestDashboardJourneys drives the dashboard with real processes: the
// cloud, an agent whose identity key is in a swtpm, a simulated PLC and a
// Kafka-protocol broker.
//
//   - admin: logs in, creates an enrollment token, the agent enrolls with
//     it, the pending gateway shows its verified EK, the admin approves it,
//     the detail plots its heartbeats and shows the agent's log lines
//     (filtered by level), the admin disables it, every event is
//     on the audit page (filter, CSV, reports) and the chain verifies; every
//     page is scanned by axe-core and photographed at 1280 and 390 px;
//   - viewer: sees everything read-only, is offered no admin control nor
//     the gateway logs, and the API refuses the admin calls (and the logs)
//     the viewer tries directly;
//   - sessions: a cookie request without the CSRF token is refused, a
//     session that ended returns the UI to the login page with a message,
//     and the UI refreshes its session before it expires.
func TestDashboardJourneys(t *testing.T) {
	dir := requireBrowser(t)
	shots := screenshotDir(t)
	tpm := testenv.StartSwTPM(t)
	agentBin := buildAgent(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_TPM_ROOTS_DIR="+tpm.CADir)
	const gw = "gw-dash-01"

	t.Run("admin", func(t *testing.T) {
		var agent *agentProcess
		out := journey(t, dir, []string{"MODE=admin", "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail,
			"PASSWORD=" + testenv.CloudAdminPassword, "SHOTS=" + shots, "GATEWAY=" + gw}, func(line string) {
			if tok, ok := strings.CutPrefix(line, "TOKEN "); ok {
				agent = startAgent(t, agentBin, cloud.URL, gw, tok, tpm.Path)
			}
		})
		if agent == nil || !strings.Contains(out, "VERIFY The chain verifies") || !strings.Contains(out, "LOGS ") || !strings.Contains(out, "OK admin") {
			t.Fatalf("admin journey:\n%s", out)
		}
		var g map[string]any
		admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
		cloud.Call("GET", "/api/v1/gateways/"+gw, admin, nil, &g)
		if g["status"] != "disabled" || g["identity_kind"] != "tpm" || g["ek_verified"] != true || g["approved_by"] != testenv.CloudAdminEmail {
			t.Fatalf("after the admin journey: %v", g)
		}
		for _, name := range []string{"overview", "gateways", "gateway-detail", "review", "tokens", "users", "audit", "account"} {
			for _, w := range []string{"1280", "390"} {
				if st, err := os.Stat(filepath.Join(shots, name+"-"+w+".png")); err != nil || st.Size() == 0 {
					t.Errorf("no screenshot of %s at %s px: %v", name, w, err)
				}
			}
		}
	})

	t.Run("viewer", func(t *testing.T) {
		admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
		if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "viewer@example.com", "password": "Cobalt-meadow-lantern-42",
			"roles": []string{"Viewer"}, "gateway_access": []string{"*"}}, nil); st != 201 {
			t.Fatalf("create viewer: %d", st)
		}
		out := journey(t, dir, []string{"MODE=viewer", "BASE=" + cloud.URL, "EMAIL=viewer@example.com", "PASSWORD=Cobalt-meadow-lantern-42",
			"SHOTS=" + shots, "GATEWAY=" + gw}, nil)
		if !strings.Contains(out, "OK viewer") {
			t.Fatalf("viewer journey:\n%s", out)
		}
	})

	// keyboard: every form filled and sent with the keyboard alone, at
	// desktop and phone width, each by an Admin of its own (the journey
	// changes its password).
	t.Run("keyboard", func(t *testing.T) {
		admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
		for _, vp := range []string{"desktop", "phone"} {
			email, pw, next := "kb-"+vp+"@example.com", "Saffron-harbour-kettle-31", "Velvet-orchard-compass-58"
			if st := cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": email, "password": pw,
				"roles": []string{"Admin"}, "gateway_access": []string{"*"}}, nil); st != 201 {
				t.Fatalf("create %s: %d", email, st)
			}
			out := journey(t, dir, []string{"MODE=keyboard", "BASE=" + cloud.URL, "EMAIL=" + email, "PASSWORD=" + pw,
				"NEW_PASSWORD=" + next, "VIEWPORT=" + vp}, nil)
			if !strings.Contains(out, "KEYBOARD ") || !strings.Contains(out, "OK keyboard") {
				t.Fatalf("keyboard journey at %s width:\n%s", vp, out)
			}
			// The server agrees: the new password works, the old one not.
			if st := cloud.Call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": pw}, nil); st != 401 {
				t.Errorf("old password after the change: HTTP %d, want 401", st)
			}
		}
	})

	t.Run("sessions", func(t *testing.T) {
		out := journey(t, dir, []string{"MODE=sessions", "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail,
			"PASSWORD=" + testenv.CloudAdminPassword, "SHOTS=" + shots}, nil)
		if !strings.Contains(out, "EXPIRED Your session has ended") || !strings.Contains(out, "REFRESHED 200") || !strings.Contains(out, "OK sessions") {
			t.Fatalf("sessions journey:\n%s", out)
		}
	})
}
