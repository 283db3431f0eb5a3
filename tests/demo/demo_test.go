// Package demo runs `make demo` (scripts/demo.sh) as README.md tells a new
// user to, and checks what the README says it shows.
package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/testenv"
)

// programs are what `make build` puts in bin/ for the demo.
var programs = []string{"./cloud/cmd/streamforge-cloud", "./agent/cmd/streamforge-agent", "./adapters/cmd/streamforge-sim",
	"./tests/kafka/cmd/kfake-broker", "./tests/kafka/cmd/streamforge-consume"}

// demo is one run of scripts/demo.sh.
type demo struct {
	cmd   *exec.Cmd
	lines chan string // its stdout, line by line; closed at its end
	out   []string    // the lines read so far
	done  chan error
}

func startDemo(t *testing.T, bin, data, listen string) *demo {
	t.Helper()
	cmd := exec.Command("scripts/demo.sh")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "STREAMFORGE_BIN_DIR="+bin, "STREAMFORGE_DATA_DIR="+data, "STREAMFORGE_LISTEN="+listen)
	// Its own process group: Ctrl-C in a terminal signals the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &demo{cmd: cmd, lines: make(chan string, 64), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", strings.Join(d.out, "\n"), stderr.String())
			for _, log := range []string{"cloud.log", "agent.log"} {
				b, _ := os.ReadFile(filepath.Join(data, "demo", log))
				t.Logf("%s (tail):\n%s", log, tail(string(b), 30))
			}
		}
	})
	return d
}

// until reads the demo's output up to the line that starts with prefix.
func (d *demo) until(t *testing.T, prefix string, limit time.Duration) {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("the demo ended before printing %q", prefix)
			}
			d.out = append(d.out, l)
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("the demo printed no %q within %s", prefix, limit)
		}
	}
}

// stop sends Ctrl-C and waits for the demo and everything it started to
// end.
func (d *demo) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range d.lines {
		}
	}()
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		t.Fatal("the demo did not end within a minute of Ctrl-C")
	}
	// Every process of the group is gone: nothing keeps the ports.
	testenv.Eventually(t, 30*time.Second, "every demo process to end", func() bool {
		return syscall.Kill(-d.cmd.Process.Pid, 0) != nil
	})
}

func (d *demo) printed(re *regexp.Regexp) []string {
	for _, l := range d.out {
		if m := re.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	return nil
}

// api calls the demo's control plane as README.md's curl lines do.
func api(t *testing.T, base, method, path, token string, body any, out any) int {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

var (
	passwordLine = regexp.MustCompile(`^demo: log in as (\S+) with the password: (\S+) `)
	partsLine    = regexp.MustCompile(`^demo: simulated PLCs on modbus .*`)
	readingLine  = regexp.MustCompile(`^telemetry\.raw +gw-demo-1/(plc1|opcua-sim)/\S+ +seq=\d+`)
)

// TestDemoRunsAsTheREADMESays runs scripts/demo.sh twice on one data
// directory, as a new user would run `make demo`, stop it and run it again.
// The first run prints the dashboard's address and the first admin's
// password, the demo's gateway is enrolled and approved, readings reach
// Kafka, and the README's API calls work with that password; the gateway
// then sends heartbeats. Ctrl-C stops every process. The second run
// starts on the same data (the gateway enrolled already, no password
// printed again) with the simulators and broker at the same addresses, and
// its gateway sends heartbeats again.
func TestDemoRunsAsTheREADMESays(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-o", bin + "/"}, programs...)...)
	build.Dir = testenv.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	listen := testenv.FreeAddr(t)
	base := "http://" + listen

	d := startDemo(t, bin, data, listen)
	d.until(t, "demo: Ctrl-C stops everything", 3*time.Minute)
	if d.printed(regexp.MustCompile(`^demo: gateway gw-demo-1 enrolled and approved$`)) == nil {
		t.Error("the demo did not say that its gateway was enrolled and approved")
	}
	if d.printed(readingLine) == nil {
		t.Error("the demo printed no reading from Kafka")
	}
	if d.printed(regexp.MustCompile(`^demo: dashboard: `+regexp.QuoteMeta(base)+`/$`)) == nil {
		t.Errorf("the demo did not print the dashboard's address %s/", base)
	}
	m := d.printed(passwordLine)
	if m == nil {
		t.Fatal("the demo printed no first admin's password")
	}
	email, password := m[1], m[2]
	if email != "admin@streamforge.local" {
		t.Errorf("first admin %q, README.md says admin@streamforge.local", email)
	}

	// README.md's "Try the API" lines.
	var login struct{ Token string }
	if st := api(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &login); st != 200 || login.Token == "" {
		t.Fatalf("login with the printed password: %d", st)
	}
	var me struct{ Email string }
	if st := api(t, base, "GET", "/api/v1/auth/me", login.Token, nil, &me); st != 200 || me.Email != email {
		t.Errorf("GET /api/v1/auth/me: %d %+v", st, me)
	}
	var trail struct{ Records []map[string]any }
	if st := api(t, base, "GET", "/api/v1/audit", login.Token, nil, &trail); st != 200 || len(trail.Records) == 0 {
		t.Errorf("GET /api/v1/audit: %d, %d records", st, len(trail.Records))
	}
	res, err := http.Get(base + "/")
	if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the dashboard at %s/: %v %v", base, err, res)
	}
	if res != nil {
		res.Body.Close()
	}
	heartbeats := func(token string, after time.Time) func() bool {
		return func() bool {
			var g struct {
				Status     string    `json:"status"`
				LastSeenAt time.Time `json:"last_seen_at"`
			}
			st := api(t, base, "GET", "/api/v1/gateways/gw-demo-1", token, nil, &g)
			return st == 200 && g.Status == "approved" && g.LastSeenAt.After(after)
		}
	}
	testenv.Eventually(t, time.Minute, "a heartbeat of the demo's approved gateway", heartbeats(login.Token, time.Time{}))
	parts := d.printed(partsLine)
	d.stop(t)

	restarted := time.Now()
	d = startDemo(t, bin, data, listen)
	d.until(t, "demo: Ctrl-C stops everything", 3*time.Minute)
	if d.printed(passwordLine) != nil {
		t.Error("the second run printed a password again")
	}
	if d.printed(readingLine) == nil {
		t.Error("the second run printed no reading from Kafka")
	}
	// A pipeline written against the demo's PLCs and broker still reaches them.
	if again := d.printed(partsLine); parts == nil || again == nil || again[0] != parts[0] {
		t.Errorf("the second run moved the simulators, broker or metrics:\n%v\n%v", parts, again)
	}
	if st := api(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &login); st != 200 {
		t.Fatalf("login after the restart: %d", st)
	}
	testenv.Eventually(t, time.Minute, "a heartbeat after the restart", heartbeats(login.Token, restarted))
	d.stop(t)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
