package audit

import (
	"testing"
	"time"

	"gorm.io/gorm"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time { return now.Add(-time.Duration(d * 24 * float64(time.Hour))) }

func TestGDPRUserEvents(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		seed(t, db,
			Event{Timestamp: daysAgo(91), EventType: "authentication.success", User: "dana@example.com"},                                         // 1: too old
			Event{Timestamp: daysAgo(89), EventType: "authentication.success", User: "dana@example.com"},                                         // 2
			Event{Timestamp: daysAgo(50), EventType: "pipeline.update", User: "erin@example.com"},                                                // 3: someone else
			Event{Timestamp: daysAgo(40), EventType: "user.update", User: "admin@example.com", Resource: "user", ResourceID: "dana@example.com"}, // 4: about dana
			Event{Timestamp: daysAgo(10), EventType: "pipeline.update", User: "dana@example.com", ResourceID: "w1"},                              // 5
			Event{Timestamp: daysAgo(5), EventType: "pipeline.update", User: "admin@example.com", ResourceID: "dana@example.com"},                // 6: not a user resource
		)
		recs, err := GDPRUserEvents(repo(db), "dana@example.com", now)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSeqs(recs, 5, 4, 2) {
			t.Fatalf("got %v, want [5 4 2]", seqs(recs))
		}
	})
}

func TestSOC2ConfigChanges(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		from, to := daysAgo(30), daysAgo(1)
		seed(t, db,
			Event{Timestamp: daysAgo(31), EventType: "pipeline.update"},        // 1: before the range
			Event{Timestamp: from, EventType: "gateway.approve"},               // 2
			Event{Timestamp: daysAgo(20), EventType: "authentication.success"}, // 3: not a config change
			Event{Timestamp: daysAgo(15), EventType: "config.deploy"},          // 4
			Event{Timestamp: daysAgo(14), EventType: "user.disable"},           // 5
			Event{Timestamp: daysAgo(13), EventType: "enrollment.claim"},       // 6
			Event{Timestamp: daysAgo(12), EventType: "authorization.denied"},   // 7
			Event{Timestamp: daysAgo(11), EventType: "userx.create"},           // 8: prefix needs the dot
			Event{Timestamp: to, EventType: "pipeline.delete"},                 // 9: at the exclusive end
		)
		recs, err := SOC2ConfigChanges(repo(db), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSeqs(recs, 2, 4, 5, 6) {
			t.Fatalf("got %v, want [2 4 5 6]", seqs(recs))
		}
	})
}

func TestISO27001FailedLogins(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		fail := func(user string, at time.Time) Event {
			return Event{Timestamp: at, EventType: "authentication.failure", User: user, Result: ResultBlocked, Reason: "invalid_credentials"}
		}
		var evs []Event
		for i := range 6 { // frank: 6 in window -> reported
			evs = append(evs, fail("frank@example.com", daysAgo(float64(20-i))))
		}
		for i := range 5 { // gina: exactly 5 in window, 3 older -> not reported
			evs = append(evs, fail("gina@example.com", daysAgo(float64(10+i))))
		}
		for i := range 3 {
			evs = append(evs, fail("gina@example.com", daysAgo(float64(31+i))))
		}
		for i := range 9 { // unknown: 9 -> reported first
			evs = append(evs, fail("unknown@example.com", daysAgo(float64(2+i)/10)))
		}
		evs = append(evs, Event{Timestamp: daysAgo(1), EventType: "authentication.success", User: "gina@example.com"})
		seed(t, db, evs...)
		got, err := ISO27001FailedLogins(repo(db), now)
		if err != nil {
			t.Fatal(err)
		}
		want := []FailedLogins{
			{User: "unknown@example.com", Failures: 9, Last: daysAgo(0.2).Truncate(time.Microsecond)},
			{User: "frank@example.com", Failures: 6, Last: daysAgo(15)},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].User != want[i].User || got[i].Failures != want[i].Failures || !got[i].Last.Equal(want[i].Last) {
				t.Fatalf("row %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
