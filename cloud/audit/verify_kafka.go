package audit

import (
	"fmt"
	"strings"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// TopicReport is the result of CompareTopic.
type TopicReport struct {
	OK bool `json:"ok"`
	// Records is how many distinct records the topic holds; Repeats how
	// many messages repeated one (at-least-once delivery).
	Records     int64 `json:"records"`
	Repeats     int64 `json:"repeats"`
	Checkpoints int64 `json:"checkpoints_checked"`
	TopicHead   int64 `json:"topic_head"`
	DBHead      int64 `json:"db_head"`
	// NotYetRelayed is how many database records after the topic's head
	// are still waiting in the outbox.
	NotYetRelayed int64  `json:"not_yet_relayed"`
	BadSeq        int64  `json:"bad_seq,omitempty"`
	Kind          string `json:"kind,omitempty"`
	Problem       string `json:"problem,omitempty"`
}

// Kinds of disagreement CompareTopic names.
const (
	TopicGap      = "topic_gap"       // the topic misses records
	TopicConflict = "topic_conflict"  // the topic holds two records at one seq
	TopicChain    = "topic_chain"     // the topic's own chain is broken
	TopicVsDB     = "topic_db_differ" // the database record differs from the topic's
	TopicDBCut    = "db_behind_topic" // the database lost records the topic holds
	TopicUnsent   = "db_not_relayed"  // database records neither in the topic nor queued
)

// CompareTopic checks the trail as read from Kafka: its records, after
// dropping repeats by seq, form one unbroken chain from seq 1; its
// checkpoints are signed and held by that chain; and the database holds
// the same records (records after the topic's head must still be in the
// outbox, pending is how many are).
func CompareTopic(db ChainReader, records []auditrec.Row, cps []SignedCheckpoint, keys SignatureVerifier, pending int64) (TopicReport, error) {
	var rep TopicReport
	bySeq := map[int64]string{}
	prev := Checkpoint{Hash: auditrec.GenesisHash}
	for i := range records {
		r := &records[i]
		h := strings.TrimSpace(r.Hash)
		switch {
		case r.Seq <= prev.Seq:
			rep.Repeats++
			if bySeq[r.Seq] != h {
				return failTopic(rep, r.Seq, TopicConflict, fmt.Sprintf("the topic holds two different records at seq %d", r.Seq)), nil
			}
			continue
		case r.Seq != prev.Seq+1:
			return failTopic(rep, prev.Seq+1, TopicGap, fmt.Sprintf("the topic misses records %d..%d", prev.Seq+1, r.Seq-1)), nil
		case strings.TrimSpace(r.PrevHash) != prev.Hash || r.ComputeHash() != h:
			return failTopic(rep, r.Seq, TopicChain, fmt.Sprintf("record %d in the topic does not chain to record %d or does not match its hash", r.Seq, prev.Seq)), nil
		}
		bySeq[r.Seq] = h
		prev = Checkpoint{Seq: r.Seq, Hash: h}
		rep.Records++
	}
	rep.TopicHead = prev.Seq
	for _, cp := range cps {
		if err := keys.VerifyDetached(cp.KeyID, auditrec.CheckpointMessage(cp.Seq, cp.Hash, cp.SignedAt), cp.Signature); err != nil {
			return failTopic(rep, cp.Seq, BadCheckpointSig, fmt.Sprintf("checkpoint %d in the topic does not verify: %v", cp.Seq, err)), nil
		}
		if cp.Seq > 0 && bySeq[cp.Seq] != strings.TrimSpace(cp.Hash) {
			return failTopic(rep, cp.Seq, BadCheckpoint, fmt.Sprintf("the topic's record %d is not the one checkpoint %d signed", cp.Seq, cp.Seq)), nil
		}
		rep.Checkpoints++
	}
	return compareDB(db, rep, bySeq, pending)
}

// compareDB walks the database chain against the topic's hashes.
func compareDB(db ChainReader, rep TopicReport, bySeq map[int64]string, pending int64) (TopicReport, error) {
	var last int64
	for {
		rows, err := db.RowsAfter(last, verifyBatch)
		if err != nil {
			return rep, fmt.Errorf("audit verify: read after seq %d: %w", last, err)
		}
		for i := range rows {
			r, bad := parse(&rows[i])
			if bad != nil {
				return failTopic(rep, r.Seq, BadColumn, fmt.Sprintf("database record %d's %s %s", r.Seq, bad.column, bad.problem)), nil
			}
			if r.Seq != last+1 {
				return failTopic(rep, last+1, TopicVsDB, fmt.Sprintf("the database misses records %d..%d", last+1, r.Seq-1)), nil
			}
			last = r.Seq
			if r.Seq > rep.TopicHead {
				rep.NotYetRelayed++
				continue
			}
			// The recomputed hash, not only the stored one: an edit that
			// left the hash column alone differs from the topic too.
			if want, ok := bySeq[r.Seq]; !ok || want != strings.TrimSpace(r.Hash) || want != r.ComputeHash() {
				return failTopic(rep, r.Seq, TopicVsDB, fmt.Sprintf("database record %d differs from the topic's: the database was edited", r.Seq)), nil
			}
		}
		if len(rows) < verifyBatch {
			break
		}
	}
	rep.DBHead = last
	switch {
	case last < rep.TopicHead:
		return failTopic(rep, last+1, TopicDBCut, fmt.Sprintf("the topic holds records %d..%d that the database lost", last+1, rep.TopicHead)), nil
	case rep.NotYetRelayed > pending:
		return failTopic(rep, rep.TopicHead+1, TopicUnsent, fmt.Sprintf("%d database records after the topic's head but only %d wait in the outbox: records were added outside the application or the outbox was edited", rep.NotYetRelayed, pending)), nil
	}
	rep.OK = true
	return rep, nil
}

func failTopic(rep TopicReport, seq int64, kind, problem string) TopicReport {
	rep.OK, rep.BadSeq, rep.Kind, rep.Problem = false, seq, kind, problem
	return rep
}
