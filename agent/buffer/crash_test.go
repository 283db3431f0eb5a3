package buffer

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

const crashEnv = "STREAMFORGE_BUFFER_CRASH_DIR"

// TestCrashChild is the process TestSIGKILLLosesAndReordersNothing kills: it
// puts readings from four writers as fast as it can and prints
// "put <stream> <seq>" for every reading once its Put has returned, while a
// consumer acknowledges dev0's readings oldest first, printing
// "ack <stream> <seq>" before and "del <stream> <seq>" after each Ack.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestSIGKILLLosesAndReordersNothing")
	}
	b, err := Open(filepath.Join(dir, "buffer.db"), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	wg.Go(func() { consumeDev0(b, &mu, out) })
	for w := range 4 {
		wg.Go(func() {
			tags := []string{"a", "b", "c"}
			for i := 0; ; i++ {
				batch := make([]adapters.Reading, 1+rand.IntN(50))
				for j := range batch {
					batch[j] = reading(fmt.Sprint("dev", w), tags[rand.IntN(len(tags))], float64(i))
					if j%7 == 0 {
						batch[j].Value = strings.Repeat("x", rand.IntN(100))
					}
				}
				if err := b.Put(context.Background(), batch); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				for _, r := range batch {
					fmt.Fprintf(out, "put %s %d\n", r.StreamKey(), r.Seq)
				}
				_ = out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// consumeDev0 acknowledges dev0's records in FIFO order, as the forwarder
// would, so that kills also land inside Ack transactions.
func consumeDev0(b *Buffer, mu *sync.Mutex, out *bufio.Writer) {
	var after uint64
	for {
		if err := b.Wait(context.Background(), after); err != nil {
			os.Exit(4)
		}
		recs, err := b.Read(nil, after, 500)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		var ids []uint64
		var dels []Record
		for _, r := range recs {
			if r.Reading.Device == "dev0" {
				ids = append(ids, r.ID)
				dels = append(dels, r)
			}
			after = r.ID
		}
		report(mu, out, "ack", dels)
		if err := b.Ack(ids...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		report(mu, out, "del", dels)
	}
}

func report(mu *sync.Mutex, out *bufio.Writer, what string, recs []Record) {
	mu.Lock()
	defer mu.Unlock()
	for _, r := range recs {
		fmt.Fprintf(out, "%s %s %d\n", what, r.Reading.StreamKey(), r.Reading.Seq)
	}
	_ = out.Flush()
}

// TestSIGKILLLosesAndReordersNothing kills a writing and acknowledging
// process again and again. After every kill it reopens the buffer and checks
// that every reading the child saw committed is stored unless acknowledged,
// that each stream's Seqs run without gaps in ID order from just after the
// last acknowledged one, and that the persisted counters match the records;
// then it acknowledges (deletes) a prefix of the records itself.
func TestSIGKILLLosesAndReordersNothing(t *testing.T) {
	dir := t.TempDir()
	rounds := 15
	if testing.Short() {
		rounds = 4
	}
	acked := map[string]uint64{}    // highest Seq per stream the child saw committed
	deleted := map[string]uint64{}  // highest Seq per stream this test acknowledged
	childDel := map[string]uint64{} // highest Seq per stream the child acknowledged
	childAck := map[string]uint64{} // highest Seq per stream the child asked to acknowledge
	total := 0
	for round := range rounds {
		n := runAndKill(t, dir, time.Duration(40+rand.IntN(160))*time.Millisecond,
			map[string]map[string]uint64{"put": acked, "ack": childAck, "del": childDel})
		total += n
		b, err := Open(filepath.Join(dir, "buffer.db"), Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		recs := readAll(t, b)
		first := map[string]uint64{}
		for _, r := range recs {
			if _, ok := first[r.Reading.StreamKey()]; !ok {
				first[r.Reading.StreamKey()] = r.Reading.Seq
			}
		}
		last := checkOrder(t, recs)
		// The child's last Ack may have committed without its "del" line:
		// its deletes lie between what it reported done and what it asked.
		for k, s := range acked {
			if last[k] < s && max(deleted[k], childAck[k]) < s {
				t.Fatalf("round %d: stream %s: committed seq %d lost (stored up to %d)", round, k, s, last[k])
			}
		}
		for k, f := range first {
			lo, hi := max(deleted[k], childDel[k]), max(deleted[k], childAck[k])
			if f < lo+1 || f > hi+1 {
				t.Fatalf("round %d: stream %s starts at seq %d; deleted up to %d (child asked %d)", round, k, f, lo, hi)
			}
		}
		if s := b.Stats(); s.Records != uint64(len(recs)) || s.Bytes != sumCharges(t, b) {
			t.Fatalf("round %d: stats %+v disagree with %d stored records", round, s, len(recs))
		}
		ids := make([]uint64, 0, len(recs)/2)
		for _, r := range recs[:len(recs)/2] {
			ids = append(ids, r.ID)
			deleted[r.Reading.StreamKey()] = r.Reading.Seq
		}
		if err := b.Ack(ids...); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var childAcked uint64
	for _, s := range childDel {
		childAcked += s
	}
	t.Logf("%d rounds, %d readings reported committed, dev0 acknowledged by the child up to %v", rounds, total, childDel)
	if total == 0 || childAcked == 0 {
		t.Fatal("the child committed or acknowledged nothing")
	}
}

// runAndKill runs the child for d, SIGKILLs it, and records the highest Seq
// per stream of each kind of line it printed; it returns the count of puts.
func runAndKill(t *testing.T, dir string, d time.Duration, seen map[string]map[string]uint64) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan int)
	go func() {
		n := 0
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // EOF; a torn last line has no newline and is ignored
				lines <- n
				return
			}
			f := strings.Fields(line)
			seq, perr := strconv.ParseUint(f[len(f)-1], 10, 64)
			if len(f) != 3 || perr != nil || seq == 0 || seen[f[0]] == nil {
				t.Errorf("child printed %q", line)
				continue
			}
			seen[f[0]][f[1]] = max(seen[f[0]][f[1]], seq)
			if f[0] == "put" {
				n++
			}
		}
	}()
	time.Sleep(d) // the kill comes at the chosen moment of the write load
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n := <-lines
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v before it was killed", err)
	}
	return n
}

func sumCharges(t *testing.T, b *Buffer) int64 {
	var sum int64
	for _, r := range readAll(t, b) {
		body, err := encodeBody(nil, &r.Reading)
		if err != nil {
			t.Fatal(err)
		}
		sum += int64(len(body)) + recordOverhead
	}
	return sum
}
