package auth

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/errs"
)

func TestHashSlotsSizedToMemoryAndCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	for _, c := range []struct{ mib, want int }{{0, 1}, {19, 1}, {64, 3}, {100, 5}, {1000, 7}} {
		if got := HashSlots(c.mib); got != c.want {
			t.Errorf("8 cores: HashSlots(%d) = %d, want %d", c.mib, got, c.want)
		}
	}
	runtime.GOMAXPROCS(2)
	if got := HashSlots(64); got != 1 {
		t.Errorf("2 cores: HashSlots(64) = %d, want 1", got)
	}
}

// TestHashWaitsBoundedThenBusy: with every slot taken, a verification
// waits the configured time and then fails with a 503 that says when to
// retry; it gets the slot as soon as one frees up.
func TestHashWaitsBoundedThenBusy(t *testing.T) {
	SetHashMemoryBudget(19, 50*time.Millisecond)
	t.Cleanup(func() { SetHashMemoryBudget(DefaultHashMemoryMiB, DefaultHashWait) })
	release, err := hashing.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyPassword(context.Background(), dummyHash, "x")
	r, _ := errs.Render(err)
	if !errors.Is(err, ErrHashBusy) || r.Status != 503 || r.RetryAfter == "" {
		t.Fatalf("full pool: %v %+v", err, r)
	}
	if err := BurnPasswordCheck(context.Background(), "x"); !errors.Is(err, ErrHashBusy) {
		t.Fatalf("unknown-user path must queue like a real check: %v", err)
	}
	release()
	SetHashMemoryBudget(19, time.Minute)
	release, err = hashing.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, err := VerifyPassword(context.Background(), dummyHash, "x"); got <- err }()
	release() // the waiter takes the freed slot
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestHashQueueBounded: beyond the waiters a slot could serve within the
// wait, a request is refused at once (callers check HashQueueFull before
// any other work).
func TestHashQueueBounded(t *testing.T) {
	SetHashMemoryBudget(19, 8*checkEstimate)
	t.Cleanup(func() { SetHashMemoryBudget(DefaultHashMemoryMiB, DefaultHashWait) })
	release, err := hashing.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	limit := int(queueLimit(HashSlots(19), 8*checkEstimate))
	done := make(chan error, limit)
	for i := 0; i < limit; i++ {
		go func() { _, err := VerifyPassword(context.Background(), dummyHash, "x"); done <- err }()
	}
	for hashing.waiting.Load() < int64(limit) {
		runtime.Gosched()
	}
	if !HashQueueFull() {
		t.Fatal("queue full but HashQueueFull says no")
	}
	if _, err := VerifyPassword(context.Background(), dummyHash, "x"); !errors.Is(err, ErrHashBusy) {
		t.Fatalf("one past the queue: %v, want ErrHashBusy at once", err)
	}
	release()
	for i := 0; i < limit; i++ { // each is served or times out; none hangs
		if err := <-done; err != nil && !errors.Is(err, ErrHashBusy) {
			t.Fatal(err)
		}
	}
}
