package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// CloudAdmin is the first admin every test cloud is bootstrapped with.
const (
	CloudAdminEmail    = "admin@example.com"
	CloudAdminPassword = "correct horse battery staple"
)

var (
	buildOnce sync.Once
	cloudBin  string
	buildErr  error
)

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CloudBinary builds bin/streamforge-cloud once per test process.
func CloudBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sf-cloud-bin-")
		if err != nil {
			buildErr = err
			return
		}
		cloudBin = filepath.Join(dir, "streamforge-cloud")
		cmd := exec.Command("go", "build", "-o", cloudBin, "./cloud/cmd/streamforge-cloud")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	if buildErr != nil {
		t.Fatalf("build streamforge-cloud: %v", buildErr)
	}
	return cloudBin
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// Cloud is a streamforge-cloud process serving on loopback.
type Cloud struct {
	t       testing.TB
	URL     string
	Addr    string
	DataDir string
	// GatewayAddr is the gateways' mTLS listener (StartCloudWithGateway).
	GatewayAddr string
	gateway     *Socket // held until the first Start hands it over
	env         []string
	cmd         *exec.Cmd
	stderr      *bytes.Buffer
}

// Socket is a listening socket on loopback that the test holds until a
// process it starts takes it over: its address can go into configuration
// written before the process starts (step-ca's webhook URL, agent.yaml),
// and no port is freed for another process to take meanwhile.
type Socket struct {
	Addr string
	ln   *net.TCPListener
}

// ListenSocket binds 127.0.0.1:0 and holds the socket until it is handed
// to a process (or the test ends).
func ListenSocket(t testing.TB) *Socket {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &Socket{Addr: ln.Addr().String(), ln: ln.(*net.TCPListener)}
}

// handOver returns the socket as a file for a child process, bound anew on
// addr when the test holds none (a restart), and closes the test's own
// copy: the child then holds the only one, so a stopped process refuses
// connections as a real one does.
func handOver(held *Socket, addr string) (*os.File, string, error) {
	var ln *net.TCPListener
	if held != nil {
		ln = held.ln
	} else {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", err
		}
		ln = l.(*net.TCPListener)
	}
	f, err := ln.File()
	_ = ln.Close() // f is a duplicate that stays listening
	return f, ln.Addr().String(), err
}

// StartCloud runs `streamforge-cloud serve` on SQLite in a temp data dir
// (plus env), with the CloudAdmin account, until the test ends.
func StartCloud(t testing.TB, env ...string) *Cloud {
	t.Helper()
	return startCloud(t, &Cloud{}, env)
}

// StartCloudWithGateway is StartCloud with the gateways' mTLS listener on
// gw, handed to the process as fd 4 (env must name STREAMFORGE_STEPCA_DIR).
func StartCloudWithGateway(t testing.TB, gw *Socket, env ...string) *Cloud {
	t.Helper()
	return startCloud(t, &Cloud{GatewayAddr: gw.Addr, gateway: gw}, append([]string{"STREAMFORGE_GATEWAY_LISTEN=fd:4"}, env...))
}

func startCloud(t testing.TB, c *Cloud, env []string) *Cloud {
	t.Helper()
	c.t, c.Addr, c.DataDir = t, "127.0.0.1:0", t.TempDir()
	c.env = append([]string{"STREAMFORGE_DATA_DIR=" + c.DataDir, "STREAMFORGE_LISTEN=fd:3",
		"STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=" + CloudAdminEmail, "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=" + CloudAdminPassword}, env...)
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Start (re)starts the process on the same addresses and data. The test
// binds the listening sockets and hands them to the process (the API as
// fd 3, the gateway listener as fd 4): no port is chosen, freed and then
// taken by the cloud, which another process could take first. The process
// holds the only copies, so a stopped cloud refuses connections as a real
// one does; a restart binds the ports again.
func (c *Cloud) Start() {
	c.t.Helper()
	sock, addr, err := handOver(nil, c.Addr)
	if err != nil {
		c.t.Fatalf("listen on %s for streamforge-cloud: %v", c.Addr, err)
	}
	defer sock.Close()
	c.Addr, c.URL = addr, "http://"+addr
	files := []*os.File{sock}
	if c.GatewayAddr != "" {
		gw, _, err := handOver(c.gateway, c.GatewayAddr)
		if err != nil {
			c.t.Fatalf("listen on %s for the gateway listener: %v", c.GatewayAddr, err)
		}
		defer gw.Close()
		c.gateway = nil // handed over: a restart binds the address again
		files = append(files, gw)
	}
	c.cmd = exec.Command(CloudBinary(c.t), "serve")
	c.cmd.Env = append(os.Environ(), c.env...)
	c.cmd.ExtraFiles = files
	c.stderr = &bytes.Buffer{}
	c.cmd.Stderr = c.stderr
	stdout, _ := c.cmd.StdoutPipe()
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
	}()
	ready := func() bool {
		res, err := http.Get(c.URL + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	if !Within(20*time.Second, ready) {
		c.t.Fatalf("streamforge-cloud did not become ready:\n%s", c.stderr.String())
	}
}

// Stop ends the process (SIGINT, then waits).
func (c *Cloud) Stop() {
	if c.cmd == nil || c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// Call sends a JSON request with an optional Bearer token and decodes the
// JSON answer into out (when not nil). It returns the status.
func (c *Cloud) Call(method, path, token string, body, out any) int {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// Login returns a user token.
func (c *Cloud) Login(email, password string) string {
	c.t.Helper()
	var out struct{ Token string }
	if st := c.Call("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &out); st != 200 {
		c.t.Fatalf("login %s: %d", email, st)
	}
	return out.Token
}

// Pid is the process's id (0 before Start).
func (c *Cloud) Pid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Log returns what the process logged so far.
func (c *Cloud) Log() string { return strings.TrimSpace(c.stderr.String()) }
