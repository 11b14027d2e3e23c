package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestReach(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		u       Usage
		percent int
		want    uint64
	}{
		{"nothing", Usage{}, 50, 0},
		{"small heap", Usage{Live: 4 * mib, Stacks: 1 * mib, Globals: 1 * mib, Other: 8 * mib}, 50, 15 * mib},
		{"1,000 connections", Usage{Live: 18 * mib, Stacks: 4 * mib, Globals: 0, Other: 12 * mib}, 50, 41 * mib},
		{"percent 100", Usage{Live: 10 * mib, Stacks: 2 * mib, Other: 2 * mib}, 100, 24 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reach(tt.u, tt.percent); got != tt.want {
				t.Errorf("Reach = %d MiB, want %d MiB", got/mib, tt.want/mib)
			}
		})
	}
}

// runtimeSettings returns the GC percentage and memory limit in force, as
// runtime/metrics reports them.
func runtimeSettings() (percent int64, limit uint64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64()), s[1].Value.Uint64()
}

// collect runs collections until f has followed one more, or fails the test
// after 10 s.
func collect(t *testing.T, f *Floor) {
	t.Helper()
	before := f.Collections()
	deadline := time.Now().Add(10 * time.Second)
	for f.Collections() == before {
		if time.Now().After(deadline) {
			t.Fatal("the floor followed no collection within 10 s")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// setRuntime sets the GC percentage and the memory limit for the test, and
// restores those in force before it when the test ends.
func setRuntime(t *testing.T, percent int, limit int64) {
	t.Helper()
	savedGC := debug.SetGCPercent(percent)
	savedLimit := debug.SetMemoryLimit(limit)
	t.Cleanup(func() {
		debug.SetGCPercent(savedGC)
		debug.SetMemoryLimit(savedLimit)
	})
}

// keep holds the test's live heap.
var keep [][]byte

// TestFloorModes checks both modes on the runtime itself. A small heap
// runs with the percentage off and the floor as memory limit. A heap whose
// percentage goal is above the floor runs with the percentage and the
// limit from before Start. Stop restores both settings.
func TestFloorModes(t *testing.T) {
	setRuntime(t, 100, math.MaxInt64)

	const floor = 96 << 20
	f := Start(floor, 50)
	defer f.Stop()

	// The test binary's heap is a few MiB: below the floor.
	collect(t, f)
	if !f.Floored() {
		t.Fatal("a heap of a few MiB is not below a 96 MiB floor")
	}
	if percent, limit := runtimeSettings(); percent != -1 || limit != floor {
		t.Errorf("below the floor: GC percent %d and memory limit %d, want -1 (off) and %d", percent, limit, floor)
	}

	// 160 MiB of live heap: with 50 % on top it reaches far above the floor.
	// The limit, at the floor, makes the collector run on its own now.
	for range 160 {
		keep = append(keep, make([]byte, 1<<20))
	}
	collect(t, f)
	if f.Floored() {
		t.Fatal("160 MiB of live heap is still below a 96 MiB floor")
	}
	if percent, limit := runtimeSettings(); percent != 50 || limit != math.MaxInt64 {
		t.Errorf("above the floor: GC percent %d and memory limit %d, want 50 and none (%d)", percent, limit, int64(math.MaxInt64))
	}

	// Once the heap is small again, the floor is back.
	keep = nil
	collect(t, f)
	if !f.Floored() {
		t.Error("after the heap was freed, the floor did not come back")
	}

	f.Stop()
	if percent, limit := runtimeSettings(); percent != 100 || limit != math.MaxInt64 {
		t.Errorf("after Stop: GC percent %d and memory limit %d, want those before Start, 100 and %d", percent, limit, int64(math.MaxInt64))
	}
}

// TestFloorUnderLimit checks that a memory limit set before Start caps the
// floor and is the limit again after Stop.
func TestFloorUnderLimit(t *testing.T) {
	setRuntime(t, 100, 64<<20)

	f := Start(256<<20, 50)
	if _, limit := runtimeSettings(); limit != 64<<20 {
		t.Errorf("memory limit = %d, want the 64 MiB set before Start", limit)
	}
	f.Stop()
	if _, limit := runtimeSettings(); limit != 64<<20 {
		t.Errorf("memory limit after Stop = %d, want 64 MiB", limit)
	}
}

// TestStopDuringAfter checks Stop against a collection that the floor is
// following at the same time: after must not set the floor again once
// Stop has restored the settings. The test holds f.mu while after starts,
// so after waits for the lock. Meanwhile the test does what Stop does: it
// sets stopped and restores the settings under f.mu. Then after gets the
// lock.
func TestStopDuringAfter(t *testing.T) {
	setRuntime(t, 100, math.MaxInt64)

	// A floor far above the test's heap, in the mode above it, so that
	// the next pick switches to the floor.
	const floor = 1 << 30
	f := Start(floor, 50)
	f.mu.Lock()
	f.floored = false
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(math.MaxInt64)

	done := make(chan struct{})
	go func() {
		defer close(done)
		f.after()
	}()
	// Let after pass any check it makes before it waits for f.mu.
	time.Sleep(50 * time.Millisecond)
	f.stopped.Store(true)
	f.restore()
	f.mu.Unlock()
	<-done

	if percent, limit := runtimeSettings(); percent != 100 || limit != math.MaxInt64 {
		t.Errorf("after Stop and a concurrent after: GC percent %d and memory limit %d, want those before Start, 100 and %d", percent, limit, int64(math.MaxInt64))
	}
}
