package main_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/pki/attestca"
	"github.com/streamforge/streamforge/pki/stepca"
)

// build compiles streamforge-cloud once per test binary run.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "streamforge-cloud")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// serve starts `streamforge-cloud serve` on a port the kernel picks and
// returns the address it reported and the lines it printed on stdout
// until it was ready.
func serve(t *testing.T, bin string, env ...string) (string, []string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	return start(t, cmd)
}

var listeningRE = regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+) `)

// start runs a prepared serve command and waits until it is ready.
func start(t *testing.T, cmd *exec.Cmd) (string, []string) {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "correct horse") || strings.Contains(stderr.String(), "eyJ") {
			t.Errorf("a secret reached the log:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 32)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited: %v\n%s", got, stderr.String())
			}
			got = append(got, l)
			if m := listeningRE.FindStringSubmatch(l); m != nil {
				waitHTTP(t, "http://"+m[1]+"/readyz")
				return m[1], got
			}
		case <-deadline:
			t.Fatalf("serve not ready: %v\n%s", got, stderr.String())
		}
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func login(t *testing.T, addr, email, password string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	res, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	data, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(data, &m)
	return res.StatusCode, m
}

// TestFirstStartPrintsOneTimeAdmin: with no users and no configured
// password, serve prints a generated password once; it works, and a
// restart prints none (there is no default account).
func TestFirstStartPrintsOneTimeAdmin(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	addr, out := serve(t, bin, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=", "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=")
	text := strings.Join(out, "\n")
	m := regexp.MustCompile(`password: (\S{20,})`).FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "admin@streamforge.local") {
		t.Fatalf("no one-time credentials printed:\n%s", text)
	}
	if code, _ := login(t, addr, "admin@streamforge.local", m[1]); code != 200 {
		t.Fatalf("printed credentials refused: %d", code)
	}
	if code, _ := login(t, addr, "admin@streamforge.local", "admin"); code != 401 {
		t.Fatalf("weak default password accepted: %d", code)
	}
	if _, err := os.Stat(filepath.Join(data, "streamforge.db")); err != nil {
		t.Fatalf("SQLite database not under the data dir: %v", err)
	}
	// A second process on the same data: no new admin, no password printed.
	_, out2 := serve(t, bin, "STREAMFORGE_DATA_DIR="+data)
	if strings.Contains(strings.Join(out2, "\n"), "password") {
		t.Fatalf("restart printed credentials again: %v", out2)
	}
}

func TestBadConfigNamesTheSetting(t *testing.T) {
	bin := build(t)
	for _, c := range []struct{ env, want string }{
		{"STREAMFORGE_RATE_LIMIT=lots", "STREAMFORGE_RATE_LIMIT"},
		{"STREAMFORGE_TRUSTED_PROXIES=not-an-ip", "STREAMFORGE_TRUSTED_PROXIES"},
		{"STREAMFORGE_DATABASE_URL=mysql://x", "STREAMFORGE_DATABASE_URL"},
		{"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=short", "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD"},
	} {
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "STREAMFORGE_DATA_DIR="+t.TempDir(), c.env)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: err %v, output %q; want an error naming %s", c.env, err, out, c.want)
		}
	}
}

// TestServeOnAnInheritedSocket: with STREAMFORGE_LISTEN=fd:3 the server
// takes over the listening socket its parent handed down (what the test
// harness does, so that no port is freed and re-taken), and reports the
// socket's address; anything else at fd:N is refused with the setting named.
func TestServeOnAnInheritedSocket(t *testing.T) {
	bin := build(t)
	sock, want := heldSocket(t)
	cmd := exec.Command(bin, "serve", "--listen", "fd:3")
	cmd.Env = append(os.Environ(), "STREAMFORGE_DATA_DIR="+t.TempDir())
	cmd.ExtraFiles = []*os.File{sock}
	if addr, _ := start(t, cmd); addr != want {
		t.Fatalf("serving on %s, want the inherited %s", addr, want)
	}

	for _, bad := range []string{"fd:3", "fd:x", "fd:1"} {
		cmd := exec.Command(bin, "serve", "--listen", bad) // fd 3 not handed down: not a socket
		cmd.Env = append(os.Environ(), "STREAMFORGE_DATA_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "STREAMFORGE_LISTEN") {
			t.Errorf("--listen %s: err %v, output %q; want an error naming STREAMFORGE_LISTEN", bad, err, out)
		}
	}
}

// TestGatewayListenerOnPortZeroOrInheritedSocket: STREAMFORGE_GATEWAY_LISTEN
// takes port 0 (the kernel picks; serve prints the bound address) or fd:N
// (a socket the parent holds, as testenv.StartCloudWithGateway hands it
// down), and the gateways' mTLS listener, with step-ca's webhook
// certificate, answers at that address; anything else at fd:N is refused
// with the setting named.
func TestGatewayListenerOnPortZeroOrInheritedSocket(t *testing.T) {
	bin := build(t)
	pki := t.TempDir()
	ca, err := attestca.Init(filepath.Join(pki, "attestation-ca"))
	if err != nil {
		t.Fatal(err)
	}
	stepDir := filepath.Join(pki, "step-ca")
	layout, err := stepca.Init(stepca.InitOptions{Dir: stepDir, Address: "127.0.0.1:1", DNSNames: []string{"127.0.0.1"},
		AttestationRootsPEM: ca.CertificatePEM(), WebhookURL: "https://127.0.0.1:1/internal/step-ca/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	webhookCert, err := tls.LoadX509KeyPair(layout.WebhookCert, layout.WebhookKey)
	if err != nil {
		t.Fatal(err)
	}
	// served says whether addr presents the webhook certificate.
	served := func(addr string) bool {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the certificate is compared below
		if err != nil {
			t.Logf("dial the gateway listener at %s: %v", addr, err)
			return false
		}
		defer conn.Close()
		peer := conn.ConnectionState().PeerCertificates
		return len(peer) > 0 && bytes.Equal(peer[0].Raw, webhookCert.Certificate[0])
	}
	env := []string{"STREAMFORGE_DATA_DIR=" + t.TempDir(), "STREAMFORGE_STEPCA_DIR=" + stepDir}
	gatewayRE := regexp.MustCompile(`gateway listener on https://(127\.0\.0\.1:\d+)$`)
	reported := func(lines []string) string {
		for _, l := range lines {
			if m := gatewayRE.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		}
		t.Fatalf("no gateway listener line in %q", lines)
		return ""
	}

	t.Run("port-0", func(t *testing.T) {
		_, lines := serve(t, bin, append(env, "STREAMFORGE_GATEWAY_LISTEN=127.0.0.1:0")...)
		if addr := reported(lines); strings.HasSuffix(addr, ":0") || !served(addr) {
			t.Fatalf("the gateway listener is not at its reported %s", addr)
		}
	})
	t.Run("inherited-fd", func(t *testing.T) {
		sock, want := heldSocket(t)
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--gateway-listen", "fd:3")
		cmd.Env = append(os.Environ(), env...)
		cmd.ExtraFiles = []*os.File{sock}
		_, lines := start(t, cmd)
		if addr := reported(lines); addr != want || !served(addr) {
			t.Fatalf("gateway listener reported at %s, want the inherited %s serving", addr, want)
		}
	})
	t.Run("fail-not-a-socket", func(t *testing.T) {
		for _, bad := range []string{"fd:3", "fd:x", "fd:1"} {
			cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--gateway-listen", bad)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "STREAMFORGE_GATEWAY_LISTEN") {
				t.Errorf("--gateway-listen %s: err %v, output %q; want an error naming STREAMFORGE_GATEWAY_LISTEN", bad, err, out)
			}
		}
	})
}

// heldSocket is a listening socket on loopback as a file to hand down to
// a child process (closed when the test ends), and its address.
func heldSocket(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock, err := ln.(*net.TCPListener).File()
	_ = ln.Close() // sock is a duplicate that stays listening
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sock.Close() })
	return sock, ln.Addr().String()
}
