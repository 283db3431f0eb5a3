package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/audit"
	"github.com/streamforge/streamforge/cloud/auditrec"
	"github.com/streamforge/streamforge/internal/testenv"
)

// TestAuditVerifyUsesCheckpointsAndKafka runs a real server that relays
// its audit trail to real Apache Kafka and signs checkpoints, then
// rewrites the database chain the way the hash chain alone cannot catch
// (an edit with every later hash recomputed and the head fixed): `audit
// verify` passed, `audit verify --kafka` agreed with the topic, and after
// the rewrite `audit verify` names it through the checkpoints.
// (CompareTopic catching the same rewrite is shown in cloud/auditrelay.)
func TestAuditVerifyUsesCheckpointsAndKafka(t *testing.T) {
	bin := build(t)
	broker := testenv.StartKafka(t, testenv.KafkaOpts{Persist: true})
	data := t.TempDir()
	env := []string{"STREAMFORGE_DATA_DIR=" + data, "STREAMFORGE_AUDIT_KAFKA_BROKERS=" + broker.Addr,
		"STREAMFORGE_AUDIT_CHECKPOINT_INTERVAL=100ms", "STREAMFORGE_AUDIT_RELAY_INTERVAL=100ms"}
	addr, _ := serve(t, bin, append(env, "STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery staple")...)
	for range 3 {
		login(t, addr, "root@example.com", "correct horse battery staple")
	}
	run := func(args ...string) (bool, string) {
		cmd := exec.Command(bin, append([]string{"audit", "verify"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return err == nil, string(out)
	}
	db, err := gorm.Open(sqlite.Open(filepath.Join(data, "streamforge.db")+"?_pragma=busy_timeout(5000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var head int64
	db.Raw(`SELECT seq FROM audit_chain_head`).Scan(&head)
	anchorFile := filepath.Join(data, "keys", "audit-checkpoint.json")
	deadline := time.Now().Add(time.Minute)
	for {
		a, err := audit.ReadAnchor(anchorFile)
		if err != nil {
			t.Fatal(err)
		}
		var queued int64
		db.Raw(`SELECT COUNT(*) FROM audit_outbox`).Scan(&queued)
		if a != nil && a.Seq >= head && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("head %d not checkpointed and relayed in time (anchor %+v, %d queued)", head, a, queued)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ok, out := run(); !ok || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("untouched chain fails verification: %s", out)
	}
	if ok, out := run("--kafka"); !ok || !strings.Contains(out, `"topic_head"`) {
		t.Fatalf("untouched chain fails verification against Kafka: %s", out)
	}

	rewrite(t, db, 2)
	ok, out := run()
	if ok || !strings.Contains(out, `"kind": "`+audit.BadCheckpoint+`"`) {
		t.Fatalf("a rehashed rewrite is not caught by the checkpoints: ok=%v\n%s", ok, out)
	}
}

// rewrite edits record seq and recomputes every later hash and the head,
// as someone with write access to the database and the hash format can.
func rewrite(t *testing.T, db *gorm.DB, seq int64) {
	t.Helper()
	var prev auditrec.Row
	if err := db.Where("seq = ?", seq-1).Take(&prev).Error; err != nil {
		t.Fatal(err)
	}
	var rows []auditrec.Row
	if err := db.Where("seq >= ?", seq).Order("seq").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	rows[0].UserEmail = "mallory@example.com"
	for _, r := range rows {
		r.PrevHash = prev.Hash
		r.Hash = r.ComputeHash()
		if err := db.Save(&r).Error; err != nil {
			t.Fatal(err)
		}
		prev = r
	}
	if err := db.Exec(`UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1`, prev.Seq, prev.Hash).Error; err != nil {
		t.Fatal(err)
	}
}
