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
	env     []string
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
}

// FreeAddr returns a loopback address with a free port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartCloud runs `streamforge-cloud serve` on SQLite in a temp data dir
// (plus env), with the CloudAdmin account, until the test ends.
func StartCloud(t testing.TB, env ...string) *Cloud {
	t.Helper()
	c := &Cloud{t: t, Addr: FreeAddr(t), DataDir: t.TempDir()}
	c.URL = "http://" + c.Addr
	c.env = append([]string{"STREAMFORGE_DATA_DIR=" + c.DataDir, "STREAMFORGE_LISTEN=" + c.Addr,
		"STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=" + CloudAdminEmail, "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=" + CloudAdminPassword}, env...)
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Start (re)starts the process on the same address and data.
func (c *Cloud) Start() {
	c.t.Helper()
	c.cmd = exec.Command(CloudBinary(c.t), "serve")
	c.cmd.Env = append(os.Environ(), c.env...)
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
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(c.URL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("streamforge-cloud did not become ready:\n%s", c.stderr.String())
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
