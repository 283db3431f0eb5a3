package main_test

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTakenAddressCreatesNoAdmin: serve on an address another program
// holds fails before it creates the first admin, so the password that is
// shown only once is shown by the start that works, not lost with one that
// could not serve.
func TestTakenAddressCreatesNoAdmin(t *testing.T) {
	bin := build(t)
	data := t.TempDir()
	env := []string{"STREAMFORGE_DATA_DIR=" + data, "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=", "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL="}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cmd := exec.Command(bin, "serve", "--listen", held.Addr().String())
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err == nil {
		t.Fatal("serve on a taken address did not fail")
	}
	if strings.Contains(string(out), "password") {
		t.Fatalf("serve printed the first admin's password, then failed to listen:\n%s", out)
	}
	_, lines := serve(t, bin, env...)
	if !strings.Contains(strings.Join(lines, "\n"), "password: ") {
		t.Fatalf("the first start that serves printed no password: %v", lines)
	}
}
