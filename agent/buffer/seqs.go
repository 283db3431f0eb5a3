package buffer

import (
	"encoding/binary"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// streamSeqs keeps the last Seq of every stream. A stream gets a dense
// number on first sight (bucket "streams": key -> uint32), and the counters
// live in chunks of seqChunk (bucket "seqc": chunk number -> seqChunk
// big-endian uint64s), so a commit rewrites one small value per chunk it
// touched instead of one B-tree entry per stream: with thousands of streams
// that was a third of a commit's work. Used by the committer goroutine only.
type streamSeqs struct {
	ids  map[string]uint32
	last []uint64 // committed last Seq, by stream number
	tx   *seqTx   // reused by each commit: its maps keep their memory
}

const seqChunk = 256

var (
	streamsBucket  = []byte("streams")
	seqChunkBucket = []byte("seqc")
	oldSeqBucket   = []byte("seq") // one key per stream, before chunks
)

// seqTx is one commit's view of the counters; nothing changes in memory
// until commit is called after the transaction succeeded.
type seqTx struct {
	s       *streamSeqs
	newIDs  map[string]uint32
	newKeys []string
	touched map[uint32]uint64
}

// begin starts a commit's view; the previous one is no longer used.
func (s *streamSeqs) begin() *seqTx {
	if s.tx == nil {
		s.tx = &seqTx{s: s, newIDs: map[string]uint32{}, touched: map[uint32]uint64{}}
	}
	t := s.tx
	clear(t.newIDs)
	clear(t.touched)
	t.newKeys = t.newKeys[:0]
	return t
}

func (t *seqTx) id(key string) uint32 {
	if id, ok := t.s.ids[key]; ok {
		return id
	}
	if id, ok := t.newIDs[key]; ok {
		return id
	}
	id := uint32(len(t.s.last) + len(t.newKeys))
	t.newIDs[key] = id
	t.newKeys = append(t.newKeys, key)
	return id
}

func (t *seqTx) lastOf(id uint32) uint64 {
	if v, ok := t.touched[id]; ok {
		return v
	}
	if int(id) < len(t.s.last) {
		return t.s.last[id]
	}
	return 0
}

// next assigns the stream's next Seq.
func (t *seqTx) next(key string) uint64 {
	id := t.id(key)
	seq := t.lastOf(id) + 1
	t.touched[id] = seq
	return seq
}

// write stores new stream numbers and the touched chunks.
func (t *seqTx) write(tx *bolt.Tx) error {
	streams, chunks := tx.Bucket(streamsBucket), tx.Bucket(seqChunkBucket)
	for _, k := range t.newKeys {
		if err := streams.Put([]byte(k), binary.BigEndian.AppendUint32(nil, t.newIDs[k])); err != nil {
			return err
		}
	}
	var dirty []uint32
	for id := range t.touched {
		dirty = append(dirty, id/seqChunk)
	}
	slices.Sort(dirty)
	for _, c := range slices.Compact(dirty) {
		val := make([]byte, 0, 8*seqChunk)
		for id := c * seqChunk; id < (c+1)*seqChunk; id++ {
			val = binary.BigEndian.AppendUint64(val, t.lastOf(id))
		}
		if err := chunks.Put(binary.BigEndian.AppendUint32(nil, c), val); err != nil {
			return err
		}
	}
	return nil
}

// commit publishes the changes once the transaction succeeded.
func (t *seqTx) commit() {
	for _, k := range t.newKeys {
		t.s.ids[k] = t.newIDs[k]
	}
	t.s.last = append(t.s.last, make([]uint64, len(t.newKeys))...)
	for id, v := range t.touched {
		t.s.last[id] = v
	}
}

// loadSeqs reads the counters, converting a file that kept one key per
// stream (bucket "seq").
func loadSeqs(tx *bolt.Tx) (*streamSeqs, error) {
	s := &streamSeqs{ids: map[string]uint32{}}
	streams, err := tx.CreateBucketIfNotExists(streamsBucket)
	if err != nil {
		return nil, err
	}
	chunks, err := tx.CreateBucketIfNotExists(seqChunkBucket)
	if err != nil {
		return nil, err
	}
	err = streams.ForEach(func(k, v []byte) error {
		if len(v) != 4 {
			return errCorrupt
		}
		id := binary.BigEndian.Uint32(v)
		s.ids[string(k)] = id
		if int(id) >= len(s.last) {
			s.last = append(s.last, make([]uint64, int(id)+1-len(s.last))...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = chunks.ForEach(func(k, v []byte) error {
		if len(k) != 4 || len(v) != 8*seqChunk {
			return errCorrupt
		}
		base := int(binary.BigEndian.Uint32(k)) * seqChunk
		for i := 0; i < seqChunk && base+i < len(s.last); i++ {
			s.last[base+i] = binary.BigEndian.Uint64(v[8*i:])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, migrateSeqs(tx, s)
}

func migrateSeqs(tx *bolt.Tx, s *streamSeqs) error {
	old := tx.Bucket(oldSeqBucket)
	if old == nil {
		return nil
	}
	t := s.begin()
	err := old.ForEach(func(k, v []byte) error {
		id := t.id(string(k))
		t.touched[id] = max(t.lastOf(id), getU64(v))
		return nil
	})
	if err != nil {
		return err
	}
	if err := t.write(tx); err != nil {
		return err
	}
	t.commit()
	return tx.DeleteBucket(oldSeqBucket)
}
