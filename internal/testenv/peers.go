package testenv

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Independent protocol peers for the adapter tests (tests/peers).
//
// The libmodbus server (tests/peers/modbus_server.c) serves:
//   - holding registers 0..11: uint16 0x1234; int32 -2 (ABCD); float32 1.5
//     (CDAB); float64 -2.25 (DCBA); string "PUMP1" (6 bytes);
//   - input registers 0..1: uint32 0x12345678 (CDAB);
//   - coils 0 and 2 set; discrete input 1 set.

// Mbpoll returns the path of the mbpoll Modbus client.
func Mbpoll(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("mbpoll")
	if err != nil {
		Missing(t, "mbpoll (Debian package mbpoll)")
	}
	return p
}

// StartLibmodbusServer compiles tests/peers/modbus_server.c against
// libmodbus and runs it on a loopback port of its own choosing (reported on
// its stdout) until the test ends; it returns the address.
func StartLibmodbusServer(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/include/modbus/modbus.h"); err != nil {
		Missing(t, "libmodbus headers (Debian package libmodbus-dev)")
	}
	bin := filepath.Join(t.TempDir(), "modbus_server")
	src := filepath.Join(RepoRoot(), "tests", "peers", "modbus_server.c")
	if out, err := exec.Command("gcc", "-O2", "-o", bin, src, "-lmodbus").CombinedOutput(); err != nil {
		t.Fatalf("compile %s: %v\n%s", src, err, out)
	}
	// Port 0: the server binds a port the kernel picks and reports it.
	lines := startPeer(t, "listening ", exec.Command(bin, "0"))
	return "127.0.0.1:" + strings.TrimPrefix(lines[len(lines)-1], "listening ")
}

// SerialPair links two pseudo-terminals with socat and returns their paths.
func SerialPair(t testing.TB) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		Missing(t, "socat (Debian package socat)")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "ttyA"), filepath.Join(dir, "ttyB")
	cmd := exec.Command("socat", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := cmd.Start(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		_, ea := os.Stat(a)
		_, eb := os.Stat(b)
		if ea == nil && eb == nil {
			return a, b
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("socat did not create the pty pair")
	return "", ""
}

// NodeOPCUA is a running node-opcua-server (tests/peers/opcua_server.mjs).
type NodeOPCUA struct {
	Endpoint    string
	Certificate string // the server's certificate file, to trust
	cmd         *exec.Cmd
}

// StallSubscriptions stops every subscription the server has now from
// publishing (no data, no keep-alives); sessions and reads keep working.
func (n NodeOPCUA) StallSubscriptions(t testing.TB) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatalf("stall node-opcua subscriptions: %v", err)
	}
}

// StartNodeOPCUA runs node-opcua-server on a free loopback port; password is
// the one user's ("operator") password. It needs `npm install --prefix
// tests/peers` (make opcua-peer).
func StartNodeOPCUA(t testing.TB, password string) NodeOPCUA {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "tests", "peers")
	if _, err := exec.LookPath("node"); err != nil {
		Missing(t, "node (Debian package nodejs)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-opcua-server")); err != nil {
		Missing(t, "node-opcua-server: run `make opcua-peer` (npm install --prefix tests/peers)")
	}
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	cmd := exec.Command("node", filepath.Join(dir, "opcua_server.mjs"), port, t.TempDir())
	cmd.Env = append(os.Environ(), "OPCUA_PEER_PASSWORD="+password)
	lines := startPeer(t, "listening", cmd)
	n := NodeOPCUA{cmd: cmd}
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "certificate "); ok {
			n.Certificate = v
		}
		if v, ok := strings.CutPrefix(l, "listening "); ok {
			n.Endpoint = v
		}
	}
	return n
}

// startPeer starts cmd, waits for a stdout line starting with ready and
// returns the lines read so far; the process is killed at cleanup.
func startPeer(t testing.TB, ready string, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), ready) {
				got <- lines
				io.Copy(io.Discard, out)
				return
			}
		}
		close(got)
	}()
	select {
	case lines, ok := <-got:
		if ok {
			return lines
		}
	case <-ctx.Done():
	}
	t.Fatalf("%s did not become ready: %s", cmd.Path, stderr.String())
	return nil
}
