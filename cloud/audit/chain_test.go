package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

func appendN(t testing.TB, db *gorm.DB, n int) []Record {
	t.Helper()
	recs := make([]Record, 0, n)
	for i := range n {
		approver := "carol@example.com"
		e := Event{
			EventType: "pipeline.update", User: fmt.Sprintf("user%d@example.com", i%3),
			IPAddress: "10.0.1.50", UserAgent: "test", Resource: "pipeline",
			ResourceID: fmt.Sprintf("well_%d", i), Action: "update", Result: ResultSuccess,
			Changes: map[string]Change{"poll_interval_ms": {Old: 1000, New: 500 + i}},
		}
		if i%2 == 0 {
			e.ApprovedBy = &approver
		}
		var rec Record
		err := db.Transaction(func(tx *gorm.DB) error {
			var err error
			rec, err = Append(tx, e)
			return err
		})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func verify(t *testing.T, db *gorm.DB) Report {
	t.Helper()
	rep, err := Verify(repo(db))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func TestAppendBuildsVerifiableChain(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		if rep := verify(t, db); !rep.OK || rep.Checked != 0 {
			t.Fatalf("empty chain: %+v", rep)
		}
		recs := appendN(t, db, 7)
		for i, r := range recs {
			if r.Seq != int64(i+1) {
				t.Fatalf("record %d has seq %d", i, r.Seq)
			}
			want := genesisHash
			if i > 0 {
				want = recs[i-1].Hash
			}
			if r.PrevHash != want {
				t.Fatalf("record %d prev_hash %s, want %s", r.Seq, r.PrevHash, want)
			}
		}
		rep := verify(t, db)
		if !rep.OK || rep.Checked != 7 || rep.Head.Seq != 7 || rep.Head.Hash != recs[6].Hash {
			t.Fatalf("want ok report at head 7, got %+v", rep)
		}
	})
}

// TestRecordRoundTripsExactly: what Append returns is what Query reads
// back, and re-hashing the stored row gives the stored hash on both
// databases (timestamps with sub-microsecond parts, non-UTC zones, odd
// strings).
func TestRecordRoundTripsExactly(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		zone := time.FixedZone("UTC+5", 5*3600)
		approver := "carol@example.com"
		e := Event{
			Timestamp: time.Date(2026, 3, 1, 12, 0, 0, 123456789, zone),
			EventType: "config.update", User: "ünï@example.com", IPAddress: "2001:db8::1",
			UserAgent: "bad\x00utf8\xff", Resource: "/api/v1/x", ResourceID: "r1", Action: "update",
			Changes:    map[string]Change{"limit": {Old: int64(9007199254740993), New: []string{"a", "<b>"}}},
			ApprovedBy: &approver, Result: ResultSuccess, Reason: strings.Repeat("é", 600),
		}
		rec, err := Append(db, e)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 3, 1, 7, 0, 0, 123456000, time.UTC); !rec.Timestamp.Equal(want) || rec.Timestamp.Location() != time.UTC {
			t.Fatalf("timestamp %v, want %v", rec.Timestamp, want)
		}
		if rec.UserAgent != "badutf8\uFFFD" || len(rec.Reason) != 1024 {
			t.Fatalf("strings not normalised: %q, reason %d bytes", rec.UserAgent, len(rec.Reason))
		}
		page, err := Query(repo(db), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(page.Records[0])
		if want, _ := json.Marshal(rec); string(got) != string(want) {
			t.Fatalf("read back\n%s\nwant\n%s", got, want)
		}
		if rep := verify(t, db); !rep.OK {
			t.Fatalf("verify: %+v", rep)
		}
	})
}

func TestAppendOutsideTransactionOpensOne(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		if _, err := Append(db, Event{EventType: "auth.logout"}); err != nil {
			t.Fatal(err)
		}
		if _, err := Append(db, Event{}); err == nil {
			t.Fatal("an event without event_type was accepted")
		}
		if rep := verify(t, db); !rep.OK || rep.Checked != 1 {
			t.Fatalf("verify: %+v", rep)
		}
	})
}

// TestRolledBackChangeLeavesNoRecord: the record shares the fate of the
// transaction it was appended in, and the chain stays intact.
func TestRolledBackChangeLeavesNoRecord(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		appendN(t, db, 2)
		err := db.Transaction(func(tx *gorm.DB) error {
			if _, err := Append(tx, Event{EventType: "user.delete"}); err != nil {
				return err
			}
			return fmt.Errorf("the change failed")
		})
		if err == nil {
			t.Fatal("transaction did not fail")
		}
		appendN(t, db, 1)
		if rep := verify(t, db); !rep.OK || rep.Checked != 3 {
			t.Fatalf("verify: %+v", rep)
		}
	})
}
