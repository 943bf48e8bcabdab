package memlimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestLimitFollowsTheHeapAboveTheFloor(t *testing.T) {
	const mi = 1 << 20
	for _, c := range []struct {
		inUse, live uint64
		want        int64
	}{
		{0, 0, Floor},
		{150 * mi, 100 * mi, Floor},         // 150 + 64: below the floor
		{192 * mi, 100 * mi, Floor},         // 192 + 64: the floor exactly
		{300 * mi, 200 * mi, 364 * mi},      // an eighth of 200 is less than 64
		{900 * mi, 800 * mi, 1000 * mi},     // 900 + 800/8
		{10 << 30, 8 << 30, 10<<30 + 1<<30}, // 10 GiB + 8 GiB/8
		{math.MaxInt64, 8 << 30, math.MaxInt64},
		{math.MaxUint64, math.MaxUint64, math.MaxInt64},
	} {
		if got := Limit(c.inUse, c.live); got != c.want {
			t.Errorf("Limit(%d, %d) = %d, want %d", c.inUse, c.live, got, c.want)
		}
	}
}

// TestStartSetsTheLimitAfterEachCollection: after a collection the limit
// is Limit of the heap that collection left; stop takes it away.
func TestStartSetsTheLimitAfterEachCollection(t *testing.T) {
	heard := make(chan tuned, 64)
	stop := start(heard)
	if got := debug.SetMemoryLimit(-1); got != Floor {
		t.Fatalf("limit at start = %d, want Floor (%d)", got, Floor)
	}
	held := make([]byte, 300<<20) // live: the limit rises above the floor
	runtime.GC()
	// The collections before the one above may be heard first.
	tu := <-heard
	for tu.live < uint64(len(held)) {
		tu = <-heard
	}
	if tu.inUse < tu.live || Limit(tu.inUse, tu.live) <= Floor {
		t.Fatalf("heap in use %d, live %d: want in use ≥ live and a limit above the floor", tu.inUse, tu.live)
	}
	// Every collection since found the held bytes live and in use.
	if got, least := debug.SetMemoryLimit(-1), Limit(uint64(len(held)), uint64(len(held))); got < least {
		t.Fatalf("limit %d with %d bytes held, want at least %d", got, len(held), least)
	}
	runtime.KeepAlive(held)
	stop()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit after stop = %d, want none (%d)", got, int64(math.MaxInt64))
	}
}

func TestStartLeavesGOMEMLIMITAsGiven(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	stop, set := Start()
	defer stop()
	if set || debug.SetMemoryLimit(-1) != before {
		t.Fatalf("Start with GOMEMLIMIT set: set %v, limit %d; want false and %d unchanged", set, debug.SetMemoryLimit(-1), before)
	}
}
