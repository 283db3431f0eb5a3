package testenv

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var toolInstall sync.Mutex

// cachedTool returns $env when set, else the program at rel under
// $HOME/.cache/streamforge, running install(cache dir) first when it is
// not there yet. what names the tool in skip messages.
func cachedTool(t testing.TB, env, rel, what string, install func(cache string) *exec.Cmd) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		Missing(t, "no home directory for the %s cache: %v", what, err)
	}
	cache := filepath.Join(home, ".cache", "streamforge")
	path := filepath.Join(cache, rel)
	toolInstall.Lock()
	defer toolInstall.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if out, err := install(cache).CombinedOutput(); err != nil {
		Missing(t, "install %s: %v\n%s", what, err, out)
	}
	return path
}

// startLogged starts cmd with its output in a file, and kills it when the
// test ends (showing the output if the test failed). It returns the file.
func startLogged(t testing.TB, what string, cmd *exec.Cmd) string {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), what+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s log:\n%s", what, b)
			}
		}
	})
	return logf.Name()
}

// answersOK waits up to limit for url to answer 200 through c.
func answersOK(c *http.Client, url string, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
