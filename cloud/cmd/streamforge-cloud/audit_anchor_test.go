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
// wipes the trail the way the hash chain alone cannot catch (the audit
// tables and the checkpoints emptied, the head reset): `audit verify`
// passed, `audit verify --kafka` agreed with the topic, and after the
// wipe `audit verify` names it through the anchor file. /metrics shows the
// relay's lease, records, errors and outbox depth, and the newest checkpoint. (Every tampering
// case on both databases: TestCheckpointsDetectWhatTheChainCannot.)
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
	// The relay's and the checkpoints' metrics say what happened: this
	// process holds the lease, relayed the chain, drained the outbox and
	// checkpointed the head.
	m := scrape(t, addr)
	if m["streamforge_audit_relay_lease_held"] != 1 || m["streamforge_audit_outbox_records"] != 0 ||
		m["streamforge_audit_relay_records_total"] < float64(head) || m["streamforge_audit_checkpoint_seq"] < float64(head) ||
		m["streamforge_audit_checkpoint_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("relay metrics after relaying %d records: %v", head, m)
	}
	// An outbox the relay cannot read is counted as relay errors.
	errs := m["streamforge_audit_relay_errors_total"]
	if err := db.Exec(`ALTER TABLE audit_outbox RENAME TO audit_outbox_away`).Error; err != nil {
		t.Fatal(err)
	}
	for scrape(t, addr)["streamforge_audit_relay_errors_total"] <= errs {
		if time.Now().After(deadline) {
			t.Fatal("a failing relay round is not counted in streamforge_audit_relay_errors_total")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := db.Exec(`ALTER TABLE audit_outbox_away RENAME TO audit_outbox`).Error; err != nil {
		t.Fatal(err)
	}
	if ok, out := run(); !ok || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("untouched chain fails verification: %s", out)
	}
	if ok, out := run("--kafka"); !ok || !strings.Contains(out, `"topic_head"`) {
		t.Fatalf("untouched chain fails verification against Kafka: %s", out)
	}

	// Wipe the trail and its checkpoints, leaving a valid empty chain.
	for _, q := range []string{`DELETE FROM audit_log`, `DELETE FROM audit_checkpoints`, `DELETE FROM audit_outbox`,
		`UPDATE audit_chain_head SET seq = 0, hash = '` + auditrec.GenesisHash + `' WHERE id = 1`} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ok, out := run()
	if ok || !strings.Contains(out, `"kind": "`+audit.BadCut+`"`) {
		t.Fatalf("a wiped trail is not caught through the anchor: ok=%v\n%s", ok, out)
	}
}
