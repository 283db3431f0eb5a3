package testenv

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SwTPM is a software TPM manufactured for one test, with an RSA EK and an
// EK certificate signed by its own local CA.
type SwTPM struct {
	// Path is the command socket as agent/tpm.Config.Path takes it.
	Path string
	// CADir holds the local CA's root and intermediate certificates (PEM):
	// the "TPM manufacturer roots" for this TPM's EK certificate.
	CADir string
	// ctrl is swtpm's control channel (a unix socket).
	ctrl string
}

// PowerCycle resets the TPM as a machine's power cycle does (swtpm's
// CMD_INIT on the control channel): transient objects and sessions are
// gone, and the next user must send TPM2_Startup (the Linux kernel does).
// A VM that is killed and booted again on the same swtpm needs it.
func (s *SwTPM) PowerCycle(t testing.TB) {
	t.Helper()
	c, err := net.Dial("unix", s.ctrl)
	if err != nil {
		t.Fatalf("swtpm control channel: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// CMD_INIT (2) with no init flags; the answer is a 4-byte TPM result.
	if _, err := c.Write([]byte{0, 0, 0, 2, 0, 0, 0, 0}); err != nil {
		t.Fatalf("swtpm CMD_INIT: %v", err)
	}
	res := make([]byte, 4)
	if _, err := io.ReadFull(c, res); err != nil {
		t.Fatalf("swtpm CMD_INIT: %v", err)
	}
	if rc := binary.BigEndian.Uint32(res); rc != 0 {
		t.Fatalf("swtpm CMD_INIT: TPM result 0x%x", rc)
	}
}

// StartSwTPM manufactures a TPM (swtpm_setup with an EK certificate,
// platform certificate and locked NV) and serves it on a unix socket until
// the test ends. Each test gets its own: swtpm has no resource manager, and
// handles left by one test would exhaust it for the next.
func StartSwTPM(t testing.TB) *SwTPM { return startSwTPM(t, false) }

// StartSwTPMTCP is StartSwTPM serving on a 127.0.0.1 TCP port.
func StartSwTPMTCP(t testing.TB) *SwTPM { return startSwTPM(t, true) }

func startSwTPM(t testing.TB, tcp bool) *SwTPM {
	t.Helper()
	for _, p := range []string{"swtpm", "swtpm_setup", "swtpm_localca"} {
		if _, err := exec.LookPath(p); err != nil {
			Missing(t, "%s not installed (Debian packages swtpm, swtpm-tools)", p)
		}
	}
	dir := t.TempDir()
	state, ca := filepath.Join(dir, "state"), filepath.Join(dir, "ca")
	for _, d := range []string{state, ca} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	localca := write("localca.conf", fmt.Sprintf("statedir = %[1]s\nsigningkey = %[1]s/signkey.pem\nissuercert = %[1]s/issuercert.pem\ncertserial = %[1]s/certserial\n", ca))
	opts := write("localca.options", "--platform-manufacturer StreamForge\n--platform-version 2.1\n--platform-model swtpm\n")
	setup := write("setup.conf", fmt.Sprintf("create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\nactive_pcr_banks = sha256\n", localca, opts))
	out, err := exec.Command("swtpm_setup", "--tpm2", "--tpmstate", state, "--config", setup,
		"--create-ek-cert", "--create-platform-cert", "--lock-nvram", "--overwrite").CombinedOutput()
	if err != nil {
		t.Fatalf("swtpm_setup: %v\n%s", err, out)
	}
	roots := filepath.Join(dir, "ek-roots")
	if err := os.Mkdir(roots, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"swtpm-localca-rootca-cert.pem", "issuercert.pem"} {
		b, err := os.ReadFile(filepath.Join(ca, f))
		if err != nil {
			t.Fatalf("swtpm local CA: %v", err)
		}
		if err := os.WriteFile(filepath.Join(roots, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "tpm.sock")
	server, path := "type=unixio,path="+sock, "unix:"+sock
	if tcp {
		addr := FreeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		server, path = "type=tcp,bindaddr=127.0.0.1,port="+port, "tcp:"+addr
	}
	ctrl := filepath.Join(dir, "ctrl.sock")
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
		"--server", server, "--ctrl", "type=unixio,path="+ctrl,
		"--flags", "startup-clear")
	logf, err := os.Create(filepath.Join(dir, "swtpm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	network, addr, _ := strings.Cut(path, ":")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial(network, addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("swtpm sockets did not appear within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &SwTPM{Path: path, CADir: roots, ctrl: ctrl}
}
