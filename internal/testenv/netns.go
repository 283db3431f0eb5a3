package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const netnsEnv = "STREAMFORGE_TEST_NETNS"

// InNetns runs the calling test in a network namespace of its own, so that
// the faults it injects into the network (iptables rules on its loopback)
// touch nothing outside it. Called at the top of a test: outside the
// namespace it makes one, re-runs this test binary there for just this test,
// reports its output and result, and returns false (the caller returns);
// inside it returns true and the test goes on, every process it starts
// living in the namespace. Needs root and iproute2.
func InNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return true
	}
	if _, err := exec.LookPath("ip"); err != nil {
		Missing(t, "ip (iproute2) for network namespaces")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		Missing(t, "iptables for network faults")
	}
	ns := fmt.Sprintf("sf-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		Missing(t, "a network namespace (ip netns add needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("loopback up in %s: %v %s", ns, err, out)
	}
	args := []string{"netns", "exec", ns, os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+ns)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s in network namespace %s: %v", t.Name(), ns, err)
	}
	return false
}

var nsSeq atomic.Int64

// IPTables applies one iptables rule ("-I INPUT ...") in the test's own
// namespace and returns the function that deletes it again.
func IPTables(t testing.TB, table string, rule ...string) (undo func()) {
	t.Helper()
	if os.Getenv(netnsEnv) == "" {
		t.Fatal("IPTables outside the test's network namespace (call InNetns first)")
	}
	run := func(op string) error {
		args := append([]string{"-w", "-t", table, op}, rule...)
		out, err := exec.Command("iptables", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %v %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("-I"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	undo = func() {
		once.Do(func() {
			if err := run("-D"); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(undo)
	return undo
}

// DelayProxy forwards TCP connections to a target, holding what the client
// sends for a settable delay before passing it on (the gateway's uplink
// latency; this kernel has no netem). Answers pass without delay.
type DelayProxy struct {
	Addr   string
	delay  atomic.Int64
	target string
	source *net.TCPAddr
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
}

// StartDelayProxy listens on a free loopback port and dials target from
// source (an address of 127.0.0.0/8, so that rules can tell the proxy's own
// connections apart).
func StartDelayProxy(t testing.TB, target, source string) *DelayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &DelayProxy{Addr: ln.Addr().String(), target: target, source: &net.TCPAddr{IP: net.ParseIP(source)}, ln: ln}
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// SetDelay sets the client-to-target delay for what is read from now on.
func (p *DelayProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Close stops the proxy and every connection through it.
func (p *DelayProxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *DelayProxy) serve() {
	d := net.Dialer{LocalAddr: p.source, Timeout: 5 * time.Second}
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := d.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.delayed(up, c)
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// delayed copies src to dst, each chunk written delay after it was read,
// in order.
func (p *DelayProxy) delayed(dst, src net.Conn) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(time.Duration(p.delay.Load())), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

// IPTablesDropped is the number of packets the DROP rules of the INPUT
// chain have dropped so far: proof that a fault was in effect.
func IPTablesDropped(t testing.TB) int64 {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-L", "INPUT", "-v", "-x", "-n").Output()
	if err != nil {
		t.Fatalf("iptables -L: %v", err)
	}
	var n int64
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" {
			var pkts int64
			fmt.Sscan(f[0], &pkts)
			n += pkts
		}
	}
	return n
}
