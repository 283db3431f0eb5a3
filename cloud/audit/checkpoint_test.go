package audit

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"gorm.io/gorm"

	"github.com/streamforge/streamforge/cloud/configsign"
)

// rehashFrom rewrites the chain from seq on as someone who knows the hash
// format would: every later record relinked and rehashed, the head fixed.
func rehashFrom(t *testing.T, db *gorm.DB, seq int64) {
	t.Helper()
	var prev row
	if seq > 1 {
		if err := db.Where("seq = ?", seq-1).Take(&prev).Error; err != nil {
			t.Fatal(err)
		}
	} else {
		prev.Hash = genesisHash
	}
	var rows []row
	if err := db.Where("seq >= ?", seq).Order("seq").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
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

// TestCheckpointsDetectWhatTheChainCannot: each tampering below leaves a
// chain that Verify alone accepts (every hash and link recomputed, the
// head fixed), and each is detected through the signed checkpoints, on
// SQLite and PostgreSQL.
func TestCheckpointsDetectWhatTheChainCannot(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *gorm.DB)
		kind   string
		badSeq int64
	}{
		{"ok-untouched", func(*testing.T, *gorm.DB) {}, "", 0},
		{"fail-edit-and-recompute-every-hash", func(t *testing.T, db *gorm.DB) {
			db.Exec(`UPDATE audit_log SET user_email = 'mallory@example.com' WHERE seq = 2`)
			rehashFrom(t, db, 2)
		}, BadCheckpoint, 3},
		{"fail-drop-a-record-and-rehash", func(t *testing.T, db *gorm.DB) {
			db.Exec(`DELETE FROM audit_log WHERE seq = 4`)
			for s := 5; s <= 6; s++ {
				db.Exec(`UPDATE audit_log SET seq = ? WHERE seq = ?`, s-1, s)
			}
			rehashFrom(t, db, 4)
		}, BadCut, 6},
		{"fail-cut-the-tail-and-fix-the-head", func(t *testing.T, db *gorm.DB) {
			db.Exec(`DELETE FROM audit_log WHERE seq > 4`)
			rehashFrom(t, db, 4)
		}, BadCut, 6},
		{"fail-wipe-the-table", func(t *testing.T, db *gorm.DB) {
			db.Exec(`DELETE FROM audit_log`)
			db.Exec(`UPDATE audit_chain_head SET seq = 0, hash = ? WHERE id = 1`, genesisHash)
		}, BadCut, 3},
		{"fail-wipe-the-table-and-the-checkpoints", func(t *testing.T, db *gorm.DB) {
			db.Exec(`DELETE FROM audit_log`)
			db.Exec(`DELETE FROM audit_checkpoints`)
			db.Exec(`UPDATE audit_chain_head SET seq = 0, hash = ? WHERE id = 1`, genesisHash)
		}, BadCut, 6},
		{"fail-rewrite-and-delete-the-checkpoints", func(t *testing.T, db *gorm.DB) {
			db.Exec(`UPDATE audit_log SET result = 'failure' WHERE seq = 1`)
			rehashFrom(t, db, 1)
			db.Exec(`DELETE FROM audit_checkpoints`)
		}, BadCheckpoint, 6},
		{"fail-checkpoint-moved-to-the-forged-chain", func(t *testing.T, db *gorm.DB) {
			db.Exec(`UPDATE audit_log SET result = 'failure' WHERE seq = 1`)
			rehashFrom(t, db, 1)
			var h string
			db.Raw(`SELECT hash FROM audit_log WHERE seq = 3`).Scan(&h)
			db.Exec(`UPDATE audit_checkpoints SET hash = ? WHERE seq = 3`, h)
		}, BadCheckpointSig, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
				ring, err := configsign.Load(filepath.Join(t.TempDir(), "keys"))
				if err != nil {
					t.Fatal(err)
				}
				anchor := filepath.Join(t.TempDir(), "audit-checkpoint.json")
				cp := NewCheckpointer(repo(db), ring, anchor, time.Hour, slog.Default())
				appendN(t, db, 3)
				if _, signed, err := cp.Sign(time.Now()); err != nil || !signed {
					t.Fatalf("sign at 3: signed %v, %v", signed, err)
				}
				appendN(t, db, 3)
				if err := cp.Close(); err != nil { // signs the head (6) at shutdown
					t.Fatal(err)
				}
				tc.tamper(t, db)
				if tc.kind != "" {
					if rep := verify(t, db); !rep.OK {
						t.Fatalf("the tampering should fool the chain alone: %+v", rep)
					}
				}
				a, err := ReadAnchor(anchor)
				if err != nil || a == nil || a.Seq != 6 {
					t.Fatalf("anchor: %+v, %v", a, err)
				}
				rep, err := VerifyWithCheckpoints(repo(db), ring, a)
				if err != nil {
					t.Fatal(err)
				}
				if tc.kind == "" {
					if !rep.OK || rep.Checkpoints != 2 || rep.LastCheckpoint == nil || rep.LastCheckpoint.Seq != 6 {
						t.Fatalf("untouched chain: %+v", rep)
					}
					return
				}
				if rep.OK || rep.Kind != tc.kind || rep.BadSeq != tc.badSeq {
					t.Fatalf("want %s at %d, got %+v", tc.kind, tc.badSeq, rep)
				}
			})
		})
	}
}

// alarmSpy records the problems a Checkpointer reports.
type alarmSpy struct{ problems []string }

func (a *alarmSpy) AuditVerificationFailed(_ context.Context, problem string) {
	a.problems = append(a.problems, problem)
}

// TestCheckpointerRefusesABrokenChain: a chain edited since the last
// checkpoint is not signed, so a checkpoint never vouches for tampering,
// and the broken chain is reported to the alarm hook (the serving
// process's alarm evaluator: TestCheckpointerRaisesTheSecurityAlarm in
// cloud/cmd/streamforge-cloud). The newest checkpoint's seq and time are
// the metrics'.
func TestCheckpointerRefusesABrokenChain(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		ring, err := configsign.Load(filepath.Join(t.TempDir(), "keys"))
		if err != nil {
			t.Fatal(err)
		}
		cp := NewCheckpointer(repo(db), ring, "", time.Hour, slog.Default())
		spy := &alarmSpy{}
		cp.Alarm = spy
		appendN(t, db, 2)
		at := time.Unix(1_800_000_000, 0)
		if _, signed, err := cp.Sign(at); err != nil || !signed {
			t.Fatalf("sign: %v %v", signed, err)
		}
		if _, signed, err := cp.Sign(time.Now()); err != nil || signed {
			t.Fatalf("an unmoved head is signed again: %v %v", signed, err)
		}
		if seq, ts := testutil.ToFloat64(cp.seq), testutil.ToFloat64(cp.signedAt); seq != 2 || ts != 1.8e9 {
			t.Fatalf("checkpoint metrics: seq %v time %v, want 2 and 1.8e9", seq, ts)
		}
		appendN(t, db, 2)
		db.Exec(`UPDATE audit_log SET reason = 'x' WHERE seq = 4`)
		if _, signed, err := cp.Sign(time.Now()); err == nil || signed {
			t.Fatalf("a broken chain was signed: %v %v", signed, err)
		}
		if len(spy.problems) != 1 || !strings.Contains(spy.problems[0], "4") {
			t.Fatalf("alarm hook told %q, want one problem naming seq 4", spy.problems)
		}
		if seq := testutil.ToFloat64(cp.seq); seq != 2 {
			t.Fatalf("checkpoint seq metric moved past a broken chain: %v", seq)
		}
	})
}
