package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// PGCluster is a PostgreSQL cluster (Debian's server) of one test's own, on
// a free loopback port, that the test may stop and start: the shared test
// cluster of scripts/test-services.sh serves other packages meanwhile.
type PGCluster struct {
	// URL is a connection URL of the cluster's postgres database.
	URL string

	t          testing.TB
	bin, data  string
	port       int
	asPostgres bool
}

// StartPostgresCluster initialises and starts a cluster; it is removed when
// the test ends.
func StartPostgresCluster(t testing.TB) *PGCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		Missing(t, "PostgreSQL server (Debian package postgresql)")
	}
	slices.Sort(bins)
	p := &PGCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	dir, err := os.MkdirTemp("", "streamforge-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The server refuses to run as root: as root, the cluster belongs to
	// the postgres account.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Missing(t, "the postgres account (Debian package postgresql)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asPostgres = true
	}
	p.data = filepath.Join(dir, "data")
	p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start starts the server and waits until it accepts connections.
func (p *PGCluster) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data, "-l", filepath.Join(filepath.Dir(p.data), "server.log"), "-w",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, filepath.Dir(p.data)),
		"start")
}

// Stop shuts the server down (fast: open sessions are ended).
func (p *PGCluster) Stop() {
	p.t.Helper()
	cmd := p.command("pg_ctl", "-D", p.data, "-m", "fast", "-w", "stop")
	_ = cmd.Run() // already stopped is fine
}

func (p *PGCluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, prog)
	if p.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (p *PGCluster) run(prog string, args ...string) {
	p.t.Helper()
	if out, err := p.command(prog, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", prog, err, out)
	}
}
