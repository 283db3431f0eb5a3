package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/errs"
)

func TestHashSlotsSizedToMemory(t *testing.T) {
	for _, c := range []struct{ mib, want int }{{0, 1}, {19, 1}, {64, 3}, {100, 5}} {
		if got := HashSlots(c.mib); got != c.want {
			t.Errorf("HashSlots(%d) = %d, want %d", c.mib, got, c.want)
		}
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
