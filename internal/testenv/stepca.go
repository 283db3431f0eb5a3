package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// StepCAVersion is the step-ca release the tests and `make` use.
const StepCAVersion = "v0.30.2"

var stepCABuild sync.Mutex

// StepCABinary returns the step-ca program: $STREAMFORGE_STEP_CA, or the
// copy in $HOME/.cache/streamforge/bin, installed there on first use with
// `go install github.com/smallstep/certificates/cmd/step-ca@v0.30.2`
// (CGO_ENABLED=0, about 40 s; it does not touch go.mod).
func StepCABinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("STREAMFORGE_STEP_CA"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		Missing(t, "no home directory for the step-ca cache: %v", err)
	}
	bin := filepath.Join(home, ".cache", "streamforge", "bin")
	path := filepath.Join(bin, "step-ca")
	stepCABuild.Lock()
	defer stepCABuild.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("go", "install", "github.com/smallstep/certificates/cmd/step-ca@"+StepCAVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		Missing(t, "go install step-ca@%s: %v\n%s", StepCAVersion, err, out)
	}
	return path
}

// StepCA is a running step-ca.
type StepCA struct {
	logPath string
	cmd     *exec.Cmd
	stop    sync.Once
}

// Stop ends step-ca before the test does (a CA outage); the cleanup
// then has nothing left to stop.
func (s *StepCA) Stop() {
	s.stop.Do(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

// Log returns what step-ca has logged so far; it names reasons that its
// ACME answers leave out.
func (s *StepCA) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// StartStepCA runs step-ca with config until the test ends, and waits
// until it answers /health over TLS verified with rootFile.
func StartStepCA(t testing.TB, config, addr, rootFile string) *StepCA {
	t.Helper()
	bin := StepCABinary(t)
	logf, err := os.Create(filepath.Join(t.TempDir(), "step-ca.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start step-ca: %v", err)
	}
	s := &StepCA{logPath: logf.Name(), cmd: cmd}
	t.Cleanup(func() {
		s.Stop()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("step-ca log:\n%s", b)
			}
		}
	})
	root, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := c.Get("https://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("step-ca did not become healthy at %s within 20s", addr)
	return nil
}
