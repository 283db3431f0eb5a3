package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KafkaOpts configures a test broker.
type KafkaOpts struct {
	// Persist keeps the broker's data across Stop/Start (kfake: -data-dir;
	// Apache Kafka always persists). Without it a restarted kfake is empty.
	Persist bool
	// SCRAMUser and SCRAMPassword enable SASL SCRAM-SHA-512.
	SCRAMUser, SCRAMPassword string
	// TLSCert and TLSKey (PEM files) make the listener TLS.
	TLSCert, TLSKey string
	// TLSClientCA (PEM), with TLS, makes Apache Kafka require a client
	// certificate signed by it (mutual TLS; kfake ignores it).
	TLSClientCA string
}

// Broker is a Kafka-protocol broker running as its own process. It can be
// stopped, killed and started again on the same address.
type Broker struct {
	// Addr is the bootstrap address, 127.0.0.1:port.
	Addr string

	t      testing.TB
	launch func(port int) *exec.Cmd
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	log    *os.File
}

// StartKfake starts tests/kafka/cmd/kfake-broker (franz-go's kfake) as a
// separate process and returns once it listens. It is stopped at cleanup.
func StartKfake(t testing.TB, opts KafkaOpts) *Broker {
	t.Helper()
	bin := kfakeBinary(t)
	dir := t.TempDir()
	b := &Broker{t: t}
	b.launch = func(port int) *exec.Cmd {
		args := []string{"-port", fmt.Sprint(port)}
		if opts.Persist {
			args = append(args, "-data-dir", filepath.Join(dir, "data"))
		}
		if opts.SCRAMUser != "" {
			args = append(args, "-scram-user", opts.SCRAMUser+":env:KFAKE_SCRAM_PASSWORD")
		}
		if opts.TLSCert != "" {
			args = append(args, "-tls-cert", opts.TLSCert, "-tls-key", opts.TLSKey)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "KFAKE_SCRAM_PASSWORD="+opts.SCRAMPassword)
		return cmd
	}
	b.start(0, func(line string) (string, bool) { return strings.CutPrefix(line, "listening ") })
	t.Cleanup(b.Stop)
	return b
}

var (
	kfakeOnce sync.Once
	kfakePath string
	kfakeErr  error
)

// kfakeBinary builds the broker command once per test binary.
func kfakeBinary(t testing.TB) string {
	t.Helper()
	kfakeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "streamforge-kfake")
		if err != nil {
			kfakeErr = err
			return
		}
		kfakePath = filepath.Join(dir, "kfake-broker")
		out, err := exec.Command("go", "build", "-o", kfakePath,
			"github.com/streamforge/streamforge/tests/kafka/cmd/kfake-broker").CombinedOutput()
		if err != nil {
			kfakeErr = fmt.Errorf("build kfake-broker: %v\n%s", err, out)
		}
	})
	if kfakeErr != nil {
		t.Fatal(kfakeErr)
	}
	return kfakePath
}

// start launches the process and waits until ready reports the address in
// one of its stdout lines (nil: b.Addr is known) and it accepts connections.
func (b *Broker) start(port int, ready func(line string) (string, bool)) {
	b.t.Helper()
	b.await(b.spawn(port, ready))
}

// spawn launches the process without waiting for it: the nodes of a
// cluster must all run before any of them listens (they need a quorum).
func (b *Broker) spawn(port int, ready func(line string) (string, bool)) (<-chan struct{}, <-chan string) {
	b.t.Helper()
	cmd := b.launch(port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if b.log == nil {
		if b.log, err = os.CreateTemp(b.t.TempDir(), "broker-*.log"); err != nil {
			b.t.Fatal(err)
		}
	}
	cmd.Stderr = b.log
	// Pdeathsig: a crashed test binary must not leave brokers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start broker: %v", err)
	}
	done := make(chan struct{})
	var addr chan string
	if ready != nil {
		addr = make(chan string, 1)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(b.log, sc.Text())
			if ready == nil {
				continue
			}
			if a, ok := ready(sc.Text()); ok {
				addr <- a
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(done) }()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	return done, addr
}

// await waits until the spawned broker reports its address (when addr is
// not nil) and accepts connections.
func (b *Broker) await(done <-chan struct{}, addr <-chan string) {
	b.t.Helper()
	if addr == nil { // address known in advance
		waitListening(b.t, b.Addr, done)
		return
	}
	select {
	case a := <-addr:
		b.Addr = a
	case <-done:
		b.t.Fatalf("broker exited at start; log %s:\n%s", b.log.Name(), tail(b.log.Name()))
	case <-time.After(90 * time.Second):
		b.t.Fatalf("broker did not report its address; log %s:\n%s", b.log.Name(), tail(b.log.Name()))
	}
	waitListening(b.t, b.Addr, done)
}

func waitListening(t testing.TB, addr string, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("broker at %s exited before listening", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("broker at %s not listening after 90s", addr)
}

// Start restarts a stopped broker on its previous address.
func (b *Broker) Start() {
	b.t.Helper()
	_, port, _ := net.SplitHostPort(b.Addr)
	var p int
	fmt.Sscan(port, &p)
	b.start(p, nil)
}

// Stop ends the broker gracefully (SIGTERM), waiting for it to exit.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Pause freezes the broker (SIGSTOP): connections stay open, nothing is
// answered. Resume (SIGCONT) lets it go on.
func (b *Broker) Pause() { b.signalRunning(syscall.SIGSTOP) }

// Resume continues a paused broker.
func (b *Broker) Resume() { b.signalRunning(syscall.SIGCONT) }

func (b *Broker) signalRunning(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, sig)
	}
}

// Kill ends the broker with SIGKILL.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT) // a paused broker cannot exit
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
