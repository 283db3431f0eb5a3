package main_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailedStartCreatesNoAdmin: a start that fails on a setting (an
// address another program holds, TLS files or a directory that are not
// there) fails before it creates the first admin, so the password that is
// shown only once is shown by the start that works, not lost with one that
// could not serve.
func TestFailedStartCreatesNoAdmin(t *testing.T) {
	bin := build(t)
	env := func(data string) []string {
		return []string{"STREAMFORGE_DATA_DIR=" + data, "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=", "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL="}
	}
	var data string
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"fail-taken-address", []string{"--listen", held.Addr().String()}},
		{"fail-tls-files-missing", []string{"--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing}},
		{"fail-tpm-roots-missing", []string{"--listen", "127.0.0.1:0", "--tpm-roots-dir", missing}},
	} {
		data = t.TempDir() // a first start each time
		cmd := exec.Command(bin, append([]string{"serve"}, c.args...)...)
		cmd.Env = append(os.Environ(), env(data)...)
		out, err := cmd.Output()
		if err == nil {
			t.Fatalf("%s: serve did not fail", c.name)
		}
		if strings.Contains(string(out), "password") {
			t.Errorf("%s: serve printed the first admin's password, then failed:\n%s", c.name, out)
		}
	}
	_, lines := serve(t, bin, env(data)...)
	if !strings.Contains(strings.Join(lines, "\n"), "password: ") {
		t.Fatalf("the first start that serves printed no password: %v", lines)
	}
}
