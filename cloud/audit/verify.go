package audit

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// verifyBatch is how many records Verify reads per query.
const verifyBatch = 1000

// Kinds of chain breakage a Report names.
const (
	// BadHash: the record's content does not hash to its stored hash
	// (a field was edited).
	BadHash = "hash_mismatch"
	// BadGap: seqs are missing before this record (records deleted).
	BadGap = "seq_gap"
	// BadLink: prev_hash is not the previous record's hash (records
	// reordered, or an earlier record rewritten with a fresh hash).
	BadLink = "prev_hash_mismatch"
	// BadHead: the chain head disagrees with the last record (the tail was
	// deleted, or records were added or rewritten without the head).
	BadHead = "head_mismatch"
)

// Checkpoint is a position in the chain. Keep a copy of the head outside
// the database: a later Verify whose chain no longer contains it exactly
// shows a rewrite of the whole chain, which the chain alone cannot.
type Checkpoint struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Report is the result of Verify. When OK is false, BadSeq names the first
// bad record (for BadHead, the head's seq), Kind says what is wrong and
// Problem says it in a sentence.
type Report struct {
	OK      bool       `json:"ok"`
	Checked int64      `json:"checked"`
	Head    Checkpoint `json:"head"`
	BadSeq  int64      `json:"bad_seq,omitempty"`
	Kind    string     `json:"kind,omitempty"`
	Problem string     `json:"problem,omitempty"`
	// Checkpoints is how many signed checkpoints the chain was found to
	// hold (VerifyWithCheckpoints); LastCheckpoint the newest of them.
	Checkpoints    int64       `json:"checkpoints_checked"`
	LastCheckpoint *Checkpoint `json:"last_checkpoint,omitempty"`
}

// Verify walks the whole chain in seq order, in batches, re-computing
// every hash and link, and checks the chain head against the last record.
// It stops at the first bad record. Appends running concurrently are fine:
// the head is read after the walk and the walk resumes until it catches up.
// The error is for failures to read; a broken chain is a Report with OK
// false.
func Verify(db ChainReader) (Report, error) {
	v := verifier{db: db, prev: Checkpoint{Hash: auditrec.GenesisHash}}
	return v.run()
}

// run walks from v.prev to the head (see Verify).
func (v *verifier) run() (Report, error) {
	db := v.db
	for {
		if done, err := v.walk(); err != nil || done {
			return v.rep, err
		}
		h, bad, err := readHeadLoose(db)
		if err != nil {
			return v.rep, err
		}
		v.rep.Head = h
		if bad != nil {
			return v.fail(h.Seq, BadHead, fmt.Sprintf("the chain head's %s %s: it was edited", bad.column, bad.problem)), nil
		}
		switch {
		case h.Seq == v.prev.Seq && h.Hash == v.prev.Hash:
			v.rep.OK = true
			return v.rep, nil
		case h.Seq > v.prev.Seq && !v.caughtUp:
			// Appends committed during the walk: read on to the new head.
			v.caughtUp = true
			continue
		case h.Seq > v.prev.Seq:
			return v.fail(h.Seq, BadHead, fmt.Sprintf("chain head is at seq %d but the last record is seq %d: records %d..%d deleted from the tail", h.Seq, v.prev.Seq, v.prev.Seq+1, h.Seq)), nil
		case h.Seq < v.prev.Seq:
			return v.fail(h.Seq+1, BadHead, fmt.Sprintf("records after the chain head (seq %d) exist up to seq %d: added outside Append", h.Seq, v.prev.Seq)), nil
		default:
			return v.fail(h.Seq, BadHead, fmt.Sprintf("chain head hash %s does not match record %d's hash %s: the last record was rewritten", h.Hash, h.Seq, v.prev.Hash)), nil
		}
	}
}

// ChainReader reads the chain as stored (store.AuditRepo).
type ChainReader interface {
	// RowsAfter reads up to n rows after seq, in seq order.
	RowsAfter(after int64, n int) ([]auditrec.Raw, error)
	// Head reads the chain head as text; auditrec.ErrNoChainHead when the
	// row is missing.
	Head() (seq, hash sql.NullString, err error)
}

type verifier struct {
	db       ChainReader
	prev     Checkpoint // the last good record (seq 0: genesis)
	rep      Report
	caughtUp bool // one extra walk after the head moved has been made
}

// walk checks records after v.prev until none are left. It reports done
// when it found a bad record; a walk that reads new records resets
// caughtUp so that a moving head is followed.
func (v *verifier) walk() (bool, error) {
	for {
		rows, err := v.db.RowsAfter(v.prev.Seq, verifyBatch)
		if err != nil {
			return false, fmt.Errorf("audit verify: read after seq %d: %w", v.prev.Seq, err)
		}
		if len(rows) > 0 {
			v.caughtUp = false
		}
		for i := range rows {
			r, bad := parse(&rows[i])
			if bad != nil {
				seq := r.Seq
				if bad.column == "seq" {
					seq = v.prev.Seq + 1 // where it sorts, as near as it can be named
				}
				v.fail(seq, BadColumn, fmt.Sprintf("record %d's %s %s: the record was edited outside the application", seq, bad.column, bad.problem))
				return true, nil
			}
			if v.check(&r) {
				return true, nil
			}
		}
		if len(rows) < verifyBatch {
			return false, nil
		}
	}
}

// check verifies one record against its predecessor; true means it failed.
func (v *verifier) check(r *auditrec.Row) bool {
	prevHash, stored := strings.TrimSpace(r.PrevHash), strings.TrimSpace(r.Hash)
	switch {
	case r.Seq != v.prev.Seq+1:
		v.fail(r.Seq, BadGap, fmt.Sprintf("record %d follows record %d: records %d..%d are missing (deleted)", r.Seq, v.prev.Seq, v.prev.Seq+1, r.Seq-1))
	case prevHash != v.prev.Hash:
		v.fail(r.Seq, BadLink, fmt.Sprintf("record %d's prev_hash does not match record %d's hash: records reordered or an earlier record rewritten", r.Seq, v.prev.Seq))
	case r.ComputeHash() != stored:
		v.fail(r.Seq, BadHash, fmt.Sprintf("record %d's content does not match its hash: the record was edited", r.Seq))
	default:
		v.prev = Checkpoint{Seq: r.Seq, Hash: stored}
		v.rep.Checked++
		return false
	}
	return true
}

func (v *verifier) fail(seq int64, kind, problem string) Report {
	v.rep.OK, v.rep.BadSeq, v.rep.Kind, v.rep.Problem = false, seq, kind, problem
	return v.rep
}
