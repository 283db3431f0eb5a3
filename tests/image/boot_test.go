package image

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters/sim"
	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

const (
	gatewayID = "gw-image"
	tags      = 10
)

// enrolledRE is the agent's log line of its enrollment (the claim code
// itself is never logged: it is shown on the agent's status page only).
var enrolledRE = regexp.MustCompile(`msg=enrolled\b`)

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// host holds the services on the host the gateway talks to.
type host struct {
	tpm    *testenv.SwTPM
	cloud  *testenv.Cloud
	step   *testenv.StepCA
	broker *testenv.Broker
	sim    *sim.Modbus
	admin  string
	site   siteFiles
}

// startHost starts swtpm (the gateway's TPM), the control plane with its
// attestation CA and mTLS listener, step-ca, a Kafka-protocol broker and
// the Modbus simulator, all on 127.0.0.1, and writes the site files that
// point the gateway at them.
func startHost(t *testing.T) *host {
	t.Helper()
	sw := testenv.StartSwTPMTCP(t)
	pkiDir := t.TempDir()
	ca, err := attestca.Init(filepath.Join(pkiDir, "attestation-ca"))
	if err != nil {
		t.Fatal(err)
	}
	gw, caAddr := testenv.ListenSocket(t), testenv.FreeAddr(t) // step-ca can only be given a port
	gwAddr := gw.Addr
	layout, err := stepca.Init(stepca.InitOptions{Dir: filepath.Join(pkiDir, "step-ca"), Address: caAddr,
		DNSNames: []string{"127.0.0.1"}, AttestationRootsPEM: ca.CertificatePEM(),
		WebhookURL: "https://" + gwAddr + "/internal/step-ca/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	h := &host{tpm: sw}
	h.cloud = testenv.StartCloudWithGateway(t, gw, "STREAMFORGE_TPM_ROOTS_DIR="+sw.CADir, "STREAMFORGE_ATTESTATION_CA_DIR="+filepath.Join(pkiDir, "attestation-ca"),
		"STREAMFORGE_STEPCA_DIR="+filepath.Join(pkiDir, "step-ca"))
	h.step = testenv.StartStepCA(t, layout.Config, caAddr, layout.RootCert)
	h.broker = testenv.StartKfake(t, testenv.KafkaOpts{})
	if h.sim, err = sim.StartModbus("127.0.0.1:0", sim.Signals(tags), 20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.sim.Close() })
	h.admin = h.cloud.Login(testenv.CloudAdminEmail, testenv.CloudAdminPassword)
	var tok struct{ Token string }
	if st := h.cloud.Call("POST", "/api/v1/enrollment-tokens", h.admin, map[string]any{"expires_in": "1h", "max_uses": 1}, &tok); st != 201 && st != 200 {
		t.Fatalf("enrollment token: %d", st)
	}
	root, err := os.ReadFile(layout.RootCert)
	if err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, `gateway_id: %s
data_dir: /data/streamforge
log_level: info
buffer: {max_bytes: 32MiB}
kafka: {brokers: "%s", linger: 5ms, flush_timeout: 2s, retry_backoff: 500ms, delivery_timeout: 5s}
metrics: {listen: "0.0.0.0:%s"}
control_plane:
  poll_interval: 1s
  heartbeat_interval: 1s
  mtls:
    gateway_url: https://%s
    acme_directory: %s
    stepca_root: /etc/streamforge/stepca-root.pem
adapters:
  - type: modbus
    name: line1
    devices:
      - name: plc1
        tcp: %s
        timeout: 1s
        poll_groups: [{name: fast, interval: 100ms, always: true}]
        tags:
`, gatewayID, h.broker.Addr, guestMetr, gwAddr, layout.ACMEDirectory, h.sim.Addr())
	for i := range tags {
		fmt.Fprintf(&y, "          - {name: s%03d, register: holding_register, address: %d, type: float32, poll_group: fast}\n", i, 2*i)
	}
	h.site = siteFiles{
		agentYAML: y.String(),
		agentEnv: fmt.Sprintf("CONTROL_PLANE_URL=%s\nCONTROL_PLANE_GATEWAY_ID=%s\nCONTROL_PLANE_ENROLLMENT_TOKEN=%s\n",
			h.cloud.URL, gatewayID, tok.Token),
		stepcaRoot:   root,
		forwardPorts: []string{port(h.cloud.Addr), port(gwAddr), port(caAddr), port(h.broker.Addr), port(h.sim.Addr())},
		tpmPort:      port(strings.TrimPrefix(sw.Path, "tcp:")),
	}
	return h
}

// boot powers the gateway on: its TPM is reset as a power cycle resets a
// real one (a VM killed by a power cut left objects in the swtpm), then
// qemu starts.
func (h *host) boot(t *testing.T, cfg vmConfig) *vm {
	t.Helper()
	h.tpm.PowerCycle(t)
	return boot(t, cfg)
}

func (h *host) gateway() map[string]any {
	var g map[string]any
	h.cloud.Call("GET", "/api/v1/gateways/"+gatewayID, h.admin, nil, &g)
	return g
}

// records reads the telemetry topic until done or timeout.
func (h *host) records(t *testing.T, timeout time.Duration, done func([]kafkatest.Record) bool) []kafkatest.Record {
	t.Helper()
	recs, _ := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: h.broker.Addr}, "telemetry.raw", timeout, done)
	return recs
}

// TestGatewaySystemUnderQemu boots the gateway system (the Buildroot tree's
// overlay, init service, users, permissions and disk layout, with Debian's
// arm64 kernel and busybox and the static musl agent) under
// qemu-system-aarch64 with a swtpm as its TPM. The agent, started by
// BusyBox init as user streamforge, enrolls with the control plane on the
// host, is approved, gets its mTLS certificate from step-ca through its TPM
// and forwards the simulator's readings to the broker. Then: the root is
// read-only and the data partition the only writable disk; no secret is
// world-readable; init restarts the agent after SIGKILL; the guest's clock
// jumping hours forward and back loses no reading and stops no heartbeat
// (checkClockJumps); and a power cut in the middle of ingest loses no
// reading.
func TestGatewaySystemUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("boots an arm64 system under TCG emulation (minutes)")
	}
	tl := findTools(t)
	h := startHost(t)
	dir := t.TempDir()
	agentBin, bridgeBin := buildBinaries(t, dir)
	disk := buildDisk(t, tl, dir, agentBin, bridgeBin, h.site)
	initrd := buildInitramfs(t, tl, dir)
	cfg := vmConfig{kernel: tl.kernel, initrd: initrd, disk: disk, forwardPorts: h.site.forwardPorts, tpmPort: h.site.tpmPort}
	logSizes(t, agentBin, disk)

	v := h.boot(t, cfg)
	// The data path does not wait for the control plane: the first reading
	// may reach Kafka before the enrollment is done.
	firstReading := make(chan time.Duration, 1)
	go func() {
		recs, _ := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: h.broker.Addr}, "telemetry.raw", 5*time.Minute,
			func(r []kafkatest.Record) bool { return len(r) > 0 })
		if len(recs) > 0 {
			firstReading <- time.Since(v.started)
		}
		close(firstReading)
	}()
	v.waitFor(t, "the enrollment on the console", 5*time.Minute, func() bool { return enrolledRE.MatchString(v.consoleText()) })
	enrolled := time.Since(v.started)
	if st := h.cloud.Call("POST", "/api/v1/gateways/"+gatewayID+"/approve", h.admin, nil, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	v.waitFor(t, "the switch to mTLS (certificate from step-ca)", 3*time.Minute, func() bool {
		return strings.Contains(v.consoleText(), "talking to the control plane over mTLS")
	})
	mtls := time.Since(v.started)
	first, ok := <-firstReading
	if !ok {
		t.Fatal("no reading reached Kafka")
	}
	t.Logf("from qemu start: first reading in Kafka %s, enrolled %s, mTLS certificate %s",
		first.Round(100*time.Millisecond), enrolled.Round(100*time.Millisecond), mtls.Round(100*time.Millisecond))
	if g := h.gateway(); g["identity_kind"] != "tpm" || g["ek_verified"] != true {
		t.Fatalf("gateway not enrolled with a verified TPM: %v", g)
	}
	if st := h.cloud.Call("PUT", "/api/v1/gateways/"+gatewayID+"/config", h.admin, map[string]any{"config": map[string]any{"log_level": "info"}}, nil); st != 200 {
		t.Fatalf("deploy: %d", st)
	}
	v.waitFor(t, "config applied over mTLS", 2*time.Minute, func() bool { return h.gateway()["applied_config_version"] == float64(1) })
	var audit struct{ Records []map[string]any }
	h.cloud.Call("GET", "/api/v1/audit?event_type=gateway.token.issue&resource_id="+gatewayID, h.admin, nil, &audit)
	byCert := false
	for _, r := range audit.Records {
		reason, _ := r["reason"].(string)
		byCert = byCert || strings.HasPrefix(reason, "proven by mTLS certificate")
	}
	if !byCert {
		t.Fatalf("no token proven by the TPM-held certificate: %v\nstep-ca:\n%s", audit.Records, h.step.Log())
	}
	v.waitFor(t, "the guest command endpoint", time.Minute, v.reachable)

	t.Run("read-only root, data partition the only writable disk", func(t *testing.T) { checkWritable(t, v) })
	t.Run("agent unprivileged, no secret world-readable", func(t *testing.T) { checkPermissions(t, v) })
	t.Run("init restarts the killed agent", func(t *testing.T) { checkRestart(t, v) })
	t.Run("guest clock jumps hours forward and back", func(t *testing.T) { checkClockJumps(t, h, v) })
	t.Run("power cut during ingest loses nothing", func(t *testing.T) { checkPowerCut(t, h, v, cfg) })
}

func logSizes(t *testing.T, agentBin, disk string) {
	for _, f := range []string{agentBin, disk, filepath.Join(filepath.Dir(disk), "rootfs.ext4")} {
		if st, err := os.Stat(f); err == nil {
			t.Logf("%s: %.1f MiB", filepath.Base(f), float64(st.Size())/(1<<20))
		}
	}
}

func checkWritable(t *testing.T, v *vm) {
	df, _ := v.sh(t, "df -k / /data")
	t.Logf("space on the booted system:\n%s", df)
	mounts, _ := v.sh(t, "cat /proc/mounts")
	sawData := false
	for line := range strings.Lines(mounts) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "/dev/") {
			continue
		}
		rw := strings.HasPrefix(f[3], "rw")
		switch {
		case f[1] == "/data":
			sawData = rw
		case rw:
			t.Errorf("%s mounted read-write on %s; only /data may be", f[0], f[1])
		}
	}
	if !sawData {
		t.Errorf("data partition not mounted read-write on /data:\n%s", mounts)
	}
	if !strings.Contains(mounts, "/dev/root / ext4 ro") && !strings.Contains(mounts, "/dev/vda1 / ext4 ro") {
		t.Errorf("root not mounted read-only:\n%s", mounts)
	}
	if out, code := v.sh(t, "touch /etc/probe"); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("writing to the root filesystem: exit %d %q", code, out)
	}
	if out, code := v.sh(t, "touch /data/probe && rm /data/probe"); code != 0 {
		t.Errorf("writing to /data: exit %d %q", code, out)
	}
}

func checkPermissions(t *testing.T, v *vm) {
	out, _ := v.sh(t, `pid=$(pidof streamforge-agent); grep -E '^(Uid|Gid|Groups):' /proc/$pid/status; grep -E '^(streamforge|tpm):' /etc/group; ls -ln /dev/tpmrm0`)
	t.Logf("agent process and TPM device:\n%s", out)
	for _, want := range []string{"Uid:\t" + agentUID + "\t" + agentUID, "Gid:\t" + agentUID + "\t" + agentUID} {
		if !strings.Contains(out, want) {
			t.Errorf("agent does not run as user streamforge (%s):\n%s", want, out)
		}
	}
	if dev, _ := v.sh(t, "stat -c '%a %U %G' /dev/tpmrm0"); strings.TrimSpace(dev) != "660 root tpm" {
		t.Errorf("/dev/tpmrm0 is %q, want 660 root tpm", dev)
	}
	files, _ := v.sh(t, "find /data /etc/streamforge -type f | xargs ls -ln")
	t.Logf("files under /data and /etc/streamforge:\n%s", files)
	for _, want := range []string{"/data/streamforge/identity/", "/data/streamforge/buffer.db", "/etc/streamforge/agent.env"} {
		if !strings.Contains(files, want) {
			t.Errorf("%s missing from the listing", want)
		}
	}
	if out, _ := v.sh(t, "find /data /etc/streamforge -perm -o+r -type f; find / -xdev -type f -perm -o+r \\( -name '*key*' -o -name '*.blob' -o -name '*token*' -o -name '*.env' \\)"); strings.TrimSpace(out) != "" {
		t.Errorf("world-readable secret or data files:\n%s", out)
	}
	if out, _ := v.sh(t, "stat -c '%a %U' /data/streamforge"); strings.TrimSpace(out) != "700 streamforge" {
		t.Errorf("/data/streamforge is %q, want 700 streamforge", out)
	}
}

func checkRestart(t *testing.T, v *vm) {
	restartAgent(t, v)
	// The new process's counter starts at zero: any count is its own.
	v.waitFor(t, "readings forwarded by the restarted agent", 3*time.Minute, func() bool {
		return v.metric("streamforge_forward_acked_records_total") > 0
	})
}

// restartAgent kills the agent with SIGKILL and waits for init to start a
// new one.
func restartAgent(t *testing.T, v *vm) {
	t.Helper()
	old, _ := v.sh(t, "pidof streamforge-agent")
	old = strings.TrimSpace(old)
	if old == "" {
		t.Fatal("agent not running")
	}
	if out, code := v.sh(t, "kill -9 "+old); code != 0 {
		t.Fatalf("kill: %s", out)
	}
	v.waitFor(t, "a new agent process", 2*time.Minute, func() bool {
		pid, _ := v.sh(t, "pidof streamforge-agent")
		pid = strings.TrimSpace(pid)
		return pid != "" && pid != old
	})
}

func checkPowerCut(t *testing.T, h *host, v *vm, cfg vmConfig) {
	v.waitFor(t, "ingest in progress", 2*time.Minute, func() bool { return v.metric("streamforge_forward_acked_records_total") > 50 })
	// With the broker stalled, readings pile up in the buffer only: the
	// power cut must not lose them.
	h.broker.Pause()
	var buffered float64
	v.waitFor(t, "readings held in the buffer", 2*time.Minute, func() bool {
		buffered = v.metric("streamforge_buffer_records")
		return buffered >= 100
	})
	v.powerCut()
	h.broker.Resume()
	t.Logf("power cut during ingest with %.0f readings in the buffer only", buffered)

	v2 := h.boot(t, cfg)
	v2.waitFor(t, "the agent forwarding after the power cut", 5*time.Minute, func() bool {
		return v2.metric("streamforge_forward_acked_records_total") > 20
	})
	_ = h.sim.Close() // no new readings from here on
	v2.waitFor(t, "the buffer drained", 3*time.Minute, func() bool { return v2.metric("streamforge_buffer_records") == 0 })
	v2.powerCut()

	recs := h.records(t, 15*time.Second, func([]kafkatest.Record) bool { return false })
	buf := extractBuffer(t, cfg.disk)
	want, left, err := kafkatest.BufferTail(buf, recs)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := kafkatest.Check(append(recs, left...), want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Streams != tags {
		t.Errorf("%d streams, want %d", rep.Streams, tags)
	}
	t.Logf("after a power cut: %d streams, %d readings, none missing, %d duplicates (revealed by seq), %d still buffered",
		rep.Streams, rep.Unique, rep.Duplicates, len(left))
}
