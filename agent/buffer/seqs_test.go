package buffer

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/streamforge/streamforge/adapters"
)

func TestSeqsOfManyStreamsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	batch := func() []adapters.Reading {
		rs := make([]adapters.Reading, 3*seqChunk+7) // several chunks, one partial
		for i := range rs {
			rs[i] = reading(fmt.Sprint("plc", i%3), fmt.Sprint("t", i), 1.0)
		}
		return rs
	}
	b := open(t, dir, Options{})
	for range 2 {
		if err := b.Put(context.Background(), batch()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Options{})
	rs := batch()
	if err := b.Put(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Seq != 3 {
			t.Fatalf("%s: seq %d after reopen, want 3", r.StreamKey(), r.Seq)
		}
	}
}

func TestOldPerStreamCountersAreMigrated(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir, Options{})
	putOne(t, b, "d", 1) // gw1/d/t: 1 in the new layout
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "buffer.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		old, err := tx.CreateBucket(oldSeqBucket)
		if err != nil {
			return err
		}
		if err := old.Put([]byte("gw1/d/t"), putU64(40)); err != nil {
			return err
		}
		return old.Put([]byte("gw1/e/t"), putU64(7))
	})
	if err != nil || db.Close() != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Options{})
	if d, e := putOne(t, b, "d", 2), putOne(t, b, "e", 2); d.Seq != 41 || e.Seq != 8 {
		t.Errorf("after migration: d seq %d (want 41), e seq %d (want 8)", d.Seq, e.Seq)
	}
	err = b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(oldSeqBucket) != nil {
			t.Error("old counters bucket kept")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
