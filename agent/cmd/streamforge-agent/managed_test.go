package main

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// startManaged runs the agent binary against the control plane, with its
// identity key inside a swtpm.
func startManaged(t *testing.T, bin, cfg string, cloud *testenv.Cloud, tpmPath, token string) *testenv.Agent {
	t.Helper()
	return testenv.StartAgent(t, testenv.AgentOptions{Argv: []string{bin}, Config: cfg, Args: []string{"--tpm", tpmPath},
		Env: managedEnv(cloud.URL, token)})
}

// managedEnv points the agent at its control plane as gateway gw-test.
func managedEnv(url, token string) []string {
	return []string{"CONTROL_PLANE_URL=" + url, "CONTROL_PLANE_GATEWAY_ID=gw-test", "CONTROL_PLANE_ENROLLMENT_TOKEN=" + token}
}

// eventuallyLimit is how long a managed agent test waits for a step of the
// lifecycle (enrollment, a heartbeat, a config applied).
const eventuallyLimit = time.Minute

var claimCodeRE = regexp.MustCompile(`id="claim-code"[^>]*>([^<]+)<`)

// statusClaimCode waits for the claim code on the agent's local status
// page, the one place it is shown (it is never logged).
func statusClaimCode(t *testing.T, a *testenv.Agent) string {
	t.Helper()
	var code string
	a.Eventually(t, eventuallyLimit, "the claim code on the status page", func() bool {
		if m := claimCodeRE.FindSubmatch(testenv.Get(t, "http://"+a.MetricsAddr()+"/")); m != nil {
			code = string(m[1])
		}
		return code != ""
	})
	return code
}

// enrolled reports whether the agent has logged its enrollment.
func enrolled(a *testenv.Agent) bool { return strings.Contains(a.Tail(), "msg=enrolled ") }

// TestManagedAgentLifecycle runs the real processes together: the control
// plane, the agent (identity key in a swtpm), the Modbus and OPC UA
// simulators and a Kafka-protocol broker. The agent enrolls and shows its
// claim code on its status page (never in its log); a technician claims it through the URL in the QR code on the
// agent's status page; the agent gets its token, sends heartbeats and
// applies deployed configs (restarting its data path); it rides out a
// control plane restart, keeps forwarding while disabled, and restarts on
// its last-known-good config while the control plane is down.
func TestManagedAgentLifecycle(t *testing.T) {
	bin := testenv.BuildAgent(t, nil)
	tpm := testenv.StartSwTPM(t)
	cloud := testenv.StartCloud(t, "STREAMFORGE_TPM_ROOTS_DIR="+tpm.CADir)
	admin := cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1, "site": "Plant"}, &tok)
	cloud.Call("POST", "/api/v1/users", admin, map[string]any{"email": "tech@example.com", "password": "Quartz-lantern-field-7",
		"roles": []string{"Engineer"}, "gateway_access": []string{"*"}}, nil)

	cfgPath, dataDir, _ := startDataPath(t)
	if err := appendFile(cfgPath, "control_plane: {poll_interval: 200ms, heartbeat_interval: 200ms}\n"); err != nil {
		t.Fatal(err)
	}

	agent := startManaged(t, bin, cfgPath, cloud, tpm.Path, tok.Token)
	code := statusClaimCode(t, agent)
	if strings.Contains(agent.Log(), code) || strings.Contains(agent.Log(), strings.ReplaceAll(code, "-", "")) {
		t.Fatalf("the claim code %s is in the agent's log", code)
	}
	// The claim code is a secret of the device: on disk only sealed to its TPM.
	statePath := filepath.Join(dataDir, "data", "controlplane", "controlplane.json")
	state, err := os.ReadFile(statePath)
	if fi, _ := os.Stat(statePath); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(string(state), "sealed_claim_code") ||
		strings.Contains(string(state), code) || strings.Contains(string(state), strings.ReplaceAll(code, "-", "")) {
		t.Fatalf("agent state (%v) keeps the claim code unsealed:\n%s", err, state)
	}
	// Restarted before its claim, the agent unseals the code and shows it again.
	agent.Stop(t)
	agent = startManaged(t, bin, cfgPath, cloud, tpm.Path, tok.Token)
	if again := statusClaimCode(t, agent); again != code {
		t.Fatalf("after a restart the status page shows claim code %s, not %s", again, code)
	}
	page := string(testenv.Get(t, "http://"+agent.MetricsAddr()+"/"))
	if !strings.Contains(page, code) {
		t.Fatalf("status page lacks claim code %s:\n%s", code, page)
	}
	claimURL, err := testenv.DecodeQR(testenv.Get(t, "http://"+agent.MetricsAddr()+"/claim-qr.png"))
	if err != nil {
		t.Fatalf("status page QR: %v", err)
	}
	u, err := url.Parse(claimURL)
	if err != nil || !strings.HasPrefix(claimURL, cloud.URL+"/claim?") || u.Query().Get("code") != code {
		t.Fatalf("QR code holds %q", claimURL)
	}
	tech := cloud.Login("tech@example.com", "Quartz-lantern-field-7")
	var claimed map[string]any
	if st := cloud.Call("POST", "/api/v1/gateways/claim", tech, map[string]string{"gateway_id": u.Query().Get("gateway"),
		"claim_code": u.Query().Get("code"), "site": "Offshore Rig Alpha"}, &claimed); st != 200 {
		t.Fatalf("claim: %d %v", st, claimed)
	}
	gateway := func() map[string]any {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g)
		return g
	}
	agent.Eventually(t, eventuallyLimit, "a heartbeat", func() bool { return gateway()["last_seen_at"] != nil })
	if g := gateway(); g["identity_kind"] != "tpm" || g["ek_verified"] != true {
		t.Fatalf("gateway not enrolled with a verified TPM: %v", g)
	}
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 50)

	deploy := func(logLevel string) {
		t.Helper()
		body := map[string]any{"config": map[string]any{"log_level": logLevel, "buffer": map[string]any{"max_bytes": "32MiB"}}}
		if st := cloud.Call("PUT", "/api/v1/gateways/gw-test/config", admin, body, nil); st != 200 {
			t.Fatalf("deploy: %d", st)
		}
	}
	deploy("info")
	agent.Eventually(t, eventuallyLimit, "config v1 applied", func() bool { return gateway()["applied_config_version"] == float64(1) })

	failedBeats := func() int { return strings.Count(agent.Log(), "heartbeat failed") }
	before := failedBeats()
	cloud.Stop()
	agent.Eventually(t, eventuallyLimit, "a heartbeat failing on the stopped control plane", func() bool { return failedBeats() > before })
	cloud.Start()
	admin = cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	deploy("debug")
	agent.Eventually(t, eventuallyLimit, "config v2 after the control plane restart", func() bool { return gateway()["applied_config_version"] == float64(2) })

	if st := cloud.Call("POST", "/api/v1/gateways/gw-test/disable", admin, nil, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	lastSeen := gateway()["last_seen_at"]
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 1)
	acked := agent.Metric("streamforge_forward_acked_records_total")
	waitMetric(t, agent, "streamforge_forward_acked_records_total", acked+50) // the data path goes on
	refusedFrom := failedBeats()
	agent.Eventually(t, eventuallyLimit, "three refused heartbeats", func() bool { return failedBeats() >= refusedFrom+3 })
	if after := gateway()["last_seen_at"]; after != lastSeen {
		t.Fatalf("disabled gateway still reports: %v -> %v", lastSeen, after)
	}
	agent.Stop(t)

	cloud.Stop()
	agent = startManaged(t, bin, cfgPath, cloud, tpm.Path, tok.Token)
	agent.Eventually(t, eventuallyLimit, "start on the last-known-good config", func() bool {
		return strings.Contains(agent.Log(), "running on last-known-good config") && strings.Contains(agent.Log(), "version=2")
	})
	waitMetric(t, agent, "streamforge_forward_acked_records_total", 20)
	agent.Stop(t)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(text)
	return err
}

// TestManagedAgentOverMTLS: the agent, approved, gets its AK certificate
// from the cloud's attestation CA, its TLS certificate from the real
// step-ca program (ACME device-attest-01, key inside the swtpm; step-ca asks
// the cloud's webhook), and then talks to the cloud's mTLS listener only.
// mtlsCloud is a control plane with its gateway (mTLS) listener, the
// attestation CA and the real step-ca program, for gateways in swtpms
// made by the same local CA as sw.
type mtlsCloud struct {
	cloud  *testenv.Cloud
	step   *testenv.StepCA
	layout *stepca.Layout
	gwAddr string
}

// startMTLSCloud starts it; certificates last lifetime (0: step-ca's
// default), and cloudEnv configures the cloud further.
func startMTLSCloud(t *testing.T, sw *testenv.SwTPM, lifetime time.Duration, cloudEnv ...string) mtlsCloud {
	t.Helper()
	pkiDir := t.TempDir()
	ca, err := attestca.Init(filepath.Join(pkiDir, "attestation-ca"))
	if err != nil {
		t.Fatal(err)
	}
	gw, caAddr := testenv.ListenSocket(t), testenv.FreeAddr(t) // step-ca can only be given a port
	opts := stepca.InitOptions{Dir: filepath.Join(pkiDir, "step-ca"), Address: caAddr,
		DNSNames: []string{"127.0.0.1"}, AttestationRootsPEM: ca.CertificatePEM(),
		WebhookURL: "https://" + gw.Addr + "/internal/step-ca/authorize"}
	if lifetime > 0 {
		opts.CertLifetime, opts.Backdate = lifetime, time.Second
	}
	layout, err := stepca.Init(opts)
	if err != nil {
		t.Fatal(err)
	}
	cloud := testenv.StartCloudWithGateway(t, gw, append([]string{"STREAMFORGE_TPM_ROOTS_DIR=" + sw.CADir, "STREAMFORGE_ATTESTATION_CA_DIR=" + filepath.Join(pkiDir, "attestation-ca"),
		"STREAMFORGE_STEPCA_DIR=" + filepath.Join(pkiDir, "step-ca")}, cloudEnv...)...)
	step := testenv.StartStepCA(t, layout.Config, caAddr, layout.RootCert)
	return mtlsCloud{cloud: cloud, step: step, layout: layout, gwAddr: gw.Addr}
}

// enrollmentToken issues a one-use enrollment token as the Admin.
func (m mtlsCloud) enrollmentToken(admin string) string {
	var tok struct{ Token string }
	m.cloud.Call("POST", "/api/v1/enrollment-tokens", admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok)
	return tok.Token
}

// useMTLS appends the control plane section that moves the agent to
// the mTLS listener once approved.
func (m mtlsCloud) useMTLS(t *testing.T, cfgPath string) {
	t.Helper()
	if err := appendFile(cfgPath, "control_plane:\n  poll_interval: 200ms\n  heartbeat_interval: 200ms\n  mtls:\n"+
		"    gateway_url: https://"+m.gwAddr+"\n    acme_directory: "+m.layout.ACMEDirectory+"\n    stepca_root: "+m.layout.RootCert+"\n"); err != nil {
		t.Fatal(err)
	}
}

// approveOverMTLS waits for agent's enrollment as gw-test, approves it and
// waits until it talks to the mTLS listener.
func (m mtlsCloud) approveOverMTLS(t *testing.T, agent *testenv.Agent, admin string) {
	t.Helper()
	agent.Eventually(t, eventuallyLimit, "enrollment", func() bool { return enrolled(agent) })
	if st := m.cloud.Call("POST", "/api/v1/gateways/gw-test/approve", admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	agent.Eventually(t, eventuallyLimit, "the switch to mTLS", func() bool { return strings.Contains(agent.Log(), "talking to the control plane over mTLS") })
}

// mtlsWorld is a managed agent that talks to the cloud over mTLS with a
// certificate from a real step-ca, its key in swtpm.
type mtlsWorld struct {
	cloud *testenv.Cloud
	step  *testenv.StepCA
	agent *testenv.Agent
	admin string
}

// startMTLSWorld enrolls and approves gw-test on an mtlsCloud and waits
// for its switch to mTLS.
func startMTLSWorld(t *testing.T, lifetime time.Duration, cloudEnv ...string) *mtlsWorld {
	t.Helper()
	bin := testenv.BuildAgent(t, nil)
	sw := testenv.StartSwTPM(t)
	m := startMTLSCloud(t, sw, lifetime, cloudEnv...)
	admin := m.cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	token := m.enrollmentToken(admin)
	cfgPath, _, _ := startDataPath(t)
	m.useMTLS(t, cfgPath)
	agent := startManaged(t, bin, cfgPath, m.cloud, sw.Path, token)
	m.approveOverMTLS(t, agent, admin)
	return &mtlsWorld{cloud: m.cloud, step: m.step, agent: agent, admin: admin}
}

func TestManagedAgentOverMTLS(t *testing.T) {
	w := startMTLSWorld(t, 0)
	cloud, step, agent, admin := w.cloud, w.step, w.agent, w.admin
	if st := cloud.Call("PUT", "/api/v1/gateways/gw-test/config", admin, map[string]any{"config": map[string]any{"log_level": "info"}}, nil); st != 200 {
		t.Fatalf("deploy: %d", st)
	}
	gateway := func() map[string]any {
		var g map[string]any
		cloud.Call("GET", "/api/v1/gateways/gw-test", admin, nil, &g)
		return g
	}
	agent.Eventually(t, eventuallyLimit, "config applied over mTLS", func() bool { return gateway()["applied_config_version"] == float64(1) })
	var audit struct{ Records []map[string]any }
	cloud.Call("GET", "/api/v1/audit?event_type=gateway.token.issue&resource_id=gw-test", admin, nil, &audit)
	byCert := false
	for _, r := range audit.Records {
		reason, _ := r["reason"].(string)
		byCert = byCert || strings.HasPrefix(reason, "proven by mTLS certificate")
	}
	if !byCert {
		t.Fatalf("no token proven by the certificate: %v\nstep-ca:\n%s", audit.Records, step.Log())
	}
	// Lines logged after the switch reach the cloud over the mTLS listener.
	agent.Eventually(t, eventuallyLimit, "log lines shipped over mTLS", func() bool {
		var p struct{ Lines []struct{ Message string } }
		cloud.Call("GET", "/api/v1/gateways/gw-test/logs?limit=1000", admin, nil, &p)
		for _, l := range p.Lines {
			if l.Message == "talking to the control plane over mTLS" {
				return true
			}
		}
		return false
	})
	agent.Stop(t)
}

// TestFailedRenewalRaisesAnAlarm: step-ca goes down while the gateway's
// certificate is still valid; at its renewal point the agent's renewal
// fails, its heartbeats (still over mTLS) carry the reason, and the cloud
// raises certificate_renewal_error for the gateway with that reason.
func TestFailedRenewalRaisesAnAlarm(t *testing.T) {
	w := startMTLSWorld(t, 20*time.Second, "STREAMFORGE_ALARM_RAISE_AFTER=200ms", "STREAMFORGE_ALARM_INTERVAL=200ms")
	w.step.Stop()
	var page struct {
		Alarms []struct{ Kind, Severity, Message string }
	}
	w.agent.Eventually(t, eventuallyLimit, "a certificate_renewal_error alarm", func() bool {
		w.cloud.Call("GET", "/api/v1/alarms?kind=certificate_renewal_error&state=open&gateway_id=gw-test", w.admin, nil, &page)
		return len(page.Alarms) == 1
	})
	if a := page.Alarms[0]; a.Severity != "major" || !strings.Contains(a.Message, "certificate renewal failed: renew gateway certificate") {
		t.Fatalf("alarm: %+v", a)
	}
	w.agent.Stop(t)
}
