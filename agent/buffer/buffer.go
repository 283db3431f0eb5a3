// Package buffer is the agent's durable FIFO of readings (bbolt): the store in
// store-and-forward. Adapters write to it (it is their adapters.Sink), the
// forwarder (agent/forward) reads from it and deletes what Kafka confirmed.
//
// Writing: Put returns only after its readings are committed and fsynced.
// Concurrent Put and Ack calls are collected on a channel by one committer
// goroutine and written in one transaction (group commit; bbolt's DB.Batch
// was measured to do worse), so the forwarder's deletes ride along with the
// adapters' writes instead of costing fsyncs of their own. The committer assigns each reading its Seq, one more than the
// previous of its stream (Reading.StreamKey), and persists the counters in the
// same transaction, so Seq keeps growing across restarts. Put writes the
// assigned Seq back into the caller's slice (0 for a dropped reading).
//
// Bounds: the sum of stored records (body plus a fixed per-record overhead,
// see Stats.Bytes) never exceeds Options.MaxBytes; the file itself is larger
// (bbolt pages, free pages) and never shrinks, but stays steady at a steady
// backlog. Each stream belongs to the first Rule that matches it (by device
// or key prefix) or to the default rule, and a full buffer applies that
// rule's Policy: block (Put waits for space), drop_oldest (the rule's oldest
// records make room) or drop_newest (the new reading is dropped). Every drop
// is counted per rule and policy. Records of a rule live in their own bucket,
// so drop_oldest never deletes another rule's records; when a drop_oldest rule
// has no records left to drop, the new reading is dropped instead.
//
// Disk space: Open allocates the file's blocks for MaxBytes of records
// (space.go), or fails with ErrNoSpace, so a disk that others fill cannot
// fail a commit below the bound. Where it still happens (no fallocate, a
// file grown past its reservation) the policies apply to the full disk as
// well, nothing is lost uncounted, and a failed delete of delivered records
// is retried without the records being read again (diskfull.go).
//
// Reading (the forwarder's API):
//
//	type Record struct { ID uint64; Reading adapters.Reading; Stored time.Time } // ID: global FIFO order
//	func (b *Buffer) Read(dst []Record, after uint64, max int) ([]Record, error) // oldest first, IDs > after
//	func (b *Buffer) Ack(ids ...uint64) error                     // delete delivered records, one transaction
//	func (b *Buffer) Wait(ctx context.Context, after uint64) error // until a record with ID > after exists
//	func (b *Buffer) LastID() uint64                               // the newest record's ID (it may be gone)
//	func (b *Buffer) Stats() Stats
//
// IDs grow across restarts and are never reused. A crash loses nothing that
// Put reported committed and reorders nothing; a record acknowledged just
// before a crash may be read again only if its Ack had not committed.
//
// File layout (bbolt buckets): "meta" holds the format version, the last ID
// and the byte and record counts; "r/<rule>" holds a rule's records keyed by
// 8-byte big-endian ID; "streams" and "seqc" hold the per-stream counters
// (seqs.go). Records are versioned binary (codec.go): a version byte, seq,
// commit time, then the reading (about 40-60 bytes for a typical one).
package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/streamforge/streamforge/adapters"
	"github.com/streamforge/streamforge/pkg/pipeline"
)

// Policy is what a full buffer does with a stream's new readings; the
// policies and rules are part of the pipeline schema (pkg/pipeline).
type Policy = pipeline.Policy

// The overflow policies.
const (
	Block      = pipeline.Block
	DropOldest = pipeline.DropOldest
	DropNewest = pipeline.DropNewest
)

// Rule assigns streams to an overflow policy (pipeline.StreamRule).
type Rule = pipeline.StreamRule

func matches(r *Rule, device, key string) bool {
	if r.Device != "" && device != r.Device {
		return false
	}
	return r.KeyPrefix == "" || strings.HasPrefix(key, r.KeyPrefix)
}

// Options configure a buffer; the zero value is usable.
type Options struct {
	// MaxBytes bounds the stored records (default 256 MiB).
	MaxBytes int64
	// DefaultPolicy applies to streams no rule matches (default block).
	DefaultPolicy Policy
	// Rules are tried in order; names must be unique and not "default".
	Rules []Rule
	// MaxBatch caps the readings and acknowledged IDs of one commit
	// (default 20,000); a single larger Put or Ack is still one commit.
	MaxBatch int
	// Registerer, when set, receives the buffer's Prometheus metrics.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// NoReserve skips allocating the file's space at Open (see Open); only
	// the tests of a disk that fills under a running buffer need it.
	NoReserve bool
}

// DefaultRule names the rule of streams no configured rule matches.
const DefaultRule = pipeline.DefaultRule

// Validate checks the options and names the bad field.
func (o *Options) Validate() error {
	return pipeline.ValidateBuffer(o.MaxBytes, o.DefaultPolicy, o.Rules)
}

func (o *Options) setDefaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = 256 << 20
	}
	if o.DefaultPolicy == "" {
		o.DefaultPolicy = Block
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 20000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Record is one buffered reading; ID is its place in the global FIFO order.
type Record struct {
	ID      uint64
	Reading adapters.Reading
	// Stored is when the record was committed.
	Stored time.Time
}

// Stats describe the backlog.
type Stats struct {
	Records   uint64
	Bytes     int64         // stored bodies plus a fixed per-record overhead
	MaxBytes  int64         // the configured bound on Bytes
	OldestAge time.Duration // since the oldest record was committed; 0 when empty
	// Drops counts readings dropped by a full buffer since Open, by
	// "rule/policy".
	Drops map[string]uint64
	// Corrupt counts undecodable records Read deleted (since Open).
	Corrupt uint64
	// Unstored counts readings a full disk kept out of the buffer since
	// Open, by "rule/policy/reason" (see diskfull.go).
	Unstored map[string]uint64
	// PendingDeletes are delivered records whose delete has not committed
	// yet (a full disk): Read skips them, and the deletes are retried.
	PendingDeletes int
	// DiskFull is true while commits fail for lack of disk space.
	DiskFull bool
}

// Errors callers may branch on.
var (
	ErrClosed   = errors.New("buffer closed")
	ErrTooLarge = errors.New("readings too large")
)

var (
	metaBucket  = []byte("meta")
	rulesPrefix = "r/"
	keyNext     = []byte("next")
	keyBytes    = []byte("bytes")
	keyRecords  = []byte("records")
	keyVersion  = []byte("version")
)

// rule is a Rule resolved for use, with its bucket name.
type rule struct {
	Rule
	bucket  []byte
	lastLog time.Time // of a drop warning; guarded by Buffer.mu
}

// Buffer is the durable FIFO. All methods are safe for concurrent use.
type Buffer struct {
	db      *bolt.DB
	opts    Options
	log     *slog.Logger
	rules   []*rule // configured rules, then the default rule
	buckets [][]byte
	metrics *metrics

	reqs   chan *request
	quit   chan struct{}
	closed bool
	wg     sync.WaitGroup // Puts and Acks on their way to the committer
	done   chan struct{}  // committer exited

	mu          sync.Mutex
	committed   int64 // bytes on disk (mirror of meta "bytes")
	reserved    int64 // bytes reserved by blocking Puts not yet committed
	records     uint64
	drops       map[string]uint64
	corrupt     uint64
	unstored    map[string]uint64
	diskFull    bool
	fullLog     time.Time     // of the last disk-full warning
	freed       chan struct{} // closed and replaced when space is freed
	room        chan struct{} // closed and replaced when the committer takes submitted readings
	queuedBytes int64         // memory of submitted readings not yet taken (maxQueued)
	grown       chan struct{} // closed and replaced when records are added

	lastID atomic.Uint64

	// gone holds delivered records whose delete failed; the committer
	// retries the deletes, and Read and Wait never return them again, so a
	// failed delete cannot make the forwarder send a record twice.
	goneMu sync.RWMutex
	gone   map[uint64]struct{}

	namesMu sync.Mutex        // serialises Reads over names
	names   map[string]string // interned names of decoded records

	seqs *streamSeqs // committer goroutine only
	// vals and keys are the committer's scratch space for records and
	// their keys, kept between commits (bbolt holds them only until its
	// transaction ends) to spare the garbage collector.
	vals, keys []byte
	released   time.Time // last releaseMapped; committer only
}

// Open opens (creating if needed) the buffer file at path. Unless
// NoReserve is set, it allocates the file's disk blocks up to what MaxBytes
// of records need (see reserveSize), so that a filesystem filled by others
// cannot fail a commit below the bound; if the filesystem lacks that space,
// Open fails with ErrNoSpace and says how much is missing.
func Open(path string, opts Options) (*Buffer, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("buffer options: %w", err)
	}
	opts.setDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         2 * time.Second,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: int(min(2*opts.MaxBytes, 1<<30)),
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open buffer %s: locked by another process (is another agent running on this data_dir?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	b := &Buffer{
		db: db, opts: opts, log: opts.Logger.With("component", "buffer"),
		reqs: make(chan *request, 4096), quit: make(chan struct{}), done: make(chan struct{}),
		drops: map[string]uint64{}, unstored: map[string]uint64{}, gone: map[uint64]struct{}{}, freed: make(chan struct{}), grown: make(chan struct{}), room: make(chan struct{}),
		names: map[string]string{},
	}
	for _, r := range opts.Rules {
		b.rules = append(b.rules, &rule{Rule: r, bucket: []byte(rulesPrefix + r.Name)})
	}
	b.rules = append(b.rules, &rule{Rule: Rule{Name: DefaultRule, Policy: opts.DefaultPolicy},
		bucket: []byte(rulesPrefix + DefaultRule)})
	if err := b.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	if !opts.NoReserve {
		supported, err := reserve(path, reserveSize(opts.MaxBytes))
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open buffer %s: %w", path, err)
		}
		if !supported {
			b.log.Warn("the filesystem cannot pre-allocate the buffer file: if it fills up, blocking streams wait and drop_* streams drop",
				"path", path)
		}
	}
	if opts.Registerer != nil {
		b.metrics = newMetrics(b)
		if err := b.metrics.register(opts.Registerer); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("buffer metrics: %w", err)
		}
	}
	go b.commitLoop()
	return b, nil
}

// init creates the buckets and loads the persisted counters. Buckets of
// rules no longer configured are kept: their records are still read and
// acknowledged, and never dropped.
func (b *Buffer) init() error {
	return b.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil && getU64(v) != codecVersion {
			return fmt.Errorf("file format version %d, this agent reads %d", getU64(v), codecVersion)
		}
		if err := meta.Put(keyVersion, putU64(codecVersion)); err != nil {
			return err
		}
		if b.seqs, err = loadSeqs(tx); err != nil {
			return fmt.Errorf("stream counters: %w", err)
		}
		for _, r := range b.rules {
			if _, err := tx.CreateBucketIfNotExists(r.bucket); err != nil {
				return err
			}
		}
		err = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if strings.HasPrefix(string(name), rulesPrefix) {
				b.buckets = append(b.buckets, append([]byte(nil), name...))
			}
			return nil
		})
		b.committed = int64(getU64(meta.Get(keyBytes)))
		b.records = getU64(meta.Get(keyRecords))
		b.lastID.Store(getU64(meta.Get(keyNext)))
		return err
	})
}

// Close stops accepting readings, commits what was submitted, and closes
// the file. Blocked Puts return ErrClosed.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.quit)
	b.mu.Unlock()
	b.wg.Wait()
	close(b.reqs)
	<-b.done
	if b.metrics != nil {
		b.metrics.unregister()
	}
	return b.db.Close()
}

func (b *Buffer) ruleFor(device, key string) *rule {
	for _, ru := range b.rules[:len(b.rules)-1] {
		if matches(&ru.Rule, device, key) {
			return ru
		}
	}
	return b.rules[len(b.rules)-1]
}

func (b *Buffer) countDrops(ru *rule, policy Policy, n uint64) {
	if n == 0 {
		return
	}
	label := ru.Name + "/" + string(policy)
	b.drops[label] += n
	if b.metrics != nil {
		b.metrics.drops.WithLabelValues(ru.Name, string(policy)).Add(float64(n))
	}
	// Drops are never silent, but a full buffer must not flood the log.
	if now := time.Now(); now.Sub(ru.lastLog) >= dropLogEvery {
		b.log.Warn("buffer full: dropping readings", "stream", ru.Name, "policy", policy,
			"dropped_total", b.drops[label], "max_bytes", b.opts.MaxBytes)
		ru.lastLog = now
	}
}

const dropLogEvery = 10 * time.Second

// signal closes *ch and replaces it; callers hold b.mu.
func signal(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}

func putU64(v uint64) []byte { return appendU64(nil, v) }

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func getU64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
