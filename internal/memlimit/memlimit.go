// Package memlimit keeps a large Go heap from outgrowing what it holds.
//
// Left alone (GOGC=100), the collector lets the heap grow to twice what is
// live before it runs again, and keeps the memory it freed for a while: a
// sync that holds 300 MB of a million users' state takes 700 MB from the
// system, and SQLite's memory comes on top. Start sets a memory limit that
// follows the heap: after every collection, what the heap holds then (its
// live objects and the runtime's own overhead; not the spans it freed nor
// the dead objects not yet swept) plus an eighth of the live heap, at least
// MinHeadroom, never below Floor. A heap that stays below about half of
// Floor never meets the limit: GOGC decides as before, and small syncs and
// an idle server pay nothing. A large one is collected more often, at most
// once per MinHeadroom (or an eighth of its live heap) allocated; its state
// is mostly pointer-free slabs, which the collector marks without scanning.
// Freed spans above the limit go back to the system at once.
//
// GOMEMLIMIT, when set, is the operator's choice: Start leaves it as given.
package memlimit

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

const (
	// Floor is the lowest limit Start sets (256 MiB).
	Floor = 256 << 20
	// Headroom is the share of the live heap that may be allocated before
	// the next collection, once the heap is large: 1/Headroom.
	Headroom = 8
	// MinHeadroom is the least that may be allocated before the next
	// collection (64 MiB): the collector never runs back to back.
	MinHeadroom = 64 << 20
)

// Limit returns the memory limit for a heap that holds inUse bytes, live
// ones included, after a collection that found live bytes live.
func Limit(inUse, live uint64) int64 {
	room := max(live/Headroom, MinHeadroom)
	if inUse > math.MaxInt64-room {
		return math.MaxInt64
	}
	return max(Floor, int64(inUse+room))
}

// Start makes the memory limit follow the heap until stop is called, which
// takes the limit away again. With GOMEMLIMIT set it does nothing and says
// so (set false).
func Start() (stop func(), set bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}, false
	}
	return start(nil), true
}

// samples are what the tuner reads after a collection: what the heap holds
// is the total less what was given back to the system, the free spans kept
// and the objects allocated, with the live ones instead.
var samples = []string{"/gc/heap/live:bytes", "/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes", "/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes"}

// tuner sets the limit after each collection; heard, when not nil, hears of
// each limit set (tests).
type tuner struct {
	stopped atomic.Bool
	sample  []metrics.Sample
	heard   chan<- tuned
}

// tuned is one limit set, for the heap it was set for.
type tuned struct{ inUse, live uint64 }

// sentinel is garbage as soon as it is made: its finalizer runs after the
// next collection, sets the limit and makes the next sentinel.
type sentinel struct {
	t *tuner
	_ [16]byte // not a tiny object: those share a finalizer's fate
}

func start(heard chan<- tuned) (stop func()) {
	t := &tuner{heard: heard}
	for _, name := range samples {
		t.sample = append(t.sample, metrics.Sample{Name: name})
	}
	debug.SetMemoryLimit(Floor)
	t.arm()
	return func() {
		t.stopped.Store(true)
		debug.SetMemoryLimit(math.MaxInt64)
	}
}

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		t := s.t
		if t.stopped.Load() {
			return
		}
		metrics.Read(t.sample)
		v := func(i int) uint64 { return t.sample[i].Value.Uint64() }
		tu := tuned{inUse: v(1) - v(2) - v(3) - v(4) + v(0), live: v(0)}
		debug.SetMemoryLimit(Limit(tu.inUse, tu.live))
		if t.heard != nil {
			t.heard <- tu
		}
		t.arm()
	})
}
