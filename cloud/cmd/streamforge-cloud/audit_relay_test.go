package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/auditrelay"
	"github.com/streamforge/streamforge/internal/testenv"
)

// startCloud starts `serve` on addr and waits until it answers.
func startCloud(t *testing.T, bin, addr string, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	waitHTTP(t, "http://"+addr+"/readyz")
	return cmd
}

// TestAuditRelaySurvivesBrokerOutageAndKill: a real server relays its
// audit trail to real Apache Kafka while logins keep writing records; the
// broker goes away, the server is killed (SIGKILL) during the outage and
// started again, the broker comes back. Afterwards the topic holds every
// record of the database, once after dropping repeats by seq and in
// order, and `audit verify --kafka` agrees.
func TestAuditRelaySurvivesBrokerOutageAndKill(t *testing.T) {
	bin := build(t)
	broker := testenv.StartKafka(t, testenv.KafkaOpts{Persist: true})
	data, addr := t.TempDir(), testenv.FreeAddr(t) // restarted on the same address below
	env := []string{"STREAMFORGE_DATA_DIR=" + data, "STREAMFORGE_AUDIT_KAFKA_BROKERS=" + broker.Addr,
		"STREAMFORGE_AUDIT_RELAY_INTERVAL=100ms", "STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL=200ms",
		"STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com", "STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple"}
	cloud := startCloud(t, bin, addr, env)

	var logins atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // each successful login is one audit record; refusals while the server is down are expected
		defer close(stopped)
		body, _ := json.Marshal(map[string]string{"email": "root@example.com", "password": "correct horse battery staple"})
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := client.Post("http://"+addr+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
			if err != nil {
				time.Sleep(20 * time.Millisecond) // the server is down: try again
				continue
			}
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				logins.Add(1)
			}
		}
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	atLeast := func(n int64) func() bool { return func() bool { return logins.Load() >= n } }

	waitUntil("logins before the outage", atLeast(15))
	broker.Stop()
	mark := logins.Load()
	waitUntil("logins during the outage", atLeast(mark+15))
	if err := cloud.Process.Kill(); err != nil { // in the middle of writing and of the outage
		t.Fatal(err)
	}
	_ = cloud.Wait()
	startCloud(t, bin, addr, env)
	broker.Start()
	mark = logins.Load()
	waitUntil("logins after the restart", atLeast(mark+15))
	close(stop)
	<-stopped

	db, err := gorm.Open(sqlite.Open(filepath.Join(data, "streamforge.db")+"?_pragma=busy_timeout(5000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var head int64
	db.Raw(`SELECT seq FROM audit_chain_head`).Scan(&head)
	waitUntil("the outbox to drain", func() bool {
		var queued int64
		db.Raw(`SELECT COUNT(*) FROM audit_outbox`).Scan(&queued)
		return queued == 0
	})

	trail, err := auditrelay.ReadTopicTimeout(context.Background(), auditrelay.Config{Brokers: broker.Addr})
	if err != nil {
		t.Fatal(err)
	}
	var next int64 = 1
	for _, r := range trail.Records {
		if r.Seq < next {
			continue // a repeat
		}
		if r.Seq != next {
			t.Fatalf("after dropping repeats the topic goes from seq %d to %d", next-1, r.Seq)
		}
		next++
	}
	if next-1 < head {
		t.Fatalf("the topic ends at seq %d, the database at %d", next-1, head)
	}
	cmd := exec.Command(bin, "audit", "verify", "--kafka")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"topic_head"`) || strings.Contains(string(out), `"ok": false`) {
		t.Fatalf("audit verify --kafka: %v\n%s", err, out)
	}
	t.Logf("%d records in the database, %d messages of records in the topic", head, len(trail.Records))
}
