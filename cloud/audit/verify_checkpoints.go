package audit

import (
	"fmt"
	"strings"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// Kinds of breakage only the checkpoints reveal: the chain is whole and
// every hash matches, but it is not the chain that was signed.
const (
	// BadCheckpointSig: a stored checkpoint's signature does not verify
	// (it was forged or edited in the database).
	BadCheckpointSig = "checkpoint_signature"
	// BadCheckpoint: the record at a checkpoint's seq is not the one
	// signed (the chain was rewritten and rehashed, or a record dropped
	// and the rest renumbered).
	BadCheckpoint = "checkpoint_mismatch"
	// BadCut: a checkpoint names a seq beyond the chain head (the tail was
	// cut and the head fixed, or the table wiped).
	BadCut = "checkpoint_beyond_head"
	// BadCheckpointsGone: the anchor kept outside the database names a
	// checkpoint the database no longer has (checkpoints deleted).
	BadCheckpointsGone = "checkpoints_missing"
)

// CheckpointReader is what VerifyWithCheckpoints reads (store.AuditRepo).
type CheckpointReader interface {
	ChainReader
	Checkpoints() ([]SignedCheckpoint, error)
}

// VerifyWithCheckpoints verifies the chain (Verify), then that it still
// holds every signed checkpoint: those stored in the database and anchor,
// the newest checkpoint as kept outside it (nil when there is none). A
// rewrite of the chain is detected from the first checkpoint whose record
// it changed; records after the newest checkpoint are protected by the
// chain alone until the next one is signed.
func VerifyWithCheckpoints(db CheckpointReader, keys SignatureVerifier, anchor *SignedCheckpoint) (Report, error) {
	rep, err := Verify(db)
	if err != nil || !rep.OK {
		return rep, err
	}
	cps, err := db.Checkpoints()
	if err != nil {
		return rep, err
	}
	if anchor != nil {
		found := false
		for _, cp := range cps {
			found = found || (cp.Seq == anchor.Seq && cp.Hash == strings.TrimSpace(anchor.Hash))
		}
		if !found {
			cps = append(cps, *anchor)
		}
		if bad := checkCheckpoints(db, keys, &rep, cps); bad || found {
			return rep, nil
		}
		return fail(rep, anchor.Seq, BadCheckpointsGone, fmt.Sprintf("the anchor outside the database holds checkpoint %d, which the database no longer has: checkpoints were deleted", anchor.Seq)), nil
	}
	checkCheckpoints(db, keys, &rep, cps)
	return rep, nil
}

// checkCheckpoints checks each checkpoint's signature and that the chain
// holds it; true when one failed (rep then says which).
func checkCheckpoints(db ChainReader, keys SignatureVerifier, rep *Report, cps []SignedCheckpoint) bool {
	for _, cp := range cps {
		if err := keys.VerifyDetached(cp.KeyID, auditrec.CheckpointMessage(cp.Seq, cp.Hash, cp.SignedAt), cp.Signature); err != nil {
			*rep = fail(*rep, cp.Seq, BadCheckpointSig, fmt.Sprintf("checkpoint %d's signature does not verify (%v): it was forged or edited", cp.Seq, err))
			return true
		}
		if cp.Seq > rep.Head.Seq {
			*rep = fail(*rep, cp.Seq, BadCut, fmt.Sprintf("checkpoint %d was signed but the chain ends at seq %d: records %d..%d were cut (or the trail wiped) and the head fixed", cp.Seq, rep.Head.Seq, rep.Head.Seq+1, cp.Seq))
			return true
		}
		if cp.Seq == 0 {
			rep.Checkpoints++
			continue
		}
		rows, err := db.RowsAfter(cp.Seq-1, 1)
		var r auditrec.Row
		var bad *malformed
		if err == nil && len(rows) == 1 {
			r, bad = parse(&rows[0])
		}
		if err != nil || len(rows) != 1 || bad != nil || r.Seq != cp.Seq || strings.TrimSpace(r.Hash) != cp.Hash {
			*rep = fail(*rep, cp.Seq, BadCheckpoint, fmt.Sprintf("record %d is not the one checkpoint %d signed: the chain was rewritten from there on and rehashed", cp.Seq, cp.Seq))
			return true
		}
		rep.Checkpoints++
		if rep.LastCheckpoint == nil || cp.Seq > rep.LastCheckpoint.Seq {
			rep.LastCheckpoint = &Checkpoint{Seq: cp.Seq, Hash: cp.Hash}
		}
	}
	return false
}

func fail(rep Report, seq int64, kind, problem string) Report {
	rep.OK, rep.BadSeq, rep.Kind, rep.Problem = false, seq, kind, problem
	return rep
}
