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
// "<stream> <seq>" for every reading once its Put has returned.
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
					fmt.Fprintf(out, "%s %d\n", r.StreamKey(), r.Seq)
				}
				_ = out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestSIGKILLLosesAndReordersNothing kills a writing process again and
// again. After every kill it reopens the buffer and checks that every
// reading the child saw committed is stored, that each stream's Seqs run
// without gaps in ID order, and then acknowledges (deletes) a prefix of the
// records, so deletes are checked across restarts too.
func TestSIGKILLLosesAndReordersNothing(t *testing.T) {
	dir := t.TempDir()
	rounds := 15
	if testing.Short() {
		rounds = 4
	}
	acked := map[string]uint64{}   // highest Seq per stream the child saw committed
	deleted := map[string]uint64{} // highest Seq per stream this test acknowledged
	total := 0
	for round := range rounds {
		n := runAndKill(t, dir, time.Duration(40+rand.IntN(160))*time.Millisecond, acked)
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
		for k, s := range acked {
			if last[k] < s && deleted[k] < s {
				t.Fatalf("round %d: stream %s: committed seq %d lost (stored up to %d)", round, k, s, last[k])
			}
		}
		for k, f := range first {
			if f != deleted[k]+1 {
				t.Fatalf("round %d: stream %s starts at seq %d after deleting up to %d", round, k, f, deleted[k])
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
	t.Logf("%d rounds, %d readings reported committed", rounds, total)
	if total == 0 {
		t.Fatal("the child committed nothing")
	}
}

// runAndKill runs the child for d, SIGKILLs it, and records the Seqs it
// reported; it returns how many readings were reported.
func runAndKill(t *testing.T, dir string, d time.Duration, acked map[string]uint64) int {
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
			if len(f) != 2 || perr != nil || seq == 0 {
				t.Errorf("child printed %q", line)
				continue
			}
			acked[f[0]] = max(acked[f[0]], seq)
			n++
		}
	}()
	time.Sleep(d)
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
