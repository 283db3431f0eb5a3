package testenv

import (
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

// StepCABinary returns the step-ca program: $STREAMFORGE_STEP_CA, or the
// copy in $HOME/.cache/streamforge/bin, installed there on first use with
// `go install github.com/smallstep/certificates/cmd/step-ca@v0.30.2`
// (CGO_ENABLED=0, about 40 s; it does not touch go.mod).
func StepCABinary(t testing.TB) string {
	t.Helper()
	return cachedTool(t, "STREAMFORGE_STEP_CA", filepath.Join("bin", "step-ca"), "step-ca "+StepCAVersion, func(cache string) *exec.Cmd {
		cmd := exec.Command("go", "install", "github.com/smallstep/certificates/cmd/step-ca@"+StepCAVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(cache, "bin"), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		return cmd
	})
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
	cmd := exec.Command(StepCABinary(t), config)
	logPath := startLogged(t, "step-ca", cmd)
	root, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Second}
	if !answersOK(c, "https://"+addr+"/health", 20*time.Second) {
		t.Fatalf("step-ca did not become healthy at %s within 20s", addr)
	}
	return &StepCA{logPath: logPath, cmd: cmd}
}
