package sdktest

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The memory host's counters follow the host's storage: only Increment
// makes a counter, Put makes an ordinary value, and a counter swapped to a
// decimal stays a counter.
func TestMemoryHostCounters(t *testing.T) {
	ctx := context.Background()
	h := NewMemoryHost()
	if err := h.Put(ctx, "v", []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Increment(ctx, "v", 1, 0); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("Increment of a decimal stored with Put: %v, want ErrInvalidArgument", err)
	}
	if n, err := h.Increment(ctx, "c", 41, 0); err != nil || n != 41 {
		t.Fatalf("Increment = %d, %v", n, err)
	}
	if ok, _ := h.CompareAndSwap(ctx, "c", []byte("41"), []byte("42"), 0); !ok {
		t.Fatal("swap of a counter failed")
	}
	if n, err := h.Increment(ctx, "c", 1, 0); err != nil || n != 43 {
		t.Fatalf("Increment after a swap = %d, %v; want 43", n, err)
	}
	if ok, _ := h.CompareAndSwap(ctx, "c", []byte("43"), []byte("text"), 0); !ok {
		t.Fatal("swap to text failed")
	}
	if _, err := h.Increment(ctx, "c", 1, 0); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("Increment of a counter swapped to text: %v", err)
	}
	if _, err := h.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if n, err := h.Increment(ctx, "c", 1, 0); err != nil || n != 1 {
		t.Fatalf("Increment after Delete = %d, %v", n, err)
	}
}
