package audit

import (
	"testing"
	"time"

	"gorm.io/gorm"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func seed(t *testing.T, db *gorm.DB, events ...Event) {
	t.Helper()
	for _, e := range events {
		if _, err := Append(db, e); err != nil {
			t.Fatalf("seed %s: %v", e.EventType, err)
		}
	}
}

func seqs(recs []Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func sameSeqs(got []Record, want ...int64) bool {
	g := seqs(got)
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

func TestQueryFilters(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		seed(t, db,
			Event{Timestamp: t0, EventType: "authentication.success", User: "alice@example.com"},                         // 1
			Event{Timestamp: t0.Add(time.Hour), EventType: "pipeline.update", User: "bob@example.com", ResourceID: "w1"}, // 2
			Event{Timestamp: t0.Add(2 * time.Hour), EventType: "pipeline.create", User: "alice@example.com", ResourceID: "w2"},
			Event{Timestamp: t0.Add(3 * time.Hour), EventType: "authentication.failure", User: "alice@example.com"},
			Event{Timestamp: t0.Add(3*time.Hour + time.Microsecond), EventType: "pipelinexupdate", User: "bob@example.com"}, // 5: '_' wildcard bait
			Event{Timestamp: t0.Add(4 * time.Hour), EventType: "user.create", User: "bob@example.com", ResourceID: "w1"},
		)
		cases := []struct {
			name string
			f    Filter
			want []int64
		}{
			{name: "ok-all-newest-first", f: Filter{}, want: []int64{6, 5, 4, 3, 2, 1}},
			{name: "ok-user", f: Filter{User: "alice@example.com"}, want: []int64{4, 3, 1}},
			{name: "ok-event-prefix", f: Filter{EventTypePrefix: "pipeline."}, want: []int64{3, 2}},
			{name: "ok-event-prefix-wildcards-literal", f: Filter{EventTypePrefix: "pipeline_"}, want: []int64{}},
			{name: "ok-exact-event-type", f: Filter{EventTypePrefix: "authentication.failure"}, want: []int64{4}},
			{name: "ok-resource-id", f: Filter{ResourceID: "w1"}, want: []int64{6, 2}},
			{name: "ok-from-inclusive-to-exclusive", f: Filter{From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)}, want: []int64{3, 2}},
			{name: "ok-microsecond-boundary", f: Filter{From: t0.Add(3*time.Hour + time.Microsecond)}, want: []int64{6, 5}},
			{name: "ok-non-utc-bounds", f: Filter{From: t0.Add(time.Hour).In(time.FixedZone("X", -7*3600))}, want: []int64{6, 5, 4, 3, 2}},
			{name: "ok-combined", f: Filter{User: "bob@example.com", ResourceID: "w1", To: t0.Add(2 * time.Hour)}, want: []int64{2}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p, err := Query(repo(db), tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if !sameSeqs(p.Records, tc.want...) || p.NextCursor != nil {
					t.Fatalf("got %v (next %v), want %v", seqs(p.Records), p.NextCursor, tc.want)
				}
			})
		}
	})
}

func TestQueryPaginates(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		for range 7 {
			seed(t, db, Event{EventType: "auth.refresh", User: "a"}, Event{EventType: "auth.logout", User: "b"})
		}
		var got []int64
		f := Filter{User: "a", Limit: 3}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			p, err := Query(repo(db), f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, seqs(p.Records)...)
			if p.NextCursor == nil {
				break
			}
			f.Cursor = *p.NextCursor
		}
		want := []int64{13, 11, 9, 7, 5, 3, 1}
		if len(got) != len(want) {
			t.Fatalf("pages gave %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("pages gave %v, want %v", got, want)
			}
		}
		p, err := Query(repo(db), Filter{Limit: 100000})
		if err != nil || len(p.Records) != 14 {
			t.Fatalf("large limit: %d records, %v", len(p.Records), err)
		}
	})
}

func TestQueryCapsLimit(t *testing.T) {
	eachDB(t, func(t *testing.T, _ backend, _ string, db *gorm.DB) {
		err := db.Transaction(func(tx *gorm.DB) error {
			for range MaxLimit + 5 {
				if _, err := Append(tx, Event{EventType: "auth.refresh"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Query(repo(db), Filter{Limit: MaxLimit * 10})
		if err != nil || len(p.Records) != MaxLimit || p.NextCursor == nil || *p.NextCursor != 6 {
			t.Fatalf("want %d records and cursor 6, got %d, %v, %v", MaxLimit, len(p.Records), p.NextCursor, err)
		}
		p, err = Query(repo(db), Filter{})
		if err != nil || len(p.Records) != DefaultLimit {
			t.Fatalf("default limit: %d records, %v", len(p.Records), err)
		}
	})
}
