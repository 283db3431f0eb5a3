package audit

import (
	"strings"
	"testing"

	"gorm.io/gorm"
)

// TestVerifyNamesFirstBadRecord tampers with a 6-record chain through raw
// SQL, as someone with database access would, and expects Verify to name
// the first record that no longer fits.
func TestVerifyNamesFirstBadRecord(t *testing.T) {
	cases := []struct {
		name    string
		tamper  []string
		badSeq  int64
		kind    string
		problem string
	}{
		{name: "fail-edited-field", tamper: []string{`UPDATE audit_log SET user_email = 'mallory@example.com' WHERE seq = 3`},
			badSeq: 3, kind: BadHash, problem: "edited"},
		{name: "fail-edited-changes", tamper: []string{`UPDATE audit_log SET changes = '{"poll_interval_ms":{"new":1,"old":1000}}' WHERE seq = 2`},
			badSeq: 2, kind: BadHash, problem: "edited"},
		{name: "fail-edited-timestamp", tamper: []string{`UPDATE audit_log SET "timestamp" = (SELECT "timestamp" FROM audit_log WHERE seq = 1) WHERE seq = 5`},
			badSeq: 5, kind: BadHash, problem: "edited"},
		{name: "fail-approved-by-nulled", tamper: []string{`UPDATE audit_log SET approved_by = NULL WHERE seq = 1`},
			badSeq: 1, kind: BadHash, problem: "edited"},
		{name: "fail-deleted-middle", tamper: []string{`DELETE FROM audit_log WHERE seq = 4`},
			badSeq: 5, kind: BadGap, problem: "records 4..4 are missing"},
		{name: "fail-deleted-first", tamper: []string{`DELETE FROM audit_log WHERE seq = 1`},
			badSeq: 2, kind: BadGap, problem: "records 1..1 are missing"},
		{name: "fail-deleted-and-renumbered", tamper: []string{`DELETE FROM audit_log WHERE seq = 3`, `UPDATE audit_log SET seq = 3 WHERE seq = 4`},
			badSeq: 3, kind: BadLink, problem: "reordered"},
		{name: "fail-swapped-seqs", tamper: []string{`UPDATE audit_log SET seq = -1 WHERE seq = 2`, `UPDATE audit_log SET seq = 2 WHERE seq = 3`, `UPDATE audit_log SET seq = 3 WHERE seq = -1`},
			badSeq: 2, kind: BadLink, problem: "reordered"},
		{name: "fail-swapped-contents", tamper: []string{
			`UPDATE audit_log SET resource_id = 'tmp' WHERE seq = 4`,
			`UPDATE audit_log SET resource_id = 'well_3' WHERE seq = 5`,
			`UPDATE audit_log SET resource_id = 'well_4' WHERE resource_id = 'tmp'`},
			badSeq: 4, kind: BadHash, problem: "edited"},
		{name: "fail-deleted-last", tamper: []string{`DELETE FROM audit_log WHERE seq = 6`},
			badSeq: 6, kind: BadHead, problem: "deleted from the tail"},
		{name: "fail-deleted-last-two", tamper: []string{`DELETE FROM audit_log WHERE seq >= 5`},
			badSeq: 6, kind: BadHead, problem: "records 5..6 deleted"},
		{name: "fail-head-rolled-back-with-tail", tamper: []string{`DELETE FROM audit_log WHERE seq = 6`, `UPDATE audit_chain_head SET seq = 5`},
			badSeq: 5, kind: BadHead, problem: "rewritten"},
		{name: "fail-forged-record-after-head", tamper: []string{`INSERT INTO audit_log (seq, "timestamp", event_type, prev_hash, hash) SELECT 7, "timestamp", 'user.create', hash, hash FROM audit_log WHERE seq = 6`},
			badSeq: 7, kind: BadHash, problem: "edited"},
	}
	eachDB(t, func(t *testing.T, b backend, _ string, _ *gorm.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db := b.open(t, b.new(t))
				migrate(t, db)
				appendN(t, db, 6)
				for _, s := range tc.tamper {
					if err := db.Exec(s).Error; err != nil {
						t.Fatalf("tamper %q: %v", s, err)
					}
				}
				rep := verify(t, db)
				if rep.OK || rep.BadSeq != tc.badSeq || rep.Kind != tc.kind || !strings.Contains(rep.Problem, tc.problem) {
					t.Fatalf("want bad seq %d (%s, %q), got %+v", tc.badSeq, tc.kind, tc.problem, rep)
				}
			})
		}
	})
}

// TestVerifyCatchesRehashedEdit: an editor who knows the hash format and
// re-computes the edited record's hash still breaks the next link.
func TestVerifyCatchesRehashedEdit(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		appendN(t, db, 4)
		var r row
		if err := db.Where("seq = 2").Take(&r).Error; err != nil {
			t.Fatal(err)
		}
		r.UserEmail = "mallory@example.com"
		r.Hash = r.ComputeHash()
		if err := db.Save(&r).Error; err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.OK || rep.BadSeq != 3 || rep.Kind != BadLink {
			t.Fatalf("want broken link at 3, got %+v", rep)
		}
	})
}

// TestVerifyStreamsAcrossBatches: a chain longer than one read batch
// verifies, and a break past the first batch is still found.
func TestVerifyStreamsAcrossBatches(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		n := verifyBatch*2 + 10
		err := db.Transaction(func(tx *gorm.DB) error {
			for range n {
				if _, err := Append(tx, Event{EventType: "authentication.success", User: "a@example.com"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); !rep.OK || rep.Checked != int64(n) {
			t.Fatalf("verify: %+v", rep)
		}
		db.Exec(`UPDATE audit_log SET result = 'failure' WHERE seq = ?`, verifyBatch+7)
		if rep := verify(t, db); rep.OK || rep.BadSeq != verifyBatch+7 {
			t.Fatalf("want bad %d, got %+v", verifyBatch+7, rep)
		}
	})
}

// TestVerifyCatchesForgedTail: a record added after the head with a
// correct hash and link, but without moving the chain head (as an INSERT
// outside Append would), is named.
func TestVerifyCatchesForgedTail(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		recs := appendN(t, db, 3)
		forged := newRow(Event{EventType: "user.create", User: "mallory@example.com"}, "")
		forged.Seq, forged.PrevHash = 4, recs[2].Hash
		forged.Hash = forged.ComputeHash()
		if err := db.Create(&forged).Error; err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db); rep.OK || rep.BadSeq != 4 || rep.Kind != BadHead {
			t.Fatalf("want head mismatch at 4, got %+v", rep)
		}
	})
}

// TestVerifyDuringAppends: Verify run while another pool keeps appending
// reports a good chain every time (it follows the moving head).
func TestVerifyDuringAppends(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend, dsn string, db *gorm.DB) {
		other := b.open(t, dsn)
		done := make(chan error)
		go func() {
			for range 300 {
				if _, err := Append(other, Event{EventType: "auth.refresh"}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for running := true; running; {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				running = false
			default:
			}
			if rep := verify(t, db); !rep.OK {
				t.Fatalf("verify during appends: %+v", rep)
			}
		}
	})
}
